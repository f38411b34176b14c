"""Devices: drivers/iommu/iommufd/device.c (v8, Linux 6.6).

Bind makes an ``iommufd_device`` object (users = 2: the xarray's and the driver's until
unbind) in the igroup of its iommu_group and claims DMA ownership of that group. Attach,
replace and detach move a device between hwpts: the igroup, under ``igroup->lock``, owns the
group's one hwpt, and each device on ``igroup->device_list`` holds a reference on it. The
iommu_group itself is attached once, for the first device of the group.

Lock order here: ioas->mutex (auto_get_domain) -> igroup->lock -> group->mutex, and
igroup->lock -> iova_rwsem. An auto hwpt that loses its last device is destroyed by the
caller after every lock is dropped: detach and replace *return* it (invariant I1).
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from lockstep.actors import hwpt as hw_pagetable_c
from lockstep.actors import io_pagetable
from lockstep.actors.ctx import (
    IommufdCtx,
    IommufdObject,
    ObjectOps,
    ObjType,
    _iommufd_object_alloc,
    iommufd_get_object,
    iommufd_lock_obj,
    iommufd_object_abort_and_destroy,
    iommufd_object_destroy_user,
    iommufd_object_finalize,
    iommufd_object_ops,
    iommufd_put_object,
    refcount_add,
    refcount_dec,
    refcount_inc,
    refcount_sub_and_test,
)
from lockstep.actors.group import (
    IommufdGroup,
    iommufd_get_group,
    iommufd_group_setup_msi,
    iommufd_put_group,
)
from lockstep.actors.ioas import IommufdIoas
from lockstep.actors.iommu_core import (
    Device,
    iommu_attach_group,
    iommu_detach_group,
    iommu_device_claim_dma_owner,
    iommu_device_release_dma_owner,
    iommu_group_has_isolated_msi,
    iommu_group_replace_domain,
)
from lockstep.actors.kernel import ERR_PTR, IS_ERR, WARN_ON, ErrPtr
from lockstep.scheduler import lockdep_assert_held, point
from lockstep.scheduler.access import shared

if TYPE_CHECKING:
    from lockstep.actors.hwpt import IommufdHwPagetable as Hwpt

AttachFn = Callable[["IommufdDevice", "Hwpt"], Awaitable["Hwpt | ErrPtr | None"]]


@shared
@attrs.define(eq=False, slots=False)
class IommufdDevice:
    """``struct iommufd_device``."""

    obj: IommufdObject
    ictx: IommufdCtx
    dev: Device
    igroup: IommufdGroup
    enforce_cache_coherency: bool = False


async def iommufd_device_destroy(obj: IommufdObject) -> None:
    """``iommufd_device_destroy()``: give back DMA ownership and the igroup reference."""
    idev: IommufdDevice = obj.container
    await iommu_device_release_dma_owner(idev.dev)
    await iommufd_put_group(idev.igroup)
    # iommufd_ctx_put(idev->ictx) for a non-mock device: the context outlives the model


async def iommufd_device_bind(ictx: IommufdCtx, dev: Device) -> IommufdDevice | ErrPtr:
    """``iommufd_device_bind()``: own the device's group for DMA and make its object."""
    # iommufd always sets IOMMU_CACHE because we offer no way for userspace to restore cache
    # coherency (device_iommu_capable(IOMMU_CAP_CACHE_COHERENCY) holds for every model device).
    igroup = await iommufd_get_group(ictx, dev)
    if IS_ERR(igroup):
        return igroup
    # For historical compat with VFIO the insecure interrupt path is allowed if the module
    # parameter is set (allow_unsafe_interrupts, off here).
    if not dev.mock and not await iommu_group_has_isolated_msi(igroup.group):
        # out_group_put:
        await iommufd_put_group(igroup)
        return ERR_PTR(-errno.EPERM)

    rc = await iommu_device_claim_dma_owner(dev, ictx)
    if rc:
        # out_group_put:
        await iommufd_put_group(igroup)
        return ERR_PTR(rc)

    obj = await _iommufd_object_alloc(ictx, ObjType.DEVICE)
    if IS_ERR(obj):
        # out_release_owner:
        await iommu_device_release_dma_owner(dev)
        # out_group_put:
        await iommufd_put_group(igroup)
        return obj
    idev = IommufdDevice(
        obj=obj,
        ictx=ictx,
        dev=dev,
        # igroup refcount moves into iommufd_device
        igroup=igroup,
        enforce_cache_coherency=dev.enforce_cache_coherency,
    )
    obj.container = idev
    # The calling driver is a user until iommufd_device_unbind()
    await refcount_inc(obj)
    # If the caller fails after this success it must call iommufd_unbind_device() which is
    # safe since we hold this refcount.
    await iommufd_object_finalize(ictx, obj)
    return idev


