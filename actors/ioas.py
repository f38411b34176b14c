"""The IOAS object: drivers/iommu/iommufd/ioas.c.

``ioas->mutex`` (one lock class for every IOAS) protects ``hwpt_list``, the hwpts built on
this IOAS, and is held by whoever creates a hwpt on it until that hwpt is finalized or aborted
(reference §3 invariant I2). It is outermost in iommufd's order: ioas->mutex -> igroup->lock
-> group->mutex, and ioas->mutex -> domains_rwsem -> iova_rwsem -> pages->mutex.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import attrs

from lockstep.actors import io_pagetable
from lockstep.actors.ctx import (
    IommufdCtx,
    IommufdObject,
    ObjectOps,
    ObjType,
    _iommufd_object_alloc,
    iommufd_get_object,
    iommufd_object_abort_and_destroy,
    iommufd_object_finalize,
    iommufd_object_ops,
    iommufd_put_object,
    iommufd_ucmd_respond,
)
from lockstep.actors.io_pagetable import IoPagetable
from lockstep.actors.kernel import IS_ERR, WARN_ON, ErrPtr, copy_to_user
from lockstep.scheduler import LockClass, Mutex, debug_check_no_locks_freed
from lockstep.scheduler.access import shared

if TYPE_CHECKING:
    from lockstep.actors.hwpt import IommufdHwPagetable

IOAS_MUTEX = LockClass("&ioas->mutex")


@shared
@attrs.define(eq=False, slots=False)
class IommufdIoas:
    """``struct iommufd_ioas``."""

    obj: IommufdObject
    iopt: IoPagetable
    mutex: Mutex
    #: ``ioas->hwpt_list``: hwpts on this IOAS, linked through ``hwpt->hwpt_item``
    hwpt_list: list[IommufdHwPagetable] = attrs.field(factory=list)


async def iommufd_ioas_alloc(ictx: IommufdCtx) -> IommufdIoas | ErrPtr:
    """``iommufd_ioas_alloc()``: object, io_pagetable, hwpt_list, ``mutex_init``."""
    obj = await _iommufd_object_alloc(ictx, ObjType.IOAS)
    if IS_ERR(obj):
        return obj
    ioas = IommufdIoas(
        obj=obj,
        iopt=io_pagetable.iopt_init_table(obj.name),
        mutex=Mutex(IOAS_MUTEX, name=f"{obj.name}.mutex"),
    )
    obj.container = ioas
    return ioas


async def iommufd_ioas_alloc_ioctl(ictx: IommufdCtx) -> tuple[int, int]:
    """``iommufd_ioas_alloc_ioctl()``: IOMMU_IOAS_ALLOC. Returns (rc, out_ioas_id)."""
    ioas = await iommufd_ioas_alloc(ictx)
    if IS_ERR(ioas):
        return ioas.rc, 0
    rc = await iommufd_ucmd_respond("IOMMU_IOAS_ALLOC:copy_to_user")
    if rc:
        # out_table:
        await iommufd_object_abort_and_destroy(ictx, ioas.obj)
        return rc, 0
    await iommufd_object_finalize(ictx, ioas.obj)
    return 0, ioas.obj.id


async def iommufd_ioas_destroy(obj: IommufdObject) -> None:
    """``iommufd_ioas_destroy()``: unmap everything, destroy the table and the mutex."""
    ioas: IommufdIoas = obj.container
    rc = await io_pagetable.iopt_unmap_all(ioas.iopt)
    WARN_ON(rc != 0 and rc != -errno.ENOENT, lambda: f"iopt_unmap_all({obj.name}) = {rc}")
    # iopt_destroy_table()
    await io_pagetable.iopt_remove_reserved_iova(ioas.iopt, None)
    WARN_ON(bool(ioas.iopt.domains), lambda: f"{obj.name} destroyed with domains")
    WARN_ON(bool(ioas.hwpt_list), lambda: f"{obj.name} destroyed with hwpts")
    debug_check_no_locks_freed(ioas.iopt.domains_rwsem, ioas.iopt.iova_rwsem)
    # mutex_destroy(&ioas->mutex)
    debug_check_no_locks_freed(ioas.mutex)


async def iommufd_get_ioas(ictx: IommufdCtx, id_: int) -> IommufdIoas | ErrPtr:
    """``iommufd_get_ioas()``: get_object of type IOAS."""
    obj = await iommufd_get_object(ictx, id_, ObjType.IOAS)
    if IS_ERR(obj):
        return obj
    ioas: IommufdIoas = obj.container
    return ioas


async def iommufd_ioas_map(
    ictx: IommufdCtx, ioas_id: int, length: int, iova: int | None = None
) -> tuple[int, int]:
    """``iommufd_ioas_map()``: IOMMU_IOAS_MAP of ``length`` pages, at ``iova`` if given
    (IOMMU_IOAS_MAP_FIXED_IOVA). Returns (rc, iova)."""
    ioas = await iommufd_get_ioas(ictx, ioas_id)
    if IS_ERR(ioas):
        return ioas.rc, 0
    iova = await io_pagetable.iopt_map_user_pages(ioas.iopt, length, iova)
    rc = iova if iova < 0 else 0
    if not rc:
        rc = await iommufd_ucmd_respond("IOMMU_IOAS_MAP:copy_to_user")
    # out_put:
    await iommufd_put_object(ioas.obj)
    return rc, max(iova, 0)


async def iommufd_ioas_unmap(
    ictx: IommufdCtx, ioas_id: int, iova: int | None, length: int = 1
) -> int:
    """``iommufd_ioas_unmap()``: IOMMU_IOAS_UNMAP of [iova, iova + length), or of everything
    (``iova=0, length=U64_MAX``) when ``iova`` is None; ``iopt_unmap_iova()`` refuses a
    zero length (-EINVAL)."""
    ioas = await iommufd_get_ioas(ictx, ioas_id)
    if IS_ERR(ioas):
        return ioas.rc
    if iova is None:
        rc = await io_pagetable.iopt_unmap_all(ioas.iopt)
    elif length < 1:
        rc = -errno.EINVAL
    else:
        rc = await io_pagetable.iopt_unmap_iova_range(ioas.iopt, iova, iova + length - 1)
    if not rc:
        rc = await iommufd_ucmd_respond("IOMMU_IOAS_UNMAP:copy_to_user")
    # out_put:
    await iommufd_put_object(ioas.obj)
    return rc


async def iommufd_ioas_copy(
    ictx: IommufdCtx,
    src_ioas_id: int,
    src_iova: int,
    length: int,
    dst_ioas_id: int,
    dst_iova: int | None = None,
) -> tuple[int, int]:
    """``iommufd_ioas_copy()``: IOMMU_IOAS_COPY of ``length`` pages at ``src_iova`` of one
    IOAS into another (or the same), at ``dst_iova`` if given (IOMMU_IOAS_MAP_FIXED_IOVA):
    take the source's pages (``iopt_get_pages``, the source put again at once), then map
    them in the destination. The copy shares the pages; nothing is pinned again. Returns
    (rc, dst_iova)."""
    src_ioas = await iommufd_get_ioas(ictx, src_ioas_id)
    if IS_ERR(src_ioas):
        return src_ioas.rc, 0
    elms = await io_pagetable.iopt_get_pages(src_ioas.iopt, src_iova, length)
    await iommufd_put_object(src_ioas.obj)
    if isinstance(elms, int):
        return elms, 0
    dst_ioas = await iommufd_get_ioas(ictx, dst_ioas_id)
    if IS_ERR(dst_ioas):
        # out_pages: iopt_free_pages_list()
        return dst_ioas.rc, 0
    areas = await io_pagetable.iopt_map_pages(dst_ioas.iopt, elms, dst_iova)
    if isinstance(areas, int):
        rc, iova = areas, 0
    else:
        rc, iova = await iommufd_ucmd_respond("IOMMU_IOAS_COPY:copy_to_user"), areas[0].iova
    # out_put_dst:
    await iommufd_put_object(dst_ioas.obj)
    return rc, iova


#: ``enum iommufd_option`` and ``enum iommufd_option_ops``
IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_HUGE_PAGES = 0, 1
IOMMU_OPTION_OP_SET, IOMMU_OPTION_OP_GET = 0, 1


async def iommufd_option_rlimit_mode(
    ictx: IommufdCtx, op: int, val64: int, object_id: int
) -> tuple[int, int]:
    """``iommufd_option_rlimit_mode()``: get, or set (the caller is root here,
    CAP_SYS_RESOURCE) only while the context has no object: under the objects' xa_lock,
    -EBUSY otherwise, -EINVAL for a value other than 0 or 1. Returns (rc, val64)."""
    if object_id:
        return -errno.EOPNOTSUPP, val64
    if op == IOMMU_OPTION_OP_GET:
        return 0, int(ictx.account_mode_mm)
    if op != IOMMU_OPTION_OP_SET:
        return -errno.EOPNOTSUPP, val64
    rc = 0
    async with ictx.objects_xa_lock:
        if ictx.objects:
            rc = -errno.EBUSY
        elif val64 in (0, 1):
            ictx.account_mode_mm = val64 == 1
        else:
            rc = -errno.EINVAL
    return rc, val64


async def iommufd_ioas_option(
    ictx: IommufdCtx, option_id: int, op: int, val64: int, object_id: int
) -> tuple[int, int]:
    """``iommufd_ioas_option()`` and ``iommufd_ioas_option_huge_pages()``: the IOAS
    ``object_id``'s huge-page option: get, set 0 (``iopt_disable_large_pages``), set 1
    (``iopt_enable_large_pages``), -EINVAL for another value. Returns (rc, val64)."""
    ioas = await iommufd_get_ioas(ictx, object_id)
    if IS_ERR(ioas):
        return ioas.rc, val64
    rc = -errno.EOPNOTSUPP
    if option_id == IOMMU_OPTION_HUGE_PAGES:
        if op == IOMMU_OPTION_OP_GET:
            rc, val64 = 0, int(not ioas.iopt.disable_large_pages)
        elif op == IOMMU_OPTION_OP_SET and val64 == 0:
            rc = await io_pagetable.iopt_disable_large_pages(ioas.iopt)
        elif op == IOMMU_OPTION_OP_SET and val64 == 1:
            await io_pagetable.iopt_enable_large_pages(ioas.iopt)
            rc = 0
        elif op == IOMMU_OPTION_OP_SET:
            rc = -errno.EINVAL
    await iommufd_put_object(ioas.obj)
    return rc, val64


async def iommufd_option(
    ictx: IommufdCtx, option_id: int, op: int, val64: int = 0, object_id: int = 0
) -> tuple[int, int]:
    """``iommufd_option()`` (main.c): IOMMU_OPTION; the value goes back to user space
    (-EFAULT). Returns (rc, val64)."""
    if option_id == IOMMU_OPTION_RLIMIT_MODE:
        rc, val64 = await iommufd_option_rlimit_mode(ictx, op, val64, object_id)
    elif option_id == IOMMU_OPTION_HUGE_PAGES:
        rc, val64 = await iommufd_ioas_option(ictx, option_id, op, val64, object_id)
    else:
        return -errno.EOPNOTSUPP, val64
    if rc:
        return rc, val64
    if await copy_to_user("IOMMU_OPTION:copy_to_user"):
        return -errno.EFAULT, val64
    return 0, val64


iommufd_object_ops[ObjType.IOAS] = ObjectOps(destroy=iommufd_ioas_destroy)
