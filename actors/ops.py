"""What actors do: one user-space ioctl or driver entry each, run in the calling actor's task
as the kernel runs it in the caller's thread, and wrapped in ``operation()`` so that a lock
still held when it returns is reported.

Physical devices are driven as VFIO drives them (drivers/vfio/iommufd.c,
``vfio_iommufd_physical_*``): the driver remembers whether its device is attached, so attach
on an attached device is a replace, and detach and unbind detach only an attached device.
Every function returns an `OpResult`: the kernel's return code (0 or a negative errno) and the
ids it hands back.

A device's file is usable only once bound: ``vfio_device_fops_unl_ioctl()`` returns -EINVAL
until ``df->access_granted`` is set, ``vfio_df_ioctl_bind_iommufd()`` refuses a second bind
with -EINVAL, and closing a file that was never bound unbinds nothing
(``vfio_df_cdev_close()``). Every cdev ioctl of a device runs under its device set's
``dev_set->lock`` (`vfio_ioctl`, `actors.vfio`); a `PhysDevice` without a set stands for an
in-kernel caller that calls iommufd directly, and takes none.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from lockstep.actors import ctx, device, hwpt, ioas, selftest
from lockstep.actors.iommu_core import (
    Device,
    IommuGroup,
    iommu_device_claim_dma_owner,
    iommu_device_release_dma_owner,
)
from lockstep.actors.kernel import IS_ERR
from lockstep.actors.system import System
from lockstep.actors.vfio import (
    VfioDeviceSet,
    VfioGroup,
    vfio_device_block_group,
    vfio_device_unblock_group,
    vfio_group_fops_open,
    vfio_group_fops_release,
)
from lockstep.scheduler import operation
from lockstep.scheduler.access import shared


@attrs.frozen
class OpResult:
    """An operation's outcome: ``rc`` (0 or -errno) and its output ids by name."""

    rc: int
    out: dict[str, int] = attrs.field(factory=dict)


@shared
@attrs.define(eq=False, slots=False)
class PhysDevice:
    """A driver's view of one device (``struct vfio_device``'s iommufd fields), and its
    VFIO device set (None: an in-kernel caller that calls iommufd directly)."""

    dev: Device
    idev: device.IommufdDevice | None = None
    attached: bool = False
    dev_set: VfioDeviceSet | None = None
    #: its VFIO group (the legacy path), and how many of its files that path has open
    #: (``device->open_count`` from the group's opens); a device it opened is not bound
    #: through its cdev
    vfio_group: VfioGroup | None = None
    group_opens: int = 0


async def ioas_alloc(system: System) -> OpResult:
    """IOMMU_IOAS_ALLOC."""
    with operation("IOMMU_IOAS_ALLOC"):
        rc, ioas_id = await ioas.iommufd_ioas_alloc_ioctl(system.ictx)
    return OpResult(rc, {"ioas_id": ioas_id} if not rc else {})


async def ioas_map(
    system: System, ioas_id: int, pages: int = 1, iova: int | None = None
) -> OpResult:
    """IOMMU_IOAS_MAP of ``pages`` pages at an IOVA the kernel picks, or at ``iova``
    (IOMMU_IOAS_MAP_FIXED_IOVA)."""
    with operation("IOMMU_IOAS_MAP"):
        rc, iova = await ioas.iommufd_ioas_map(system.ictx, ioas_id, pages, iova)
    return OpResult(rc, {"iova": iova} if not rc else {})


async def ioas_unmap(
    system: System, ioas_id: int, iova: int | None = None, length: int = 1
) -> OpResult:
    """IOMMU_IOAS_UNMAP of ``length`` pages from ``iova``, or of everything."""
    with operation("IOMMU_IOAS_UNMAP"):
        rc = await ioas.iommufd_ioas_unmap(system.ictx, ioas_id, iova, length)
    return OpResult(rc)


async def ioas_copy(
    system: System,
    src_ioas_id: int,
    src_iova: int,
    length: int,
    dst_ioas_id: int,
    dst_iova: int | None = None,
) -> OpResult:
    """IOMMU_IOAS_COPY (at ``dst_iova`` with IOMMU_IOAS_MAP_FIXED_IOVA): output dst_iova."""
    with operation("IOMMU_IOAS_COPY"):
        rc, iova = await ioas.iommufd_ioas_copy(
            system.ictx, src_ioas_id, src_iova, length, dst_ioas_id, dst_iova
        )
    return OpResult(rc, {"iova": iova} if not rc else {})


async def option(
    system: System, option_id: int, op: int, val64: int = 0, object_id: int = 0
) -> OpResult:
    """IOMMU_OPTION (``ioas.IOMMU_OPTION_*``): output val64."""
    with operation("IOMMU_OPTION"):
        rc, val64 = await ioas.iommufd_option(system.ictx, option_id, op, val64, object_id)
    return OpResult(rc, {"val64": val64} if not rc else {})


