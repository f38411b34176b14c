"""The IOAS's page table: drivers/iommu/iommufd/io_pagetable.c (with what it needs of pages.c).

``iopt->domains_rwsem`` protects the list of domains; ``iopt->iova_rwsem`` the IOVA tree
(areas and reserved ranges); each mapped range's ``pages->mutex`` its pinned pages. Order:
domains_rwsem -> iova_rwsem -> pages->mutex (reference §3 items 7, 8). A domain is added or
removed only with both rwsems held for write; map and unmap reach the domains through
domains_rwsem held for read.

Areas are counted in pages (an IOVA is a page number); an area whose ``pages`` is None is
being mapped (its pages are set at the end of `iopt_map_pages`, under iova_rwsem). The IOVA
allocator takes the lowest hole that fits, from IOVA 1; reserved ranges are counted per
owner, not placed, so they never stand in the way of a mapping (no -EADDRINUSE, and a fixed
IOVA is refused only by an area, -EEXIST).
"""

from __future__ import annotations

import errno
from typing import Any

import attrs

from lockstep.actors.iommu_core import IommuDomain
from lockstep.actors.kernel import WARN_ON, kzalloc, may_fail
from lockstep.scheduler import (
    LockClass,
    Mutex,
    RwSem,
    SpinLock,
    lockdep_assert_held,
    lockdep_assert_held_write,
)
from lockstep.scheduler.access import shared

DOMAINS_RWSEM = LockClass("&iopt->domains_rwsem")
IOVA_RWSEM = LockClass("&iopt->iova_rwsem")
PAGES_MUTEX = LockClass("&pages->mutex")
#: ``xa_init_flags(&iopt->access_list, XA_FLAGS_ALLOC)`` in ``iopt_init_table()``
ACCESS_LIST_XA_LOCK = LockClass("&iopt->access_list.xa_lock")

#: where arm-smmu's IOMMU_RESV_SW_MSI window starts (``MSI_IOVA_BASE``): the value
#: ``iopt_table_enforce_dev_resv_regions()`` hands back in ``*sw_msi_start``
SW_MSI_START = 0x8000000


@shared
@attrs.define(eq=False, slots=False)
class IoptPages:
    """``struct iopt_pages``: the pinned user pages of one mapping, with ``pages->mutex``."""

    mutex: Mutex
    #: domains these pages are mapped into
    domains: set[int] = attrs.field(factory=set)
    #: ``pages->access_itree``: each pinned range (first, last page index) -> its users
    accesses: dict[tuple[int, int], int] = attrs.field(factory=dict)


@shared
@attrs.define(eq=False, slots=False)
class IoptArea:
    """``struct iopt_area``: an IOVA range; ``pages`` is None until the map completes, and
    the area maps them from page ``page_offset`` on (an IOMMU_IOAS_COPY of part of an
    area shares its pages from there)."""

    iova: int
    length: int
    pages: IoptPages | None = None
    page_offset: int = 0
    #: pins through access objects; written under iova_rwsem (read) and pages->mutex
    num_accesses: int = 0
    #: an unmap is waiting for the accesses to unpin: no new pin
    prevent_access: bool = False


@shared
@attrs.define(eq=False, slots=False)
class IoPagetable:
    """``struct io_pagetable``, embedded in the IOAS (``iopt_init_table``)."""

    name: str
    domains_rwsem: RwSem
    iova_rwsem: RwSem
    #: ``iopt->domains``: domain index -> domain
    domains: dict[int, IommuDomain] = attrs.field(factory=dict)
    next_domain_id: int = 0
    #: the area tree: iova -> area
    areas: dict[int, IoptArea] = attrs.field(factory=dict)
    #: reserved ranges, by owner (a device, or a domain for its aperture): owner -> count
    reserved: dict[Any, int] = attrs.field(factory=dict)
    pages_seq: int = 0
    #: IOMMU_OPTION_HUGE_PAGES 0 (``iopt->disable_large_pages``)
    disable_large_pages: bool = False
    #: ``iopt->access_list``: id -> the access objects attached to this IOAS
    access_list: dict[int, Any] = attrs.field(factory=dict)
    access_list_xa_lock: SpinLock = attrs.field(kw_only=True)


