"""The selftest paths: drivers/iommu/iommufd/selftest.c (IOMMU_TEST_OP_MOCK_DOMAIN and
IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE as of v8 17/19, and the access objects, Linux 6.6).

MOCK_DOMAIN creates a mock device in a new iommu group, binds it, attaches it to a pt_id and
wraps it in a SELFTEST object (the ``stdev_id``); destroying that object detaches and unbinds.
MOCK_DOMAIN_REPLACE holds the SELFTEST object through ``iommufd_get_object`` (trylock of its
destroy_rwsem) across the whole replace, which may destroy the old auto hwpt: the
SELFTEST -> HW_PAGETABLE destroy_rwsem edge that needs one lock class per type (B5).

IOMMU_TEST_OP_CREATE_ACCESS makes an access object (`actors.access`) attached to an IOAS and
hands back a file for it; ACCESS_PAGES pins a range (an item), DESTROY_ACCESS_PAGES unpins
one, ACCESS_REPLACE_IOAS moves the access, ACCESS_RW reads; closing the file unpins
everything and destroys the access. Its unmap callback (`iommufd_test_access_unmap`)
unpins every item the range touches, under ``staccess->lock``, which ACCESS_PAGES also
holds across the pin: "the core code can do multiple unmaps instantaneously after
iommufd_access_pin_pages() and *all* the unmaps must not return until the range is
unpinned".
"""

from __future__ import annotations

import errno

import attrs

from lockstep.actors import device as device_c
from lockstep.actors.access import (
    AccessOps,
    IommufdAccess,
    iommufd_access_attach,
    iommufd_access_create,
    iommufd_access_destroy,
    iommufd_access_pin_pages,
    iommufd_access_replace,
    iommufd_access_rw,
    iommufd_access_unpin_pages,
)
from lockstep.actors.ctx import (
    IommufdCtx,
    IommufdObject,
    ObjectOps,
    ObjType,
    _iommufd_object_alloc,
    iommufd_get_object,
    iommufd_object_abort,
    iommufd_object_finalize,
    iommufd_object_ops,
    iommufd_put_object,
    iommufd_ucmd_respond,
)
from lockstep.actors.iommu_core import Device, iommu_group_remove_device
from lockstep.actors.kernel import IS_ERR, kzalloc
from lockstep.actors.system import System
from lockstep.scheduler import LockClass, Mutex
from lockstep.scheduler.access import shared

#: ``mutex_init(&staccess->lock)`` in ``iommufd_test_alloc_access()``: one class for all
STACCESS_LOCK = LockClass("&staccess->lock")


@attrs.define(frozen=True)
class MockDomainResult:
    """The reply of IOMMU_TEST_OP_MOCK_DOMAIN."""

    rc: int
    out_stdev_id: int = 0
    out_hwpt_id: int = 0
    out_idev_id: int = 0


@shared
@attrs.define(eq=False, slots=False)
class SelftestObj:
    """``struct selftest_obj`` of ``TYPE_IDEV``."""

    obj: IommufdObject
    #: the machine the mock device lives in (the kernel's is global)
    system: System
    idev: device_c.IommufdDevice | None = None
    mock_dev: Device | None = None


async def mock_dev_create(system: System) -> Device | int:
    """``mock_dev_create()``: kzalloc, then ``device_add`` probes it into a new group."""
    if not await kzalloc("mock_dev_create"):
        return -errno.ENOMEM
    dev = await system.device_add(f"mock{len(system.devices)}")
    if IS_ERR(dev):
        # err_put:
        return dev.rc
    return dev


async def mock_dev_destroy(system: System, dev: Device) -> None:
    """``mock_dev_destroy()``: ``device_unregister`` -> ``iommu_release_device``."""
    await iommu_group_remove_device(dev)
    system.devices.remove(dev)


async def iommufd_test_mock_domain(system: System, pt_id: int) -> MockDomainResult:
    """``iommufd_test_mock_domain()``: new mock device, bind, attach to ``pt_id``."""
    ictx = system.ictx
    obj = await _iommufd_object_alloc(ictx, ObjType.SELFTEST)
    if IS_ERR(obj):
        return MockDomainResult(obj.rc)
    sobj = SelftestObj(obj=obj, system=system)
    obj.container = sobj

    mock_dev = await mock_dev_create(system)
    if isinstance(mock_dev, int):
        # out_sobj:
        await iommufd_object_abort(ictx, obj)
        return MockDomainResult(mock_dev)
    sobj.mock_dev = mock_dev

    idev = await device_c.iommufd_device_bind(ictx, mock_dev)
    if IS_ERR(idev):
        # out_mdev:
        await mock_dev_destroy(system, mock_dev)
        # out_sobj:
        await iommufd_object_abort(ictx, obj)
        return MockDomainResult(idev.rc)
    sobj.idev = idev

    pt = [pt_id]
    rc = await device_c.iommufd_device_attach(idev, pt)
    if rc:
        # out_unbind:
        await device_c.iommufd_device_unbind(idev)
        # out_mdev:
        await mock_dev_destroy(system, mock_dev)
        # out_sobj:
        await iommufd_object_abort(ictx, obj)
        return MockDomainResult(rc)

    # Userspace must destroy the device_id to destroy the object
    await iommufd_object_finalize(ictx, obj)
    rc = await iommufd_ucmd_respond("IOMMU_TEST_OP_MOCK_DOMAIN:copy_to_user")
    return MockDomainResult(rc, obj.id, pt[0], idev.obj.id)