async def hwpt_alloc(system: System, dev_id: int, pt_id: int, flags: int = 0) -> OpResult:
    """IOMMU_HWPT_ALLOC."""
    with operation("IOMMU_HWPT_ALLOC"):
        rc, hwpt_id = await hwpt.iommufd_hwpt_alloc(system.ictx, dev_id, pt_id, flags)
    return OpResult(rc, {"hwpt_id": hwpt_id} if not rc else {})


async def destroy(system: System, obj_id: int) -> OpResult:
    """IOMMU_DESTROY."""
    with operation("IOMMU_DESTROY"):
        rc = await ctx.iommufd_destroy(system.ictx, obj_id)
    return OpResult(rc)


async def mock_domain(system: System, pt_id: int) -> OpResult:
    """IOMMU_TEST_OP_MOCK_DOMAIN: outputs stdev_id, hwpt_id, idev_id."""
    with operation("IOMMU_TEST_OP_MOCK_DOMAIN"):
        res = await selftest.iommufd_test_mock_domain(system, pt_id)
    if res.rc:
        return OpResult(res.rc)
    out = {"stdev_id": res.out_stdev_id, "hwpt_id": res.out_hwpt_id, "idev_id": res.out_idev_id}
    return OpResult(0, out)


async def mock_domain_replace(system: System, stdev_id: int, pt_id: int) -> OpResult:
    """IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: output hwpt_id (the pt actually used)."""
    with operation("IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE"):
        rc, pt = await selftest.iommufd_test_mock_domain_replace(system.ictx, stdev_id, pt_id)
    return OpResult(rc, {"hwpt_id": pt} if not rc else {})


async def access_create(system: System, ioas_id: int) -> OpResult:
    """IOMMU_TEST_OP_CREATE_ACCESS: an access attached to ``ioas_id``; output access_fd."""
    with operation("IOMMU_TEST_OP_CREATE_ACCESS"):
        rc, fd = await selftest.iommufd_test_create_access(system, ioas_id)
    return OpResult(rc, {"access_fd": fd} if not rc else {})


async def access_replace(system: System, fd: int, ioas_id: int) -> OpResult:
    """IOMMU_TEST_OP_ACCESS_REPLACE_IOAS."""
    with operation("IOMMU_TEST_OP_ACCESS_REPLACE_IOAS"):
        rc = await selftest.iommufd_test_access_replace_ioas(system, fd, ioas_id)
    return OpResult(rc)


async def access_pin(system: System, fd: int, iova: int, length: int) -> OpResult:
    """IOMMU_TEST_OP_ACCESS_PAGES: pin ``length`` pages at ``iova``; output item_id."""
    with operation("IOMMU_TEST_OP_ACCESS_PAGES"):
        rc, item = await selftest.iommufd_test_access_pages(system, fd, iova, length)
    return OpResult(rc, {"item_id": item} if not rc else {})


async def access_unpin(system: System, fd: int, item_id: int) -> OpResult:
    """IOMMU_TEST_OP_DESTROY_ACCESS_PAGES."""
    with operation("IOMMU_TEST_OP_DESTROY_ACCESS_PAGES"):
        rc = await selftest.iommufd_test_access_item_destroy(system, fd, item_id)
    return OpResult(rc)


async def access_rw(system: System, fd: int, iova: int, length: int) -> OpResult:
    """IOMMU_TEST_OP_ACCESS_RW of ``length`` pages at ``iova``."""
    with operation("IOMMU_TEST_OP_ACCESS_RW"):
        rc = await selftest.iommufd_test_access_rw(system, fd, iova, length)
    return OpResult(rc)


async def access_close(system: System, fd: int) -> OpResult:
    """Closing an access file (its release, ``iommufd_test_staccess_release``, once no op
    holds it): -EBADF if not open."""
    with operation("iommufd_test_staccess_release"):
        rc = await selftest.iommufd_test_access_close(system, fd)
    return OpResult(rc)


@asynccontextmanager
async def vfio_ioctl(pdev: PhysDevice, ioctl: str) -> AsyncIterator[None]:
    """The cdev ``ioctl`` on ``pdev``, under ``device->dev_set->lock`` as
    drivers/vfio/device_cdev.c takes it (see `actors.vfio`); a direct caller takes none."""
    if pdev.dev_set is None:
        yield
        return
    with operation(ioctl):
        async with pdev.dev_set.lock:
            yield