def iopt_init_table(name: str) -> IoPagetable:
    """``iopt_init_table()``: ``init_rwsem`` x2 (one class each for every IOAS)."""
    return IoPagetable(
        name=name,
        domains_rwsem=RwSem(DOMAINS_RWSEM, name=f"{name}.domains_rwsem"),
        iova_rwsem=RwSem(IOVA_RWSEM, name=f"{name}.iova_rwsem"),
        access_list_xa_lock=SpinLock(ACCESS_LIST_XA_LOCK, name=f"{name}.access_list.xa_lock"),
    )


async def iopt_reserve_iova(iopt: IoPagetable, owner: Any) -> int:
    """``iopt_reserve_iova()``: allocates a reserved node (-ENOMEM)."""
    lockdep_assert_held_write(iopt.iova_rwsem)
    if not await kzalloc("iopt_reserve_iova"):
        return -errno.ENOMEM
    iopt.reserved[owner] = iopt.reserved.get(owner, 0) + 1
    return 0


def __iopt_remove_reserved_iova(iopt: IoPagetable, owner: Any) -> None:
    """``__iopt_remove_reserved_iova()``: drop every range ``owner`` reserved."""
    lockdep_assert_held_write(iopt.iova_rwsem)
    iopt.reserved.pop(owner, None)


async def iopt_remove_reserved_iova(iopt: IoPagetable, owner: Any) -> None:
    """``iopt_remove_reserved_iova()``."""
    await iopt.iova_rwsem.down_write()
    __iopt_remove_reserved_iova(iopt, owner)
    await iopt.iova_rwsem.up_write()


async def iopt_table_enforce_dev_resv_regions(
    iopt: IoPagetable, dev: Any, sw_msi_start: list[int] | None
) -> int:
    """``iopt_table_enforce_dev_resv_regions()``: reserve the device's regions (v8 05/19:
    per device, ``iommu_get_resv_regions(dev)`` takes no group->mutex). A device that
    reports no region reserves nothing, and has nothing to lose or leak."""
    if await may_fail("iommufd_should_fail", errno.EINVAL):
        return -errno.EINVAL
    await iopt.iova_rwsem.down_write()
    # iommu_get_resv_regions(dev): the other regions, then the MSI windows
    regions = ["reserved"] * dev.resv_regions
    regions += ["sw_msi"] * dev.sw_msi + ["hw_msi"] * dev.hw_msi
    num_hw_msi = num_sw_msi = 0
    rc = 0
    for kind in regions:
        if sw_msi_start is not None and kind == "hw_msi":
            num_hw_msi += 1
        if sw_msi_start is not None and kind == "sw_msi":
            sw_msi_start[0] = SW_MSI_START
            num_sw_msi += 1
        rc = await iopt_reserve_iova(iopt, dev)
        if rc:
            break
    # Drivers must offer sane combinations of regions
    if not rc and (
        WARN_ON(num_sw_msi and num_hw_msi, lambda: f"{dev.name}: both SW and HW MSI regions")
        or WARN_ON(num_sw_msi > 1, lambda: f"{dev.name}: more than one SW MSI region")
    ):
        rc = -errno.EINVAL
    if rc:
        # out_reserved:
        __iopt_remove_reserved_iova(iopt, dev)
    # out_free_resv:
    await iopt.iova_rwsem.up_write()
    return rc


async def iopt_area_fill_domain(area: IoptArea, domain_id: int) -> int:
    """``iopt_area_fill_domain()``: map one area's pages into a new domain, under pages->mutex."""
    pages = area.pages
    assert pages is not None
    lockdep_assert_held(pages.mutex)
    if await may_fail("iommu_map", errno.ENOMEM):
        return -errno.ENOMEM
    pages.domains.add(domain_id)
    return 0


async def iopt_fill_domain(iopt: IoPagetable, domain_id: int) -> int:
    """``iopt_fill_domain()``: fill every completed area into the new domain. It can fail only
    when the IOAS has a mapped area (why the v5 fail_nth test maps a page first)."""
    lockdep_assert_held(iopt.domains_rwsem)
    lockdep_assert_held(iopt.iova_rwsem)
    done: list[IoptArea] = []
    for area in list(iopt.areas.values()):
        pages = area.pages
        if pages is None:
            continue
        await pages.mutex.lock()
        rc = await iopt_area_fill_domain(area, domain_id)
        await pages.mutex.unlock()
        if rc:
            # out_unfill:
            for undo in done:
                assert undo.pages is not None
                await undo.pages.mutex.lock()
                undo.pages.domains.discard(domain_id)
                await undo.pages.mutex.unlock()
            return rc
        done.append(area)
    return 0


