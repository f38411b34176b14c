"""The iommu core's side: drivers/iommu/iommu.c as of the series (v6.6).

An `IommuGroup` has ``group->mutex`` (one lock class for all groups, ``iommu_group_alloc``),
the current domain, the default and blocking domains, and the DMA owner. Every function here
takes ``group->mutex`` itself; the driver's ``attach_dev`` runs under it and may fail. The
group mutex is innermost relative to iommufd (reference §3 item 13).
"""

from __future__ import annotations

import errno
from typing import Any

import attrs

from lockstep.actors.kernel import WARN_ON, kzalloc, may_fail
from lockstep.scheduler import LockClass, Mutex, lockdep_assert_held
from lockstep.scheduler.access import shared

GROUP_MUTEX = LockClass("&group->mutex")


@shared
@attrs.define(eq=False, slots=False)
class IommuDomain:
    """``struct iommu_domain``: only its identity and type matter to the locking."""

    name: str
    type: str = "UNMANAGED"
    freed: bool = False
    #: ``ops->enforce_cache_coherency`` can make this domain coherent
    can_enforce_cc: bool = True

    def __repr__(self) -> str:
        return f"<domain {self.name}>"


@shared
@attrs.define(eq=False, slots=False)
class IommuGroup:
    """``struct iommu_group``."""

    id: int
    mutex: Mutex
    default_domain: IommuDomain | None
    #: ``group->domain``: what the devices are attached to now
    domain: IommuDomain | None = None
    blocking_domain: IommuDomain | None = None
    #: DMA owner cookie (the iommufd_ctx under iommufd) and how many devices claimed it
    owner: Any = None
    owner_cnt: int = 0
    devices: list[Device] = attrs.field(factory=list)

    @property
    def name(self) -> str:
        return f"group{self.id}"


@shared
@attrs.define(eq=False, slots=False)
class Device:
    """``struct device`` of a (mock) device, with its group and iommu capabilities."""

    name: str
    group: IommuGroup | None = None
    #: a selftest mock device (``iommufd_selftest_is_mock_dev``), else a physical one
    mock: bool = True
    #: the platform isolates this device's MSIs (``msi_device_has_isolated_msi``)
    isolated_msi: bool = True
    #: IOMMU_CAP_ENFORCE_CACHE_COHERENCY (the selftest mock driver reports false)
    enforce_cache_coherency: bool = False
    #: the domains its driver allocates can enforce cache coherency
    #: (``domain->ops->enforce_cache_coherency`` succeeds)
    coherent_domains: bool = True
    #: reserved regions ``iommu_get_resv_regions()`` returns besides the MSI windows
    #: (IOMMU_RESV_RESERVED and IOMMU_RESV_DIRECT; the v6.6 mock has none)
    resv_regions: int = 0
    #: an IOMMU_RESV_SW_MSI region: iommufd must map the MSI doorbell into its domains
    sw_msi: bool = False
    #: an IOMMU_RESV_MSI region (a hardware MSI window)
    hw_msi: bool = False


def iommu_group_alloc(group_id: int) -> IommuGroup:
    """``iommu_group_alloc()``: a new group with its ``group->mutex`` (the fault point is the
    caller's, see ``mock_dev_create``)."""
    default = IommuDomain(f"group{group_id}.default", type="DMA")
    group = IommuGroup(
        id=group_id,
        mutex=Mutex(GROUP_MUTEX, name=f"group{group_id}.mutex"),
        default_domain=default,
        domain=default,
    )
    return group


async def iommu_group_add_device(group: IommuGroup, dev: Device) -> int:
    """``iommu_group_add_device()``: join a group; the device follows the group's domain."""
    if not await kzalloc("iommu_group_add_device"):
        return -errno.ENOMEM
    async with group.mutex:
        group.devices.append(dev)
        dev.group = group
    return 0


async def iommu_group_remove_device(dev: Device) -> None:
    """``iommu_group_remove_device()``."""
    group = dev.group
    assert group is not None
    async with group.mutex:
        group.devices.remove(dev)
    dev.group = None


async def __iommu_group_set_domain(group: IommuGroup, new_domain: IommuDomain | None) -> int:
    """``__iommu_group_set_domain()`` = ``__iommu_group_set_domain_internal(.., 0)``: call the
    driver's attach_dev for each device; on failure the group keeps its old domain."""
    lockdep_assert_held(group.mutex)
    if group.domain is new_domain:
        return 0
    for _dev in group.devices:
        rc = await may_fail("attach_dev", errno.EINVAL)
        if rc:
            # err_revert: re-attach group->domain to the devices already tried (MUST_SUCCEED)
            return rc
    group.domain = new_domain
    return 0


async def __iommu_group_set_domain_nofail(
    group: IommuGroup, new_domain: IommuDomain | None
) -> None:
    """``__iommu_group_set_domain_nofail()``: IOMMU_SET_DOMAIN_MUST_SUCCEED."""
    lockdep_assert_held(group.mutex)
    group.domain = new_domain