async def iommufd_device_unbind(idev: IommufdDevice) -> None:
    """``iommufd_device_unbind()``: the device must already be detached."""
    await iommufd_object_destroy_user(idev.ictx, idev.obj)


async def iommufd_hw_pagetable_attach(hwpt: Hwpt, idev: IommufdDevice) -> int:
    """``iommufd_hw_pagetable_attach()`` (v6+: takes igroup->lock itself)."""
    igroup = idev.igroup
    await igroup.lock.lock()

    if igroup.hwpt is not None and igroup.hwpt is not hwpt:
        rc = -errno.EINVAL
        # err_unlock:
        await igroup.lock.unlock()
        return rc

    if idev.enforce_cache_coherency:
        rc = await hw_pagetable_c.iommufd_hw_pagetable_enforce_cc(hwpt)
        if rc:
            # err_unlock:
            await igroup.lock.unlock()
            return rc

    sw_msi_start = [igroup.sw_msi_start]
    rc = await io_pagetable.iopt_table_enforce_dev_resv_regions(
        hwpt.ioas.iopt, idev.dev, sw_msi_start
    )
    igroup.sw_msi_start = sw_msi_start[0]
    if rc:
        # err_unlock:
        await igroup.lock.unlock()
        return rc

    # Only attach to the group once for the first device that is in the group. All the other
    # devices will follow this attachment.
    if not igroup.device_list:
        rc = await iommufd_group_setup_msi(igroup, hwpt)
        if not rc:
            assert hwpt.domain is not None
            rc = await iommu_attach_group(hwpt.domain, igroup.group)
        if rc:
            # err_unresv:
            await io_pagetable.iopt_remove_reserved_iova(hwpt.ioas.iopt, idev.dev)
            # err_unlock:
            await igroup.lock.unlock()
            return rc
        igroup.hwpt = hwpt
    await refcount_inc(hwpt.obj)
    igroup.device_list.append(idev)
    await igroup.lock.unlock()
    return 0


async def iommufd_hw_pagetable_detach(idev: IommufdDevice) -> Hwpt:
    """``iommufd_hw_pagetable_detach()``: leave the group's hwpt; returns it for the caller
    to put. Note ``igroup->hwpt`` is read before igroup->lock is taken, as in the kernel."""
    igroup = idev.igroup
    await point()
    # v6.15 (75f990aef38e) reads igroup->hwpt with igroup->lock held
    read_locked = idev.ictx.variant.later_detach_reads_hwpt_locked
    if read_locked:
        await igroup.lock.lock()
    hwpt = igroup.hwpt
    assert hwpt is not None, f"{idev.obj.name} detached while its group has no hwpt"

    if not read_locked:
        await igroup.lock.lock()
    igroup.device_list.remove(idev)
    if not igroup.device_list:
        assert hwpt.domain is not None
        await iommu_detach_group(hwpt.domain, igroup.group)
        igroup.hwpt = None
    await io_pagetable.iopt_remove_reserved_iova(hwpt.ioas.iopt, idev.dev)
    await igroup.lock.unlock()

    # Caller must destroy hwpt
    return hwpt


async def iommufd_hw_pagetable_detach_v4(idev: IommufdDevice) -> Hwpt:
    """``iommufd_hw_pagetable_detach()`` of v4 (variant B1): v4 moved igroup->lock into
    ``iommufd_hw_pagetable_attach()`` but left detach with ``lockdep_assert_held`` for its
    callers to lock; the hwpt_alloc ``out_detach`` unwind did not."""
    igroup = idev.igroup
    hwpt = igroup.hwpt
    assert hwpt is not None, f"{idev.obj.name} detached while its group has no hwpt"
    lockdep_assert_held(igroup.lock)
    igroup.device_list.remove(idev)
    if not igroup.device_list:
        assert hwpt.domain is not None
        await iommu_detach_group(hwpt.domain, igroup.group)
        igroup.hwpt = None
    await io_pagetable.iopt_remove_reserved_iova(hwpt.ioas.iopt, idev.dev)
    return hwpt