async def iopt_unfill_domain(iopt: IoPagetable, domain_id: int) -> None:
    """``iopt_unfill_domain()``: unmap every area from a domain being removed."""
    lockdep_assert_held(iopt.domains_rwsem)
    lockdep_assert_held(iopt.iova_rwsem)
    for area in list(iopt.areas.values()):
        pages = area.pages
        if pages is None:
            continue
        await pages.mutex.lock()
        pages.domains.discard(domain_id)
        await pages.mutex.unlock()


async def iopt_table_add_domain(iopt: IoPagetable, domain: IommuDomain) -> int:
    """``iopt_table_add_domain()``: both rwsems for write; reserve the aperture, fill."""
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    rc = 0
    if WARN_ON(
        domain in iopt.domains.values(), lambda: f"{domain.name} added twice to {iopt.name}"
    ):
        rc = -errno.EEXIST
    else:
        # No area exists that is outside the allowed domain aperture
        rc = await iopt_reserve_iova(iopt, domain)
        if not rc:
            rc = await may_fail("xa_reserve", errno.ENOMEM)
            if not rc:
                domain_id = iopt.next_domain_id
                rc = await iopt_fill_domain(iopt, domain_id)
                if not rc:
                    iopt.domains[domain_id] = domain
                    iopt.next_domain_id += 1
                # else out_release: xa_release(&iopt->domains, iopt->next_domain_id)
            if rc:
                # out_reserved:
                __iopt_remove_reserved_iova(iopt, domain)
    # out_unlock:
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()
    return rc


async def iopt_table_remove_domain(iopt: IoPagetable, domain: IommuDomain) -> None:
    """``iopt_table_remove_domain()``: both rwsems for write; unfill, drop the aperture."""
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    index = next((i for i, d in iopt.domains.items() if d is domain), None)
    if not WARN_ON(index is None, lambda: f"{domain.name} not in {iopt.name}"):
        assert index is not None
        await iopt_unfill_domain(iopt, index)
        __iopt_remove_reserved_iova(iopt, domain)
        del iopt.domains[index]
    # out_unlock:
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()


def iopt_area_iter(iopt: IoPagetable, start: int, last: int) -> list[IoptArea]:
    """``iopt_area_iter_first()`` and on: the areas that intersect [start, last], by IOVA."""
    found = [a for a in iopt.areas.values() if a.iova <= last and a.iova + a.length - 1 >= start]
    return sorted(found, key=lambda a: a.iova)


def iopt_alloc_iova(iopt: IoPagetable, length: int) -> int:
    """``iopt_alloc_iova()``: the lowest free IOVA with ``length`` pages free after it."""
    lockdep_assert_held_write(iopt.iova_rwsem)
    iova = 1
    for area in sorted(iopt.areas.values(), key=lambda a: a.iova):
        if iova + length <= area.iova:
            break
        iova = max(iova, area.iova + area.length)
    return iova


@attrs.frozen
class PagesElm:
    """``struct iopt_pages_list``: ``length`` pages of ``pages`` from page ``offset``."""

    pages: IoptPages
    offset: int
    length: int


async def iopt_alloc_area_pages(
    iopt: IoPagetable, elms: list[PagesElm], iova: int | None = None
) -> list[IoptArea] | int:
    """``iopt_alloc_area_pages()``: kzalloc an area per element, then, under iova_rwsem,
    take an IOVA for all of them (`iopt_alloc_iova`) or check the fixed one
    (``iopt_check_iova``: -EEXIST where an area already is) and insert the areas one after
    the other, with ``pages == NULL``. Returns the areas or a negative errno."""
    areas: list[IoptArea] = []
    for elm in elms:
        if not await kzalloc("iopt_alloc_area_pages"):
            return -errno.ENOMEM
        areas.append(IoptArea(iova=0, length=elm.length, page_offset=elm.offset))
    length = sum(elm.length for elm in elms)
    await iopt.iova_rwsem.down_write()
    if iova is None:
        iova = iopt_alloc_iova(iopt, length)
    elif iopt_area_iter(iopt, iova, iova + length - 1):
        # out_unlock:
        await iopt.iova_rwsem.up_write()
        return -errno.EEXIST
    for area in areas:
        area.iova = iova
        iopt.areas[iova] = area
        iova += area.length
    await iopt.iova_rwsem.up_write()
    return areas


