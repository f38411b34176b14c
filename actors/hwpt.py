"""The HW pagetable object: drivers/iommu/iommufd/hw_pagetable.c (v8, Linux 6.6).

A hwpt wraps an iommu_domain built on one IOAS. It is on ``ioas->hwpt_list`` (its
``hwpt_item``) once its domain has been added to the IOAS's io_pagetable. Its ``users`` holds
one reference per device on an igroup's ``device_list`` that uses it. An *auto* hwpt
(``auto_domain``) was made by attach/replace on an IOAS and is destroyed when its last device
leaves; a user hwpt comes from IOMMU_HWPT_ALLOC and lives until IOMMU_DESTROY.

Two destructors, the point of v8 10/19: ``.abort`` runs on an error unwind with the
creator still holding ``ioas->mutex`` (and asserts it); ``.destroy`` runs with no iommufd lock
held and takes ``ioas->mutex`` itself.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import attrs

from lockstep.actors import device as device_c
from lockstep.actors import io_pagetable
from lockstep.actors.ctx import (
    IommufdCtx,
    IommufdObject,
    ObjectOps,
    ObjType,
    _iommufd_object_alloc,
    iommufd_get_object,
    iommufd_object_abort_and_destroy,
    iommufd_object_deref_user,
    iommufd_object_finalize,
    iommufd_object_ops,
    iommufd_put_object,
    iommufd_ucmd_respond,
    refcount_dec,
    refcount_inc,
)
from lockstep.actors.ioas import IommufdIoas, iommufd_get_ioas
from lockstep.actors.iommu_core import IommuDomain, iommu_domain_alloc, iommu_domain_free
from lockstep.actors.kernel import ERR_PTR, IS_ERR, WARN_ON, ErrPtr
from lockstep.scheduler import lockdep_assert_held, lockdep_assert_not_held
from lockstep.scheduler.access import shared

if TYPE_CHECKING:
    from lockstep.actors.device import IommufdDevice


@shared
@attrs.define(eq=False, slots=False)
class IommufdHwPagetable:
    """``struct iommufd_hw_pagetable``."""

    obj: IommufdObject
    ioas: IommufdIoas
    domain: IommuDomain | None = None
    auto_domain: bool = False
    enforce_cache_coherency: bool = False
    msi_cookie: bool = False
    #: ``!list_empty(&hwpt->hwpt_item)``: on ``ioas->hwpt_list``
    on_hwpt_list: bool = False


async def iommufd_hw_pagetable_enforce_cc(hwpt: IommufdHwPagetable) -> int:
    """``iommufd_hw_pagetable_enforce_cc()``: ask the driver to enforce coherency; -EINVAL
    when the domain cannot (``domain->ops->enforce_cache_coherency`` absent or false). Not a
    fault point: the driver op allocates nothing, so fail_nth cannot fail it, and failing it
    on a new domain of a device that reports the capability is a driver bug the kernel
    WARNs about (``iommufd_hw_pagetable_alloc``)."""
    if hwpt.enforce_cache_coherency:
        return 0
    if hwpt.domain is not None and not hwpt.domain.can_enforce_cc:
        return -errno.EINVAL
    hwpt.enforce_cache_coherency = True
    return 0


async def iommufd_hw_pagetable_alloc(
    ictx: IommufdCtx, ioas: IommufdIoas, idev: IommufdDevice, immediate_attach: bool
) -> IommufdHwPagetable | ErrPtr:
    """``iommufd_hw_pagetable_alloc()``: a new, unpublished hwpt on ``ioas``. The caller holds
    ``ioas->mutex`` and keeps it until it finalizes or aborts the hwpt (I2)."""
    lockdep_assert_held(ioas.mutex)

    obj = await _iommufd_object_alloc(ictx, ObjType.HW_PAGETABLE)
    if IS_ERR(obj):
        return obj
    hwpt = IommufdHwPagetable(obj=obj, ioas=ioas)
    obj.container = hwpt
    # Pairs with iommufd_hw_pagetable_destroy()
    await refcount_inc(ioas.obj)

    rc = 0
    hwpt.domain = await iommu_domain_alloc(f"{obj.name}.domain", idev.dev)
    if hwpt.domain is None:
        rc = -errno.ENOMEM
    elif idev.enforce_cache_coherency:
        # It is an iommu driver bug to report IOMMU_CAP_ENFORCE_CACHE_COHERENCY but fail
        # enforce_cache_coherency on a new domain.
        rc = await iommufd_hw_pagetable_enforce_cc(hwpt)
        WARN_ON(rc != 0, lambda: f"enforce_cache_coherency failed on new {obj.name}")
    if not rc and immediate_attach:
        rc = await device_c.iommufd_hw_pagetable_attach(hwpt, idev)
    if rc:
        # out_abort:
        await iommufd_object_abort_and_destroy(ictx, obj)
        return ERR_PTR(rc)

    assert hwpt.domain is not None
    rc = await io_pagetable.iopt_table_add_domain(ioas.iopt, hwpt.domain)
    if rc:
        # out_detach:
        if immediate_attach and ictx.variant.detach_unlocked:
            await device_c.iommufd_hw_pagetable_detach_v4(idev)
        elif immediate_attach:
            await device_c.iommufd_hw_pagetable_detach(idev)
        # out_abort:
        await iommufd_object_abort_and_destroy(ictx, obj)
        return ERR_PTR(rc)
    ioas.hwpt_list.append(hwpt)
    hwpt.on_hwpt_list = True
    return hwpt


async def iommufd_hw_pagetable_abort(obj: IommufdObject) -> None:
    """``iommufd_hw_pagetable_abort()`` (v8 10/19): the ioas->mutex must be held until
    finalize is called, so undo the hwpt_list and domain here, then destroy."""
    hwpt: IommufdHwPagetable = obj.container
    # The ioas->mutex must be held until finalize is called.
    lockdep_assert_held(hwpt.ioas.mutex)
    if hwpt.on_hwpt_list:
        hwpt.ioas.hwpt_list.remove(hwpt)
        hwpt.on_hwpt_list = False
        assert hwpt.domain is not None
        await io_pagetable.iopt_table_remove_domain(hwpt.ioas.iopt, hwpt.domain)
    await iommufd_hw_pagetable_destroy(obj)


async def iommufd_hw_pagetable_destroy(obj: IommufdObject) -> None:
    """``iommufd_hw_pagetable_destroy()``: takes ioas->mutex itself if still on hwpt_list, so
    it must never run under it (I3)."""
    hwpt: IommufdHwPagetable = obj.container
    if hwpt.on_hwpt_list:
        await hwpt.ioas.mutex.lock()
        hwpt.ioas.hwpt_list.remove(hwpt)
        hwpt.on_hwpt_list = False
        await hwpt.ioas.mutex.unlock()
        assert hwpt.domain is not None
        await io_pagetable.iopt_table_remove_domain(hwpt.ioas.iopt, hwpt.domain)
    if hwpt.domain is not None:
        iommu_domain_free(hwpt.domain)
    await refcount_dec(hwpt.ioas.obj)


async def iommufd_hw_pagetable_put(ictx: IommufdCtx, hwpt: IommufdHwPagetable) -> None:
    """``iommufd_hw_pagetable_put()`` (iommufd_private.h): drop a device-list reference; an
    auto hwpt is destroyed with its last one. Never under ioas->mutex (I1)."""
    lockdep_assert_not_held(hwpt.ioas.mutex)
    if hwpt.auto_domain:
        await iommufd_object_deref_user(ictx, hwpt.obj)
    else:
        await refcount_dec(hwpt.obj)


async def iommufd_get_device(ictx: IommufdCtx, id_: int) -> IommufdDevice | ErrPtr:
    """``iommufd_get_device()``: get_object of type DEVICE."""
    obj = await iommufd_get_object(ictx, id_, ObjType.DEVICE)
    if IS_ERR(obj):
        return obj
    idev: IommufdDevice = obj.container
    return idev


async def iommufd_hwpt_alloc(
    ictx: IommufdCtx, dev_id: int, pt_id: int, flags: int = 0
) -> tuple[int, int]:
    """``iommufd_hwpt_alloc()``: the IOMMU_HWPT_ALLOC ioctl (v6+ form: ioas->mutex held until
    finalize or abort; v5 unlocked straight after the alloc, variant B3). Returns (rc,
    out_hwpt_id)."""
    if flags:
        return -errno.EOPNOTSUPP, 0

    idev = await iommufd_get_device(ictx, dev_id)
    if IS_ERR(idev):
        return idev.rc, 0

    out_hwpt_id = 0
    ioas = await iommufd_get_ioas(ictx, pt_id)
    if IS_ERR(ioas):
        rc = ioas.rc
    else:
        await ioas.mutex.lock()
        hwpt = await iommufd_hw_pagetable_alloc(ictx, ioas, idev, False)
        unlock_early = ictx.variant.alloc_unlock_early
        if unlock_early:
            await ioas.mutex.unlock()
        if IS_ERR(hwpt):
            rc = hwpt.rc
        else:
            out_hwpt_id = hwpt.obj.id
            rc = await iommufd_ucmd_respond("IOMMU_HWPT_ALLOC:copy_to_user")
            if rc:
                # out_hwpt:
                await iommufd_object_abort_and_destroy(ictx, hwpt.obj)
                out_hwpt_id = 0
            else:
                await iommufd_object_finalize(ictx, hwpt.obj)
        # out_unlock:
        if not unlock_early:
            await ioas.mutex.unlock()
        await iommufd_put_object(ioas.obj)
    # out_put_idev:
    await iommufd_put_object(idev.obj)
    return rc, out_hwpt_id


iommufd_object_ops[ObjType.HW_PAGETABLE] = ObjectOps(
    destroy=iommufd_hw_pagetable_destroy, abort=iommufd_hw_pagetable_abort
)