async def __iommu_group_alloc_blocking_domain(group: IommuGroup) -> int:
    """``__iommu_group_alloc_blocking_domain()``: IOMMU_DOMAIN_BLOCKED, else UNMANAGED."""
    lockdep_assert_held(group.mutex)
    if group.blocking_domain is not None:
        return 0
    if not await kzalloc("__iommu_group_alloc_blocking_domain"):
        return -errno.EINVAL
    group.blocking_domain = IommuDomain(f"{group.name}.blocking", type="BLOCKED")
    return 0


async def __iommu_take_dma_ownership(group: IommuGroup, owner: Any) -> int:
    """``__iommu_take_dma_ownership()``: -EBUSY if the group is attached to a non-default
    domain; otherwise switch it to the blocking domain."""
    if group.domain is not None and group.domain is not group.default_domain:
        return -errno.EBUSY
    ret = await __iommu_group_alloc_blocking_domain(group)
    if ret:
        return ret
    ret = await __iommu_group_set_domain(group, group.blocking_domain)
    if ret:
        return ret
    group.owner = owner
    group.owner_cnt += 1
    return 0


async def iommu_group_has_isolated_msi(group: IommuGroup) -> bool:
    """``iommu_group_has_isolated_msi()``: every device of the group, under group->mutex."""
    async with group.mutex:
        ret = all(dev.isolated_msi for dev in group.devices)
    return ret


async def iommu_device_claim_dma_owner(dev: Device, owner: Any) -> int:
    """``iommu_device_claim_dma_owner()``: -EPERM if another owner has the group."""
    if WARN_ON(owner is None, "iommu_device_claim_dma_owner without an owner"):
        return -errno.EINVAL
    group = dev.group
    if group is None:
        return -errno.ENODEV
    await group.mutex.lock()
    if group.owner_cnt:
        if group.owner is not owner:
            ret = -errno.EPERM
        else:
            group.owner_cnt += 1
            ret = 0
    else:
        ret = await __iommu_take_dma_ownership(group, owner)
    # unlock_out:
    await group.mutex.unlock()
    return ret


async def __iommu_release_dma_ownership(group: IommuGroup) -> None:
    """``__iommu_release_dma_ownership()``: back to the default domain."""
    if WARN_ON(
        not group.owner_cnt or group.owner is None, lambda: f"{group.name}: release unowned"
    ):
        return
    group.owner_cnt = 0
    group.owner = None
    await __iommu_group_set_domain_nofail(group, group.default_domain)


async def iommu_device_release_dma_owner(dev: Device) -> None:
    """``iommu_device_release_dma_owner()``."""
    group = dev.group
    assert group is not None
    async with group.mutex:
        if group.owner_cnt > 1:
            group.owner_cnt -= 1
        else:
            await __iommu_release_dma_ownership(group)


async def __iommu_attach_group(domain: IommuDomain, group: IommuGroup) -> int:
    """``__iommu_attach_group()``: -EBUSY if already attached to another managed domain."""
    if (
        group.domain is not None
        and group.domain is not group.default_domain
        and group.domain is not group.blocking_domain
    ):
        return -errno.EBUSY
    return await __iommu_group_set_domain(group, domain)


async def iommu_attach_group(domain: IommuDomain, group: IommuGroup) -> int:
    """``iommu_attach_group()``."""
    async with group.mutex:
        ret = await __iommu_attach_group(domain, group)
    return ret


async def __iommu_group_set_core_domain(group: IommuGroup) -> None:
    """``__iommu_group_set_core_domain()``: blocking domain when owned, else the default."""
    new_domain = group.blocking_domain if group.owner is not None else group.default_domain
    await __iommu_group_set_domain_nofail(group, new_domain)


async def iommu_detach_group(domain: IommuDomain, group: IommuGroup) -> None:
    """``iommu_detach_group()``: ignores ``domain``; cannot fail."""
    async with group.mutex:
        await __iommu_group_set_core_domain(group)


async def iommu_group_replace_domain(group: IommuGroup, new_domain: IommuDomain | None) -> int:
    """``iommu_group_replace_domain()`` (v8 13/19): no -EBUSY check, just set the domain."""
    if new_domain is None:
        return -errno.EINVAL
    async with group.mutex:
        ret = await __iommu_group_set_domain(group, new_domain)
    return ret


async def iommu_domain_alloc(name: str, dev: Device | None = None) -> IommuDomain | None:
    """``iommu_domain_alloc(dev->bus)``: the driver's domain_alloc; NULL on failure. The
    domain can enforce cache coherency if ``dev``'s driver's domains can."""
    if not await kzalloc("iommu_domain_alloc"):
        return None
    return IommuDomain(name, can_enforce_cc=dev.coherent_domains if dev is not None else True)


def iommu_domain_free(domain: IommuDomain) -> None:
    """``iommu_domain_free()``: freeing a domain a group still uses is a model finding."""
    WARN_ON(domain.freed, lambda: f"double free of {domain.name}")
    domain.freed = True