async def iopt_abort_area(iopt: IoPagetable, area: IoptArea) -> None:
    """``iopt_abort_area()``: take the area out of the tree (iova_rwsem) and free it."""
    await iopt.iova_rwsem.down_write()
    iopt.areas.pop(area.iova, None)
    await iopt.iova_rwsem.up_write()


async def iopt_fill_domains_pages(iopt: IoPagetable, elms: list[PagesElm]) -> int:
    """``iopt_fill_domains_pages()``: map each element's pages into every domain, under its
    pages->mutex; a failure unmaps what was filled."""
    lockdep_assert_held(iopt.domains_rwsem)
    done: list[IoptPages] = []
    for elm in elms:
        pages = elm.pages
        await pages.mutex.lock()
        rc = 0
        for domain_id in iopt.domains:
            rc = await may_fail("iommu_map", errno.ENOMEM)
            if rc:
                break
            pages.domains.add(domain_id)
        if rc:
            # out_unmap: iopt_area_unfill_domains
            pages.domains.clear()
            await pages.mutex.unlock()
            for undo in done:
                await undo.mutex.lock()
                undo.domains.clear()
                await undo.mutex.unlock()
            return rc
        await pages.mutex.unlock()
        done.append(pages)
    return 0


async def iopt_map_pages(
    iopt: IoPagetable, elms: list[PagesElm], iova: int | None = None
) -> list[IoptArea] | int:
    """``iopt_map_pages()``: insert the areas (at ``iova`` if fixed), fill the domains under
    domains_rwsem (read), then publish each ``area->pages`` under iova_rwsem. Returns the
    areas or a negative errno (the areas aborted, as ``iopt_free_pages_list`` does)."""
    areas = await iopt_alloc_area_pages(iopt, elms, iova)
    if isinstance(areas, int):
        return areas
    await iopt.domains_rwsem.down_read()
    rc = await iopt_fill_domains_pages(iopt, elms)
    if not rc:
        await iopt.iova_rwsem.down_write()
        # area->pages must be set inside the domains_rwsem to ensure any newly added domains
        # will get filled.
        for area, elm in zip(areas, elms, strict=True):
            area.pages = elm.pages
        await iopt.iova_rwsem.up_write()
    # out_unlock_domains:
    await iopt.domains_rwsem.up_read()
    if rc:
        for area in areas:
            await iopt_abort_area(iopt, area)
        return rc
    return areas


async def iopt_map_user_pages(iopt: IoPagetable, length: int, iova: int | None = None) -> int:
    """``iopt_map_user_pages()``: allocate the pages object, map it (at ``iova`` with
    IOMMU_IOAS_MAP_FIXED_IOVA). Returns the IOVA or a negative errno."""
    if not await kzalloc("iopt_alloc_pages"):
        return -errno.ENOMEM
    iopt.pages_seq += 1
    pages = IoptPages(mutex=Mutex(PAGES_MUTEX, name=f"{iopt.name}.pages{iopt.pages_seq}.mutex"))
    areas = await iopt_map_pages(iopt, [PagesElm(pages, 0, length)], iova)
    if isinstance(areas, int):
        # iopt_put_pages(elm.pages)
        return areas
    return areas[0].iova


async def iopt_get_pages(iopt: IoPagetable, iova: int, length: int) -> list[PagesElm] | int:
    """``iopt_get_pages()``: under iova_rwsem (read), an element for each area that covers
    [iova, iova + length) (-ENOMEM per element); -ENOENT if a hole or an area being mapped
    is in the way, -EINVAL for a zero length. Each element shares its area's pages (their
    kref is not modelled)."""
    if not length:
        return -errno.EINVAL
    last = iova + length - 1
    await iopt.iova_rwsem.down_read()
    areas, done = iopt_for_each_contig_area(iopt, iova, last)
    elms: list[PagesElm] = []
    rc = 0
    for area in areas:
        first, end = max(iova, area.iova), min(last, area.iova + area.length - 1)
        if not await kzalloc("iopt_get_pages"):
            rc = -errno.ENOMEM
            break
        assert area.pages is not None
        elms.append(PagesElm(area.pages, area.page_offset + first - area.iova, end - first + 1))
    else:
        if not done:
            rc = -errno.ENOENT
    await iopt.iova_rwsem.up_read()
    return rc or elms