async def iommufd_test_mock_domain_replace(
    ictx: IommufdCtx, device_id: int, pt_id: int
) -> tuple[int, int]:
    """``iommufd_test_mock_domain_replace()``: replace while holding the SELFTEST object, so
    the destroy_rwsem keeps it from racing with detach. Returns (rc, pt_id used)."""
    dev_obj = await iommufd_get_object(ictx, device_id, ObjType.SELFTEST)
    if IS_ERR(dev_obj):
        return dev_obj.rc, 0
    sobj: SelftestObj = dev_obj.container
    pt = [pt_id]
    if sobj.idev is None:
        rc = -errno.EINVAL
    else:
        rc = await device_c.iommufd_device_replace(sobj.idev, pt)
        if not rc:
            rc = await iommufd_ucmd_respond("IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE:copy_to_user")
    # out_dev_obj:
    await iommufd_put_object(dev_obj)
    return rc, pt[0] if not rc else 0


async def iommufd_selftest_destroy(obj: IommufdObject) -> None:
    """``iommufd_selftest_destroy()``: detach, unbind, remove the mock device."""
    sobj: SelftestObj = obj.container
    assert sobj.idev is not None and sobj.mock_dev is not None
    await device_c.iommufd_device_detach(sobj.idev)
    await device_c.iommufd_device_unbind(sobj.idev)
    await mock_dev_destroy(sobj.system, sobj.mock_dev)


iommufd_object_ops[ObjType.SELFTEST] = ObjectOps(destroy=iommufd_selftest_destroy)


@shared
@attrs.define(eq=False, slots=False)
class SelftestAccessItem:
    """``struct selftest_access_item``: one pinned range, and its id for user space."""

    iova: int
    length: int
    id: int


@shared
@attrs.define(eq=False, slots=False)
class SelftestAccess:
    """``struct selftest_access``: the access behind one of the selftest's access files."""

    lock: Mutex
    access: IommufdAccess | None = None
    items: list[SelftestAccessItem] = attrs.field(factory=list)
    next_id: int = 0
    #: references to its file: the process's descriptor and each op that holds it
    #: (``fget``); the file is released when the last goes
    file_refs: int = 1


async def iommufd_test_access_unmap(data: SelftestAccess, iova: int, length: int) -> None:
    """``iommufd_test_access_unmap()``: the access's unmap callback: unpin every item that
    [iova, iova + length) touches."""
    staccess = data
    iova_last = iova + length - 1
    await staccess.lock.lock()
    for item in list(staccess.items):
        if iova > item.iova + item.length - 1 or iova_last < item.iova:
            continue
        assert staccess.access is not None
        await iommufd_access_unpin_pages(staccess.access, item.iova, item.length)
        staccess.items.remove(item)
    await staccess.lock.unlock()


#: ``selftest_access_ops_pin``: MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
SELFTEST_ACCESS_OPS_PIN = AccessOps(needs_pin_pages=True, unmap=iommufd_test_access_unmap)


def iommufd_access_get(system: System, fd: int) -> SelftestAccess | None:
    """``iommufd_access_get()``: ``fget`` of the access file ``fd`` (None: -EBADFD); the op
    holds the file until `fput`, so a close meanwhile does not release it. The model
    numbers access files from `FIRST_ACCESS_FD` up and never reuses a number."""
    staccess: SelftestAccess | None = system.access_files.get(fd)
    if staccess is not None:
        staccess.file_refs += 1
    return staccess


async def fput(staccess: SelftestAccess) -> None:
    """``fput()``: drop a reference to the access file; the last one releases it
    (``iommufd_test_staccess_release``), in whichever task drops it."""
    staccess.file_refs -= 1
    if not staccess.file_refs:
        await iommufd_test_staccess_release(staccess)


#: the first number the model gives an access file
FIRST_ACCESS_FD = 100