async def device_bind(system: System, pdev: PhysDevice) -> OpResult:
    """VFIO_DEVICE_BIND_IOMMUFD: ``vfio_df_ioctl_bind_iommufd()`` counts the device in its
    group (``vfio_device_block_group``, -EBUSY while the group's file is open), then, under
    ``dev_set->lock``, ``vfio_df_open()`` -> ``vfio_iommufd_physical_bind()`` ->
    ``iommufd_device_bind()``; a failure undoes the count after the unlock. Output
    idev_id."""
    if pdev.dev_set is None:
        return await _bind(system, pdev)
    group = pdev.vfio_group
    with operation("VFIO_DEVICE_BIND_IOMMUFD"):
        if group is not None:
            rc = await vfio_device_block_group(group)
            if rc:
                return OpResult(rc)
        async with pdev.dev_set.lock:
            result = await _bind(system, pdev)
        if result.rc and group is not None:
            await vfio_device_unblock_group(group)
    return result


async def _bind(system: System, pdev: PhysDevice) -> OpResult:
    """``vfio_df_open()`` of a cdev: one device file is bound once (-EINVAL)."""
    if pdev.idev is not None:
        return OpResult(-errno.EINVAL)
    with operation("iommufd_device_bind"):
        idev = await device.iommufd_device_bind(system.ictx, pdev.dev)
    if IS_ERR(idev):
        return OpResult(idev.rc)
    pdev.idev = idev
    return OpResult(0, {"idev_id": idev.obj.id})


async def device_attach(pdev: PhysDevice, pt_id: int) -> OpResult:
    """VFIO_DEVICE_ATTACH_IOMMUFD_PT: ``vfio_df_ioctl_attach_pt()`` ->
    ``vfio_iommufd_physical_attach_ioas()``: replace if attached, else attach."""
    if pdev.idev is None or pdev.group_opens:
        return OpResult(-errno.EINVAL)
    pt = [pt_id]
    async with vfio_ioctl(pdev, "VFIO_DEVICE_ATTACH_IOMMUFD_PT"):
        if pdev.attached:
            with operation("iommufd_device_replace"):
                rc = await device.iommufd_device_replace(pdev.idev, pt)
        else:
            with operation("iommufd_device_attach"):
                rc = await device.iommufd_device_attach(pdev.idev, pt)
        if rc:
            return OpResult(rc)
        pdev.attached = True
    return OpResult(0, {"hwpt_id": pt[0]})


async def device_replace(pdev: PhysDevice, pt_id: int) -> OpResult:
    """``iommufd_device_replace()`` called directly by an in-kernel user. Its kernel-doc
    says it "can only be called if iommufd_device_attach() has already succeeded", and
    VFIO calls it only for an attached device (``vfio_iommufd_physical_attach_ioas``): a
    caller that has not attached gets -EINVAL here rather than a path no caller takes."""
    if pdev.idev is None or not pdev.attached:
        return OpResult(-errno.EINVAL)
    pt = [pt_id]
    with operation("iommufd_device_replace"):
        rc = await device.iommufd_device_replace(pdev.idev, pt)
    return OpResult(rc, {"hwpt_id": pt[0]} if not rc else {})


async def device_detach(pdev: PhysDevice) -> OpResult:
    """VFIO_DEVICE_DETACH_IOMMUFD_PT: ``vfio_df_ioctl_detach_pt()`` ->
    ``vfio_iommufd_physical_detach_ioas()``: detach only an attached device."""
    if pdev.idev is None or pdev.group_opens:
        return OpResult(-errno.EINVAL)
    async with vfio_ioctl(pdev, "VFIO_DEVICE_DETACH_IOMMUFD_PT"):
        if pdev.attached:
            with operation("iommufd_device_detach"):
                await device.iommufd_device_detach(pdev.idev)
            pdev.attached = False
    return OpResult(0)


async def device_unbind(pdev: PhysDevice) -> OpResult:
    """Closing the device file: ``vfio_device_fops_release()`` -> ``vfio_df_unbind_iommufd()``:
    under ``dev_set->lock``, ``vfio_df_close()`` -> ``vfio_iommufd_physical_unbind()``
    (detach if attached, then unbind); then, unlocked, ``vfio_device_unblock_group()``."""
    if pdev.idev is None or pdev.group_opens:
        return OpResult(0)
    if pdev.dev_set is None:
        await vfio_iommufd_physical_unbind(pdev)
        return OpResult(0)
    with operation("vfio_device_fops_release"):
        async with pdev.dev_set.lock:
            await vfio_iommufd_physical_unbind(pdev)
        if pdev.vfio_group is not None:
            await vfio_device_unblock_group(pdev.vfio_group)
    return OpResult(0)


async def vfio_iommufd_physical_unbind(pdev: PhysDevice) -> None:
    """``vfio_iommufd_physical_unbind()``, the last close of the device on either path:
    detach if attached, then unbind."""
    assert pdev.idev is not None
    with operation("iommufd_device_unbind"):
        if pdev.attached:
            await device.iommufd_device_detach(pdev.idev)
            pdev.attached = False
        await device.iommufd_device_unbind(pdev.idev)
    pdev.idev = None