async def iommufd_device_do_attach(idev: IommufdDevice, hwpt: Hwpt) -> Hwpt | ErrPtr | None:
    """``iommufd_device_do_attach()``: attach; nothing for the caller to destroy."""
    rc = await iommufd_hw_pagetable_attach(hwpt, idev)
    if rc:
        return ERR_PTR(rc)
    return None


async def iommufd_device_do_replace(idev: IommufdDevice, hwpt: Hwpt) -> Hwpt | ErrPtr | None:
    """``iommufd_device_do_replace()`` (v8 14/19): move the whole group to ``hwpt``; returns
    the old hwpt, which keeps one of its device-list references for the caller to put."""
    igroup = idev.igroup
    await igroup.lock.lock()

    if igroup.hwpt is None:
        rc = -errno.EINVAL
        # err_unlock:
        await igroup.lock.unlock()
        return ERR_PTR(rc)

    if hwpt is igroup.hwpt:
        await igroup.lock.unlock()
        return None

    # Try to upgrade the domain we have
    num_devices = 0
    for cur in igroup.device_list:
        num_devices += 1
        if cur.enforce_cache_coherency:
            rc = await hw_pagetable_c.iommufd_hw_pagetable_enforce_cc(hwpt)
            if rc:
                # err_unlock:
                await igroup.lock.unlock()
                return ERR_PTR(rc)

    old_hwpt = igroup.hwpt
    rc = 0
    if hwpt.ioas is not old_hwpt.ioas:
        for cur in igroup.device_list:
            rc = await io_pagetable.iopt_table_enforce_dev_resv_regions(
                hwpt.ioas.iopt, cur.dev, None
            )
            if rc:
                break
    if not rc:
        rc = await iommufd_group_setup_msi(igroup, hwpt)
    if not rc:
        assert hwpt.domain is not None
        rc = await iommu_group_replace_domain(igroup.group, hwpt.domain)
    if rc:
        # err_unresv: (v6.6 removes even when the old hwpt shares the IOAS, whose
        # reservations the devices still need; the fix switch does it only for a new IOAS)
        if hwpt.ioas is not old_hwpt.ioas or not idev.ictx.variant.fix_err_unresv_same_ioas:
            for cur in igroup.device_list:
                await io_pagetable.iopt_remove_reserved_iova(hwpt.ioas.iopt, cur.dev)
        # err_unlock:
        await igroup.lock.unlock()
        return ERR_PTR(rc)

    if hwpt.ioas is not old_hwpt.ioas:
        for cur in igroup.device_list:
            await io_pagetable.iopt_remove_reserved_iova(old_hwpt.ioas.iopt, cur.dev)

    igroup.hwpt = hwpt

    # Move the refcounts held by the device_list to the new hwpt. Retain a reference for the
    # caller to put.
    await refcount_add(num_devices, hwpt.obj)
    if num_devices > 1:
        WARN_ON(
            await refcount_sub_and_test(num_devices - 1, old_hwpt.obj),
            lambda: f"{old_hwpt.obj.name} users hit 0 in do_replace",
        )
    await igroup.lock.unlock()

    # Caller must destroy old_hwpt
    return old_hwpt


