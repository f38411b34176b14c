"""Access objects: the access part of drivers/iommu/iommufd/device.c (Linux 6.6).

An access lets a driver that does no DMA of its own (an emulated device such as an mdev,
or the selftest's) pin and read the pages behind an IOAS's IOVAs. ``access->ioas_lock``
serializes its attach, replace, detach, pin and unpin; a pin holds it across
``iova_rwsem`` (read) and ``pages->mutex``. An unmap of a pinned area cannot wait for the
driver under the IOAS's locks: it drops them, and each access's ``ops->unmap`` must unpin
before it returns (`iommufd_access_notify_unmap`). Changing the IOAS tells the driver the
same for the old one, with ``ioas_lock`` dropped around the callback; meanwhile
``access->ioas`` is NULL (no new pin; a replace gets -ENOENT) while ``access->ioas_unpin``
still names the IOAS to unpin from, and an attach sees them differ and gets -EBUSY.

Lock order: ``access->ioas_lock`` -> ``iopt->domains_rwsem`` -> ``iopt->iova_rwsem`` ->
``pages->mutex``. The callback runs with none of them held.

The IOVA alignment an access asks of its IOAS (``iopt_calculate_iova_alignment``) and the
IOMMU_READ/WRITE protection of areas (``check_area_prot``: the model maps read-write) are
not modelled; IOVAs and lengths are in pages.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from lockstep.actors import io_pagetable
from lockstep.actors.ctx import (
    IommufdCtx,
    IommufdObject,
    ObjectOps,
    ObjType,
    _iommufd_object_alloc,
    iommufd_lock_obj,
    iommufd_object_destroy_user,
    iommufd_object_finalize,
    iommufd_object_ops,
    iommufd_put_object,
    refcount_dec,
    refcount_inc,
)
from lockstep.actors.io_pagetable import IoPagetable, iopt_for_each_contig_area
from lockstep.actors.ioas import IommufdIoas, iommufd_get_ioas
from lockstep.actors.kernel import IS_ERR, WARN_ON, ErrPtr, xa_find_after
from lockstep.scheduler import LockClass, Mutex, lockdep_assert_held
from lockstep.scheduler.access import shared

#: ``mutex_init(&access->ioas_lock)`` in ``iommufd_access_create()``: one class for all
ACCESS_IOAS_LOCK = LockClass("&access->ioas_lock")
#: ``ULONG_MAX`` as a length: every IOVA
ULONG_MAX = 1 << 64


@attrs.frozen
class AccessOps:
    """``struct iommufd_access_ops``: whether the driver pins pages, and its unmap callback
    ``unmap(data, iova, length)``."""

    needs_pin_pages: bool
    unmap: Callable[[Any, int, int], Awaitable[None]] | None = None


@shared
@attrs.define(eq=False, slots=False)
class IommufdAccess:
    """``struct iommufd_access``."""

    obj: IommufdObject
    ictx: IommufdCtx
    ops: AccessOps
    data: Any
    ioas_lock: Mutex
    ioas: IommufdIoas | None = None
    #: the IOAS to unpin from: differs from ``ioas`` while a change is under way
    ioas_unpin: IommufdIoas | None = None
    iopt_access_list_id: int = 0


async def iommufd_access_change_ioas(access: IommufdAccess, new_ioas: IommufdIoas | None) -> int:
    """``iommufd_access_change_ioas()``: move the access from its IOAS to ``new_ioas``
    (None: detach). On success it holds a users reference on ``new_ioas`` and has dropped
    the one on the old IOAS."""
    iopt_access_list_id = access.iopt_access_list_id
    cur_ioas = access.ioas
    lockdep_assert_held(access.ioas_lock)
    # We are racing with a concurrent detach, bail
    if cur_ioas is not access.ioas_unpin:
        return -errno.EBUSY
    if cur_ioas is new_ioas:
        return 0
    # Set ioas to NULL to block any further iommufd_access_pin_pages().
    # iommufd_access_unpin_pages() can continue using access->ioas_unpin.
    access.ioas = None
    if new_ioas is not None:
        rc = await io_pagetable.iopt_add_access(new_ioas.iopt, access)
        if rc:
            access.ioas = cur_ioas
            return rc
        await refcount_inc(new_ioas.obj)
    if cur_ioas is not None:
        if access.ops.unmap is not None:
            await access.ioas_lock.unlock()
            await access.ops.unmap(access.data, 0, ULONG_MAX)
            await access.ioas_lock.lock()
        await io_pagetable.iopt_remove_access(cur_ioas.iopt, access, iopt_access_list_id)
        await refcount_dec(cur_ioas.obj)
    access.ioas = new_ioas
    access.ioas_unpin = new_ioas
    return 0


async def iommufd_access_change_ioas_id(access: IommufdAccess, id_: int) -> int:
    """``iommufd_access_change_ioas_id()``: look the IOAS up, change to it, put it."""
    ioas = await iommufd_get_ioas(access.ictx, id_)
    if IS_ERR(ioas):
        return ioas.rc
    rc = await iommufd_access_change_ioas(access, ioas)
    await iommufd_put_object(ioas.obj)
    return rc


async def iommufd_access_destroy_object(obj: IommufdObject) -> None:
    """``iommufd_access_destroy_object()``: detach if attached (a failure is a WARN)."""
    access: IommufdAccess = obj.container
    await access.ioas_lock.lock()
    if access.ioas is not None:
        rc = await iommufd_access_change_ioas(access, None)
        WARN_ON(rc != 0, lambda: f"iommufd_access_destroy_object({obj.name}): {rc}")
    await access.ioas_lock.unlock()
    # iommufd_ctx_put(access->ictx): the context outlives the model


async def iommufd_access_create(
    ictx: IommufdCtx, ops: AccessOps, data: Any
) -> IommufdAccess | ErrPtr:
    """``iommufd_access_create()``: the object, published at once, with a users reference
    for the calling driver until ``iommufd_access_destroy()``."""
    obj = await _iommufd_object_alloc(ictx, ObjType.ACCESS)
    if IS_ERR(obj):
        return obj
    access = IommufdAccess(
        obj=obj,
        ictx=ictx,
        ops=ops,
        data=data,
        ioas_lock=Mutex(ACCESS_IOAS_LOCK, name=f"{obj.name}.ioas_lock"),
    )
    obj.container = access
    # The calling driver is a user until iommufd_access_destroy()
    await refcount_inc(obj)
    # iommufd_ctx_get(ictx)
    await iommufd_object_finalize(ictx, obj)
    return access


async def iommufd_access_destroy(access: IommufdAccess) -> None:
    """``iommufd_access_destroy()``: the driver is done; waits for a running unmap callback
    (its ``iommufd_lock_obj``) through ``destroy_rwsem``."""
    await iommufd_object_destroy_user(access.ictx, access.obj)


async def iommufd_access_detach(access: IommufdAccess) -> None:
    """``iommufd_access_detach()``: a detached access is a WARN."""
    await access.ioas_lock.lock()
    if WARN_ON(access.ioas is None, f"iommufd_access_detach({access.obj.name}): not attached"):
        await access.ioas_lock.unlock()
        return
    rc = await iommufd_access_change_ioas(access, None)
    WARN_ON(rc != 0, lambda: f"iommufd_access_detach({access.obj.name}): {rc}")
    await access.ioas_lock.unlock()


async def iommufd_access_attach(access: IommufdAccess, ioas_id: int) -> int:
    """``iommufd_access_attach()``: an attached access is a WARN (-EINVAL)."""
    await access.ioas_lock.lock()
    if WARN_ON(access.ioas is not None, f"iommufd_access_attach({access.obj.name}): attached"):
        await access.ioas_lock.unlock()
        return -errno.EINVAL
    rc = await iommufd_access_change_ioas_id(access, ioas_id)
    await access.ioas_lock.unlock()
    return rc


async def iommufd_access_replace(access: IommufdAccess, ioas_id: int) -> int:
    """``iommufd_access_replace()``: -ENOENT while not attached."""
    await access.ioas_lock.lock()
    if access.ioas is None:
        await access.ioas_lock.unlock()
        return -errno.ENOENT
    rc = await iommufd_access_change_ioas_id(access, ioas_id)
    await access.ioas_lock.unlock()
    return rc


async def iommufd_access_notify_unmap(iopt: IoPagetable, iova: int, length: int) -> None:
    """``iommufd_access_notify_unmap()``: call every access's unmap callback for the range,
    holding each through ``iommufd_lock_obj`` (an access being destroyed is skipped) with
    the list's xa_lock dropped; the walk goes on from the next index."""
    xa_lock = iopt.access_list_xa_lock
    await xa_lock.lock()
    index = -1
    while (found := xa_find_after(iopt.access_list, index)) is not None:
        index, access = found
        if not await iommufd_lock_obj(access.obj):
            continue
        await xa_lock.unlock()
        # every v6.6 user of an access has an unmap op; the kernel calls it unchecked
        assert access.ops.unmap is not None
        await access.ops.unmap(access.data, iova, length)
        await iommufd_put_object(access.obj)
        await xa_lock.lock()
    await xa_lock.unlock()