async def iopt_unmap_iova_range(iopt: IoPagetable, start: int, last: int) -> int:
    """``iopt_unmap_iova_range()``: unmap every area inside [start, last]. -EBUSY for an area
    still being mapped; -ENOENT for an area the range cuts ("the area is too big"), or if
    nothing was unmapped. An area an access object pinned is not unmapped under the locks:
    it is marked ``prevent_access``, the locks are dropped, the accesses are told to unpin
    (`iommufd_access_notify_unmap`), and the walk starts again; after 100 tries on one area
    "something is not responding to unmap requests" (a WARN, -EDEADLK)."""
    from lockstep.actors.access import iommufd_access_notify_unmap

    rc = -errno.ENOENT
    unmapped = 0
    tries = 0
    while True:
        # again:
        await iopt.domains_rwsem.down_read()
        await iopt.iova_rwsem.down_write()
        notify: tuple[int, int] | None = None
        while within := iopt_area_iter(iopt, start, last):
            area = within[0]
            pages = area.pages
            if pages is None:
                # Userspace should not race map/unmap's of the same area
                rc = -errno.EBUSY
                break
            if area.iova < start or area.iova + area.length - 1 > last:
                rc = -errno.ENOENT
                break
            if area.iova != start:
                tries = 0
            # num_accesses writers must hold the iova_rwsem too, so we can safely read it
            # under the write side of the iova_rwsem without the pages->mutex.
            if area.num_accesses:
                start = area.iova
                area.prevent_access = True
                notify = (area.iova, area.length)
                break
            area.pages = None
            await iopt.iova_rwsem.up_write()

            # iopt_area_unfill_domains()
            await pages.mutex.lock()
            pages.domains.clear()
            await pages.mutex.unlock()
            await iopt_abort_area(iopt, area)
            # iopt_put_pages(pages)
            unmapped += area.length

            await iopt.iova_rwsem.down_write()
        else:
            if unmapped:
                rc = 0
        if notify is None:
            break
        await iopt.iova_rwsem.up_write()
        await iopt.domains_rwsem.up_read()
        await iommufd_access_notify_unmap(iopt, *notify)
        # Something is not responding to unmap requests.
        tries += 1
        if WARN_ON(tries > 100, f"{iopt.name}: unmap of an area its accesses keep pinned"):
            return -errno.EDEADLK
    # out_unlock_iova:
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_read()
    return rc


async def iopt_unmap_all(iopt: IoPagetable) -> int:
    """``iopt_unmap_all()``: "If the IOVAs are empty then unmap all succeeds": -ENOENT is 0
    (selftest ``iommufd_ioas.area`` unmaps everything of an empty IOAS and expects 0)."""
    rc = await iopt_unmap_iova_range(iopt, 0, 1 << 62)
    return 0 if rc == -errno.ENOENT else rc


async def iopt_add_access(iopt: IoPagetable, access: Any) -> int:
    """``iopt_add_access()`` (v6.6): under both rwsems (write), put ``access`` in
    ``iopt->access_list``. v6.6 hands ``&access->iopt_access_list_id`` to ``xa_alloc``,
    which writes the new id there before it stores the entry, so also when the store then
    fails for want of a node (-ENOMEM; an empty list needs none, so only a list that has an
    access can fail). ``iopt_calculate_iova_alignment()`` then refuses the access when an
    area of the IOAS does not fit the alignment the access asks (-EADDRINUSE; IOVA
    alignment is not modelled, so with an area there this is a fault point), and the entry
    is erased again, by the id now in the access. Linux 6.8's fix keeps the id in a local
    until the add succeeded (``Variant.fix_access_list_id``)."""
    fix = access.ictx.variant.fix_access_list_id
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    xa_lock = iopt.access_list_xa_lock
    async with xa_lock:
        new_id = 0
        while new_id in iopt.access_list:
            new_id += 1
    if not fix:
        access.iopt_access_list_id = new_id
    rc = await may_fail("iopt_add_access:xa_alloc", errno.ENOMEM) if new_id else 0
    if not rc:
        async with xa_lock:
            iopt.access_list[new_id] = access
        if iopt.areas:
            rc = await may_fail("iopt_calculate_iova_alignment", errno.EADDRINUSE)
        if rc:
            async with xa_lock:
                iopt.access_list.pop(new_id if fix else access.iopt_access_list_id, None)
        elif fix:
            access.iopt_access_list_id = new_id
    # out_unlock:
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()
    return rc


