"""iommufd's per-iommu_group state: ``struct iommufd_group`` (device.c, v8 02/19 and 03/19).

One `IommufdGroup` per iommu_group per context, kref'd by the devices bound in it and stored
in ``ictx->groups``. ``igroup->lock`` protects ``igroup->hwpt``, ``igroup->device_list`` and
``igroup->sw_msi_start``, and the pairing of ``hwpt->obj.users`` with the device list
(reference §3 invariant I4). It nests inside ioas->mutex and outside group->mutex and
iova_rwsem.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import attrs

from lockstep.actors.ctx import IommufdCtx
from lockstep.actors.iommu_core import Device, IommuGroup
from lockstep.actors.kernel import ERR_PTR, WARN_ON, ErrPtr, kzalloc, may_fail
from lockstep.scheduler import LockClass, Mutex, debug_check_no_locks_freed, point
from lockstep.scheduler.access import shared

if TYPE_CHECKING:
    from lockstep.actors.device import IommufdDevice
    from lockstep.actors.hwpt import IommufdHwPagetable

IGROUP_LOCK = LockClass("&igroup->lock")
PHYS_ADDR_MAX = -1


@shared
@attrs.define(eq=False, slots=False)
class IommufdGroup:
    """``struct iommufd_group``."""

    ictx: IommufdCtx
    group: IommuGroup
    lock: Mutex
    #: kref
    ref: int = 1
    hwpt: IommufdHwPagetable | None = None
    device_list: list[IommufdDevice] = attrs.field(factory=list)
    sw_msi_start: int = PHYS_ADDR_MAX
    freed: bool = False

    @property
    def name(self) -> str:
        return f"igroup{self.group.id}"


def iommufd_group_try_get(igroup: IommufdGroup | None, group: IommuGroup) -> bool:
    """``iommufd_group_try_get()``: ``kref_get_unless_zero`` under the groups xa_lock."""
    if igroup is None:
        return False
    # group ID's cannot be re-used until the group is put back which does not happen if we
    # could get an igroup pointer under the xa_lock.
    if WARN_ON(igroup.group is not group, lambda: f"{igroup.name} for another iommu_group"):
        return False
    if igroup.ref == 0:
        return False
    igroup.ref += 1
    return True


async def iommufd_group_release(igroup: IommufdGroup) -> None:
    """``iommufd_group_release()``: the last kref: leave ``ictx->groups``, free the lock."""
    WARN_ON(
        igroup.hwpt is not None or bool(igroup.device_list),
        lambda: f"{igroup.name} released in use",
    )
    # xa_cmpxchg(&igroup->ictx->groups, iommu_group_id(igroup->group), igroup, NULL)
    ictx = igroup.ictx
    async with ictx.groups_xa_lock:
        if ictx.groups.get(igroup.group.id) is igroup:
            del ictx.groups[igroup.group.id]
    # iommu_group_put(igroup->group); mutex_destroy(&igroup->lock); kfree(igroup)
    debug_check_no_locks_freed(igroup.lock)
    igroup.freed = True


async def iommufd_put_group(igroup: IommufdGroup) -> None:
    """``iommufd_put_group()``: ``kref_put(&group->ref, iommufd_group_release)``."""
    await point()
    WARN_ON(igroup.ref <= 0, lambda: f"kref_put of {igroup.name} at 0")
    igroup.ref -= 1
    if igroup.ref == 0:
        await iommufd_group_release(igroup)


async def iommufd_get_group(ictx: IommufdCtx, dev: Device) -> IommufdGroup | ErrPtr:
    """``iommufd_get_group()``: find or install the context's igroup for the device's group,
    with the ``__xa_cmpxchg`` retry loop for racing binds."""
    group = dev.group
    if group is None:
        return ERR_PTR(-errno.ENODEV)
    group_id = group.id

    async with ictx.groups_xa_lock:
        igroup = ictx.groups.get(group_id)
        if iommufd_group_try_get(igroup, group):
            assert igroup is not None
            return igroup

    if not await kzalloc("iommufd_get_group"):
        return ERR_PTR(-errno.ENOMEM)
    new_igroup = IommufdGroup(
        ictx=ictx, group=group, lock=Mutex(IGROUP_LOCK, name=f"igroup{group_id}.lock")
    )

    # We dropped the lock so igroup is invalid. NULL is a safe and likely value to assume for
    # the xa_cmpxchg algorithm.
    cur_igroup: IommufdGroup | None = None
    await ictx.groups_xa_lock.lock()
    while True:
        # __xa_cmpxchg(&ictx->groups, id, cur_igroup, new_igroup, GFP_KERNEL)
        rc = await may_fail("__xa_cmpxchg", errno.ENOMEM)
        if rc:
            await ictx.groups_xa_lock.unlock()
            await iommufd_put_group(new_igroup)
            return ERR_PTR(rc)
        igroup = ictx.groups.get(group_id)
        if igroup is cur_igroup:
            ictx.groups[group_id] = new_igroup
            # new_group was successfully installed
            await ictx.groups_xa_lock.unlock()
            return new_igroup
        # Check again if the current group is any good
        if iommufd_group_try_get(igroup, group):
            assert igroup is not None
            await ictx.groups_xa_lock.unlock()
            await iommufd_put_group(new_igroup)
            return igroup
        cur_igroup = igroup


async def iommufd_group_setup_msi(igroup: IommufdGroup, hwpt: IommufdHwPagetable) -> int:
    """``iommufd_group_setup_msi()``: install the software MSI window (``iommu_get_msi_cookie``
    allocates) once per domain; nothing to do without a SW_MSI region."""
    if igroup.sw_msi_start == PHYS_ADDR_MAX:
        return 0
    if hwpt.msi_cookie:
        return 0
    rc = await may_fail("iommu_get_msi_cookie", errno.ENOMEM)
    if rc:
        return rc
    hwpt.msi_cookie = True
    return 0