async def iommufd_device_auto_get_domain(
    idev: IommufdDevice, ioas: IommufdIoas, pt_id: list[int], do_attach: AttachFn
) -> Hwpt | ErrPtr | None:
    """``iommufd_device_auto_get_domain()``: reuse a compatible auto hwpt of the IOAS, or
    make one, all under ioas->mutex; finalize before unlocking (v6 11/19)."""
    immediate_attach = do_attach is iommufd_device_do_attach
    destroy_hwpt: Hwpt | ErrPtr | None

    await ioas.mutex.lock()
    for hwpt in list(ioas.hwpt_list):
        if not hwpt.auto_domain:
            continue
        if not await iommufd_lock_obj(hwpt.obj):
            continue
        destroy_hwpt = await do_attach(idev, hwpt)
        if IS_ERR(destroy_hwpt):
            await iommufd_put_object(hwpt.obj)
            # -EINVAL means the domain is incompatible with the device. Other error codes
            # should propagate to userspace as failure. Success means the domain is attached.
            if destroy_hwpt.rc == -errno.EINVAL:
                continue
            # goto out_unlock
            await ioas.mutex.unlock()
            return destroy_hwpt
        pt_id[0] = hwpt.obj.id
        await iommufd_put_object(hwpt.obj)
        # goto out_unlock
        await ioas.mutex.unlock()
        return destroy_hwpt

    new_hwpt = await hw_pagetable_c.iommufd_hw_pagetable_alloc(
        idev.ictx, ioas, idev, immediate_attach
    )
    if IS_ERR(new_hwpt):
        # out_unlock:
        await ioas.mutex.unlock()
        return new_hwpt

    if not immediate_attach:
        destroy_hwpt = await do_attach(idev, new_hwpt)
        if IS_ERR(destroy_hwpt):
            # out_abort:
            await iommufd_object_abort_and_destroy(idev.ictx, new_hwpt.obj)
            # out_unlock:
            await ioas.mutex.unlock()
            return destroy_hwpt
    else:
        destroy_hwpt = None

    new_hwpt.auto_domain = True
    pt_id[0] = new_hwpt.obj.id

    if idev.ictx.variant.finalize_after_unlock:
        # before v6 11/19 (variant B4): another auto_get_domain on this IOAS can now find the
        # new hwpt on hwpt_list, unpublished
        await ioas.mutex.unlock()
        await iommufd_object_finalize(idev.ictx, new_hwpt.obj)
        return destroy_hwpt
    await iommufd_object_finalize(idev.ictx, new_hwpt.obj)
    await ioas.mutex.unlock()
    return destroy_hwpt


async def iommufd_device_change_pt(
    idev: IommufdDevice, pt_id: list[int], do_attach: AttachFn
) -> int:
    """``iommufd_device_change_pt()`` (v8 12/19): ``pt_id`` names a hwpt or an IOAS."""
    pt_obj = await iommufd_get_object(idev.ictx, pt_id[0], ObjType.ANY)
    if IS_ERR(pt_obj):
        return pt_obj.rc

    destroy_hwpt: Hwpt | ErrPtr | None
    if pt_obj.type is ObjType.HW_PAGETABLE:
        destroy_hwpt = await do_attach(idev, pt_obj.container)
    elif pt_obj.type is ObjType.IOAS:
        destroy_hwpt = await iommufd_device_auto_get_domain(
            idev, pt_obj.container, pt_id, do_attach
        )
    else:
        destroy_hwpt = ERR_PTR(-errno.EINVAL)
    if IS_ERR(destroy_hwpt):
        # out_put_pt_obj:
        await iommufd_put_object(pt_obj)
        return destroy_hwpt.rc
    await iommufd_put_object(pt_obj)

    # This destruction has to be after we unlock everything
    if destroy_hwpt is not None:
        await hw_pagetable_c.iommufd_hw_pagetable_put(idev.ictx, destroy_hwpt)
    return 0


async def iommufd_device_attach(idev: IommufdDevice, pt_id: list[int]) -> int:
    """``iommufd_device_attach()``: on success ``pt_id[0]`` is the hwpt used."""
    rc = await iommufd_device_change_pt(idev, pt_id, iommufd_device_do_attach)
    if rc:
        return rc
    # Pairs with iommufd_device_detach() - catches caller bugs attempting to destroy a device
    # with an attachment.
    await refcount_inc(idev.obj)
    return 0


async def iommufd_device_replace(idev: IommufdDevice, pt_id: list[int]) -> int:
    """``iommufd_device_replace()`` (v8 14/19): only for an attached group (-EINVAL)."""
    return await iommufd_device_change_pt(idev, pt_id, iommufd_device_do_replace)


async def iommufd_device_detach(idev: IommufdDevice) -> None:
    """``iommufd_device_detach()``: put the hwpt with no lock held, then the device ref."""
    hwpt = await iommufd_hw_pagetable_detach(idev)
    await hw_pagetable_c.iommufd_hw_pagetable_put(idev.ictx, hwpt)
    await refcount_dec(idev.obj)


iommufd_object_ops[ObjType.DEVICE] = ObjectOps(destroy=iommufd_device_destroy)