async def iopt_remove_access(iopt: IoPagetable, access: Any, iopt_access_list_id: int) -> None:
    """``iopt_remove_access()``: take the access out of ``iopt->access_list``, under both
    rwsems (write); erasing another entry than ``access`` is a WARN."""
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    async with iopt.access_list_xa_lock:
        old = iopt.access_list.pop(iopt_access_list_id, None)
    WARN_ON(old is not access, lambda: f"iopt_remove_access({iopt.name}): erased {old!r}")
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()


def _index_range(area: IoptArea, first: int, last: int) -> tuple[int, int]:
    """The page indexes of the area's pages at IOVAs [first, last]
    (``iopt_area_iova_to_index``)."""
    return (area.page_offset + first - area.iova, area.page_offset + last - area.iova)


async def iopt_area_add_access(area: IoptArea, first: int, last: int) -> int:
    """``iopt_area_add_access()``: pin the area's pages at IOVAs [first, last] for an
    access, under ``pages->mutex``: a range pinned before gets one more user, a new one is
    allocated and filled (-ENOMEM)."""
    pages = area.pages
    assert pages is not None
    await pages.mutex.lock()
    key = _index_range(area, first, last)
    users = pages.accesses.get(key)
    if users is None:
        rc = -errno.ENOMEM if not await kzalloc("iopt_area_add_access") else 0
        # iopt_pages_fill_xarray(): pin the user pages (-ENOMEM, -EFAULT...)
        rc = rc or await may_fail("iopt_pages_fill_xarray", errno.ENOMEM)
        if rc:
            await pages.mutex.unlock()
            return rc
    pages.accesses[key] = (users or 0) + 1
    area.num_accesses += 1
    await pages.mutex.unlock()
    return 0


async def iopt_area_remove_access(area: IoptArea, first: int, last: int) -> None:
    """``iopt_area_remove_access()``: one user of the pages pinned at IOVAs [first, last]
    less, under ``pages->mutex``; a range nobody pinned, or a count at 0, is a WARN."""
    pages = area.pages
    assert pages is not None
    await pages.mutex.lock()
    key = _index_range(area, first, last)
    users = pages.accesses.get(key)
    if not WARN_ON(users is None, f"iopt_area_remove_access: [{first}, {last}] not pinned"):
        assert users is not None
        WARN_ON(area.num_accesses == 0 or users == 0, "iopt_area_remove_access: no user")
        area.num_accesses -= 1
        if users == 1:
            del pages.accesses[key]
        else:
            pages.accesses[key] = users - 1
    await pages.mutex.unlock()


def iopt_for_each_contig_area(
    iopt: IoPagetable, first: int, last: int
) -> tuple[list[IoptArea], bool]:
    """``iopt_for_each_contig_area()`` over [first, last]: the areas it walks, without a hole
    from ``first`` on (an area still being mapped, ``pages == NULL``, ends the walk too), and
    ``iopt_area_contig_done()``: whether they cover the whole range."""
    lockdep_assert_held(iopt.iova_rwsem)
    walked: list[IoptArea] = []
    at = first
    for area in iopt_area_iter(iopt, first, last):
        if area.iova > at or area.pages is None:
            break
        walked.append(area)
        at = area.iova + area.length
    return walked, at > last


async def iopt_disable_large_pages(iopt: IoPagetable) -> int:
    """``iopt_disable_large_pages()``: under both rwsems (write); -EINVAL once domains have
    pages mapped in them; ``iopt_calculate_iova_alignment()`` refuses it when an area does
    not fit the page alignment (-EADDRINUSE; alignment is not modelled, so with an area
    there this is a fault point)."""
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    rc = 0
    if not iopt.disable_large_pages:
        # Won't do it if domains already have pages mapped in them
        if iopt.domains and iopt.areas:
            rc = -errno.EINVAL
        else:
            iopt.disable_large_pages = True
            if iopt.areas:
                rc = await may_fail("iopt_calculate_iova_alignment", errno.EADDRINUSE)
            if rc:
                iopt.disable_large_pages = False
    # out_unlock:
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()
    return rc


async def iopt_enable_large_pages(iopt: IoPagetable) -> None:
    """``iopt_enable_large_pages()``: under both rwsems (write); a smaller alignment
    cannot be refused."""
    await iopt.domains_rwsem.down_write()
    await iopt.iova_rwsem.down_write()
    iopt.disable_large_pages = False
    await iopt.iova_rwsem.up_write()
    await iopt.domains_rwsem.up_write()