async def iommufd_access_unpin_pages(access: IommufdAccess, iova: int, length: int) -> None:
    """``iommufd_access_unpin_pages()``: undo a pin of exactly [iova, iova + length), on
    ``access->ioas_unpin``. A zero length, a driver unpinning while detached, or a range
    not covered by areas is a WARN."""
    if WARN_ON(length == 0, "iommufd_access_unpin_pages: length 0"):
        return
    last = iova + length - 1
    await access.ioas_lock.lock()
    # The driver must be doing something wrong if it calls this before an
    # iommufd_access_attach() or after an iommufd_access_detach().
    unpin = access.ioas_unpin
    if WARN_ON(unpin is None, f"iommufd_access_unpin_pages({access.obj.name}): detached"):
        await access.ioas_lock.unlock()
        return
    assert unpin is not None
    iopt = unpin.iopt
    await iopt.iova_rwsem.down_read()
    areas, done = iopt_for_each_contig_area(iopt, iova, last)
    for area in areas:
        first, end = max(iova, area.iova), min(last, area.iova + area.length - 1)
        await io_pagetable.iopt_area_remove_access(area, first, end)
    WARN_ON(not done, f"iommufd_access_unpin_pages: [{iova}, {last}] not all mapped")
    await iopt.iova_rwsem.up_read()
    await access.ioas_lock.unlock()


