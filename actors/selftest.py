"""The selftest paths: drivers/iommu/iommufd/selftest.c (IOMMU_TEST_OP_MOCK_DOMAIN and
IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE as of v8 17/19, Linux 6.6).

MOCK_DOMAIN creates a mock device in a new iommu group, binds it, attaches it to a pt_id and
wraps it in a SELFTEST object (the ``stdev_id``); destroying that object detaches and unbinds.
MOCK_DOMAIN_REPLACE holds the SELFTEST object through ``iommufd_get_object`` (trylock of its
destroy_rwsem) across the whole replace, which may destroy the old auto hwpt: the
SELFTEST -> HW_PAGETABLE destroy_rwsem edge that needs one lock class per type (B5).
"""

from __future__ import annotations

import errno

import attrs

from lockstep.actors import device as device_c
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
from lockstep.scheduler.access import shared


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