async def iommufd_test_create_access(system: System, ioas_id: int) -> tuple[int, int]:
    """``iommufd_test_create_access()``: the access (pin ops), attached to ``ioas_id``, and
    a file for it. Returns (rc, out_access_fd). A failed reply destroys the access, which
    detaches it (``out_destroy``)."""
    if not await kzalloc("iommufd_test_alloc_access"):
        return -errno.ENOMEM, 0
    fd = FIRST_ACCESS_FD + system.access_fds
    system.access_fds += 1
    staccess = SelftestAccess(lock=Mutex(STACCESS_LOCK, name=f"staccess{fd}.lock"))
    access = await iommufd_access_create(system.ictx, SELFTEST_ACCESS_OPS_PIN, staccess)
    if IS_ERR(access):
        # out_free_staccess: fput(staccess->file)
        await fput(staccess)
        return access.rc, 0
    rc = await iommufd_access_attach(access, ioas_id)
    if not rc:
        rc = await iommufd_ucmd_respond("IOMMU_TEST_OP_CREATE_ACCESS:copy_to_user")
    if rc:
        # out_destroy:
        await iommufd_access_destroy(access)
        # out_free_staccess: fput(staccess->file)
        await fput(staccess)
        return rc, 0
    staccess.access = access
    # fd_install(fdno, staccess->file)
    system.access_files[fd] = staccess
    return 0, fd


async def iommufd_test_access_replace_ioas(system: System, fd: int, ioas_id: int) -> int:
    """``iommufd_test_access_replace_ioas()``: ``iommufd_access_replace()``."""
    staccess = iommufd_access_get(system, fd)
    if staccess is None:
        return -errno.EBADFD
    assert staccess.access is not None
    rc = await iommufd_access_replace(staccess.access, ioas_id)
    await fput(staccess)
    return rc


async def iommufd_test_access_pages(
    system: System, fd: int, iova: int, length: int
) -> tuple[int, int]:
    """``iommufd_test_access_pages()``: pin [iova, iova + length) under ``staccess->lock``
    and keep it as an item. Returns (rc, out_access_pages_id); a failure after the pin
    unpins."""
    staccess = iommufd_access_get(system, fd)
    if staccess is None:
        return -errno.EBADFD, 0
    access = staccess.access
    assert access is not None
    if not await kzalloc("iommufd_test_access_pages:kvcalloc"):
        # out_put:
        await fput(staccess)
        return -errno.ENOMEM, 0
    await staccess.lock.lock()
    rc = await iommufd_access_pin_pages(access, iova, length)
    item_id = 0
    if not rc:
        if not await kzalloc("iommufd_test_access_pages:item"):
            rc = -errno.ENOMEM
        else:
            item = SelftestAccessItem(iova=iova, length=length, id=staccess.next_id)
            staccess.next_id += 1
            staccess.items.append(item)
            rc = await iommufd_ucmd_respond("IOMMU_TEST_OP_ACCESS_PAGES:copy_to_user")
            if rc:
                # out_free_item:
                staccess.items.remove(item)
            else:
                item_id = item.id
        if rc:
            # out_unaccess:
            await iommufd_access_unpin_pages(access, iova, length)
    # out_unlock:
    await staccess.lock.unlock()
    # out_put:
    await fput(staccess)
    return rc, item_id


async def iommufd_test_access_item_destroy(system: System, fd: int, item_id: int) -> int:
    """``iommufd_test_access_item_destroy()``: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES: unpin
    the item; -ENOENT if there is none of that id (the unmap callback may have unpinned
    it)."""
    staccess = iommufd_access_get(system, fd)
    if staccess is None:
        return -errno.EBADFD
    assert staccess.access is not None
    rc = -errno.ENOENT
    await staccess.lock.lock()
    for item in staccess.items:
        if item.id == item_id:
            await iommufd_access_unpin_pages(staccess.access, item.iova, item.length)
            staccess.items.remove(item)
            rc = 0
            break
    await staccess.lock.unlock()
    await fput(staccess)
    return rc


async def iommufd_test_access_rw(system: System, fd: int, iova: int, length: int) -> int:
    """``iommufd_test_access_rw()``: a buffer (-ENOMEM), then ``iommufd_access_rw()``."""
    staccess = iommufd_access_get(system, fd)
    if staccess is None:
        return -errno.EBADFD
    assert staccess.access is not None
    rc = -errno.ENOMEM
    if await kzalloc("iommufd_test_access_rw:kvzalloc"):
        rc = await iommufd_access_rw(staccess.access, iova, length)
    await fput(staccess)
    return rc


async def iommufd_test_access_close(system: System, fd: int) -> int:
    """``close()`` of an access file: -EBADF if it is not open; the file is released once
    no op holds it any more (`fput`)."""
    staccess = system.access_files.pop(fd, None)
    if staccess is None:
        return -errno.EBADF
    await fput(staccess)
    return 0


async def iommufd_test_staccess_release(staccess: SelftestAccess) -> None:
    """``iommufd_test_staccess_release()``: the last reference to the access file is gone:
    unpin everything and destroy the access."""
    if staccess.access is not None:
        await iommufd_test_access_unmap(staccess, 0, 1 << 64)
        await iommufd_access_destroy(staccess.access)
