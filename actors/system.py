"""The emulated machine: one open ``/dev/iommu`` (an `IommufdCtx`) and the iommu core's
groups and devices. A scenario builds a fresh `System` for every execution."""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any

import attrs

from lockstep.actors.ctx import IommufdCtx
from lockstep.actors.iommu_core import Device, IommuGroup, iommu_group_add_device, iommu_group_alloc
from lockstep.actors.kernel import ERR_PTR, ErrPtr, kzalloc
from lockstep.scheduler.access import shared


@shared
@attrs.define(eq=False, slots=False)
class System:
    """The context plus every iommu group and device made so far (for the end checks)."""

    ictx: IommufdCtx = attrs.field(factory=IommufdCtx)
    groups: list[IommuGroup] = attrs.field(factory=list)
    devices: list[Device] = attrs.field(factory=list)
    #: the selftest's open access files, by number (`actors.selftest.SelftestAccess`)
    access_files: dict[int, Any] = attrs.field(factory=dict)
    #: access files made so far
    access_fds: int = 0

    def new_group(self) -> IommuGroup:
        """``iommu_group_alloc()`` with the next group id."""
        group = iommu_group_alloc(len(self.groups))
        self.groups.append(group)
        return group

    async def device_add(
        self,
        name: str,
        group: IommuGroup | None = None,
        mock: bool = True,
        props: Mapping[str, int | bool] | None = None,
    ) -> Device | ErrPtr:
        """A device appears on the bus and the iommu core probes it into ``group`` (a new
        group of its own when None): ``device_add`` -> ``iommu_probe_device``. ``mock`` is a
        selftest mock device; the others are physical devices a driver such as VFIO binds.
        ``props`` are what its iommu driver reports (`Device`'s fields: reserved regions,
        MSI windows, cache coherency)."""
        if group is None:
            if not await kzalloc("iommu_group_alloc"):
                return ERR_PTR(-errno.ENOMEM)
            group = self.new_group()
        dev = Device(name=name, mock=mock, **(props or {}))
        rc = await iommu_group_add_device(group, dev)
        if rc:
            return ERR_PTR(rc)
        self.devices.append(dev)
        return dev