async def close(system: System, pdevs: list[PhysDevice]) -> OpResult:
    """The process closes its files, as a selftest fixture's teardown does: the selftest's
    access files, each bound device file (`device_unbind`), then the VFIO group files it
    opened, then the iommufd. An access holds a reference to the iommufd, and a bound
    device holds a reference to the iommufd file (``iommufd_device_bind()``'s
    ``iommufd_ctx_get()``, except for a selftest mock device), and so does a group's file
    once it is set to an iommufd, so ``iommufd_fops_release()`` runs last."""
    for fd in sorted(system.access_files):
        await access_close(system, fd)
    for pdev in pdevs:
        while pdev.group_opens:
            await group_close_device(pdev)
        await device_unbind(pdev)
    groups = {id(p.vfio_group): p.vfio_group for p in pdevs if p.vfio_group is not None}
    for group in groups.values():
        if group.opened_file:
            with operation("vfio_group_fops_release"):
                await vfio_group_fops_release(group)
    with operation("iommufd_fops_release"):
        await ctx.iommufd_fops_release(system.ictx)
    return OpResult(0)


async def group_open_device(system: System, pdev: PhysDevice, ioas_id: int) -> OpResult:
    """The legacy path: the process opens the group's file unless it has
    (``vfio_group_fops_open``: -EBUSY while a device of the group is bound through its
    cdev), then VFIO_GROUP_GET_DEVICE_FD: ``vfio_df_group_open()`` takes
    ``group->group_lock``, then ``dev_set->lock``; the first open (``vfio_df_open``) binds
    (``vfio_iommufd_physical_bind``) and attaches the device to the compat IOAS
    (``vfio_iommufd_compat_attach_ioas``; ``ioas_id`` stands for what IOMMU_VFIO_IOAS set);
    a later open only counts. A failed attach is unwound by unbinding."""
    group, dev_set = pdev.vfio_group, pdev.dev_set
    assert group is not None and dev_set is not None
    if not group.opened_file:
        with operation("vfio_group_fops_open"):
            rc = await vfio_group_fops_open(group)
        if rc:
            return OpResult(rc)
    with operation("VFIO_GROUP_GET_DEVICE_FD"):
        async with group.group_lock, dev_set.lock:
            pdev.group_opens += 1
            if pdev.idev is not None:
                return OpResult(0)
            with operation("iommufd_device_bind"):
                idev = await device.iommufd_device_bind(system.ictx, pdev.dev)
            if IS_ERR(idev):
                pdev.group_opens -= 1
                return OpResult(idev.rc)
            pt = [ioas_id]
            with operation("iommufd_device_attach"):
                rc = await device.iommufd_device_attach(idev, pt)
            if rc:
                with operation("iommufd_device_unbind"):
                    await device.iommufd_device_unbind(idev)
                pdev.group_opens -= 1
                return OpResult(rc)
            pdev.idev, pdev.attached = idev, True
    return OpResult(0, {"idev_id": idev.obj.id})


async def group_close_device(pdev: PhysDevice) -> OpResult:
    """Closing a device file the group opened: ``vfio_df_group_close()``, under
    ``group->group_lock`` then ``dev_set->lock``; the last close detaches and unbinds
    (``vfio_iommufd_physical_unbind``)."""
    assert pdev.vfio_group is not None and pdev.dev_set is not None
    if not pdev.group_opens:
        return OpResult(-errno.EBADF)
    with operation("vfio_df_group_close"):
        async with pdev.vfio_group.group_lock, pdev.dev_set.lock:
            pdev.group_opens -= 1
            if not pdev.group_opens and pdev.idev is not None:
                await vfio_iommufd_physical_unbind(pdev)
    return OpResult(0)


async def group_claim_dma_owner(dev: Device, owner: Any) -> OpResult:
    """Another DMA owner (a kernel driver, VFIO's group path) claims the device's group:
    ``iommu_device_claim_dma_owner()``; -EPERM while iommufd owns it."""
    with operation("iommu_device_claim_dma_owner"):
        rc = await iommu_device_claim_dma_owner(dev, owner)
    return OpResult(rc)


async def group_release_dma_owner(dev: Device) -> OpResult:
    """``iommu_device_release_dma_owner()`` by that other owner."""
    with operation("iommu_device_release_dma_owner"):
        await iommu_device_release_dma_owner(dev)
    return OpResult(0)


async def group_add_device(system: System, name: str, group: IommuGroup) -> Device | None:
    """A second device joins an existing iommu group (hotplug): ``iommu_group_add_device``."""
    with operation("iommu_group_add_device"):
        dev = await system.device_add(name, group, mock=False)
    return None if IS_ERR(dev) else dev