async def iommufd_access_pin_pages(access: IommufdAccess, iova: int, length: int) -> int:
    """``iommufd_access_pin_pages()``: pin [iova, iova + length) of the access's IOAS.
    -EINVAL for a zero length or an area an unmap is waiting on (``prevent_access``);
    -ENOENT while detached or where no area is; what a pin did before the failure is
    undone."""
    # Driver's ops don't support pin_pages (CONFIG_IOMMUFD_TEST)
    if WARN_ON(
        not access.ops.needs_pin_pages or access.ops.unmap is None,
        "iommufd_access_pin_pages: the access cannot pin",
    ):
        return -errno.EINVAL
    if not length:
        return -errno.EINVAL
    last = iova + length - 1
    await access.ioas_lock.lock()
    ioas = access.ioas
    if ioas is None:
        await access.ioas_lock.unlock()
        return -errno.ENOENT
    iopt = ioas.iopt
    await iopt.iova_rwsem.down_read()
    areas, done = iopt_for_each_contig_area(iopt, iova, last)
    rc = 0
    pinned: list[tuple[io_pagetable.IoptArea, int, int]] = []
    for area in areas:
        first, end = max(iova, area.iova), min(last, area.iova + area.length - 1)
        if area.prevent_access:
            rc = -errno.EINVAL
            break
        rc = await io_pagetable.iopt_area_add_access(area, first, end)
        if rc:
            break
        pinned.append((area, first, end))
    else:
        if not done:
            rc = -errno.ENOENT
    if rc:
        # err_remove:
        for area, first, end in pinned:
            await io_pagetable.iopt_area_remove_access(area, first, end)
    await iopt.iova_rwsem.up_read()
    await access.ioas_lock.unlock()
    return rc


async def iommufd_access_rw(access: IommufdAccess, iova: int, length: int) -> int:
    """``iommufd_access_rw()``: read the pages of [iova, iova + length) without pinning
    them for later (``iopt_pages_rw_access``'s path for the caller's own mm: a copy from
    user memory, no lock; its slow path, ``iopt_pages_rw_slow`` under ``pages->mutex``, is
    not modelled). -EINVAL for a zero length or an area an unmap waits on; -ENOENT while
    detached or where no area is."""
    if not length:
        return -errno.EINVAL
    last = iova + length - 1
    await access.ioas_lock.lock()
    ioas = access.ioas
    if ioas is None:
        await access.ioas_lock.unlock()
        return -errno.ENOENT
    iopt = ioas.iopt
    await iopt.iova_rwsem.down_read()
    areas, done = iopt_for_each_contig_area(iopt, iova, last)
    rc = 0
    for area in areas:
        if area.prevent_access:
            rc = -errno.EINVAL
            break
    else:
        if not done:
            rc = -errno.ENOENT
    # err_out:
    await iopt.iova_rwsem.up_read()
    await access.ioas_lock.unlock()
    return rc


iommufd_object_ops[ObjType.ACCESS] = ObjectOps(destroy=iommufd_access_destroy_object)
