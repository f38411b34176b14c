"""End-of-execution checks: the state the live objects imply (reference §1 "Refcounts" and
§3 invariants). Synchronous: it runs after every actor has finished, with no lock held.

- every object's ``users`` is what its holders imply: 1 (the xarray) plus, for an IOAS, one
  per hwpt and per access on it; for a hwpt, one per device on a device list using it; for
  a device, one for the bound driver and one while attached; for an access, one for its
  driver (the selftest's access file);
- an access is on the access list of its IOAS and no other, with no IOAS change half done;
  each area's pin count is what the pinned ranges of its pages and the access files' items
  imply;
- no id is left reserved (an unpublished object nobody finalized or aborted);
- no destroy_rwsem, ioas->mutex, igroup->lock, iopt rwsem or group->mutex is held;
- ``ictx->groups`` holds exactly the igroups of bound devices, with a kref per device;
- each iommu group is owned once per bound device and attached to its igroup's hwpt domain
  (blocking domain when owned and detached, default domain when not owned);
- each IOAS's hwpt_list, domains and reserved regions match the hwpts and devices using it.
"""

from __future__ import annotations

from typing import Any

from lockstep.actors.ctx import XA_ZERO_ENTRY, IommufdObject, ObjType
from lockstep.actors.io_pagetable import iopt_area_iter
from lockstep.actors.iommu_core import Device
from lockstep.actors.system import System
from lockstep.scheduler import InvariantViolation


def problems(system: System) -> list[str]:
    """Every broken invariant of ``system``, as one line each (empty when consistent)."""
    ictx = system.ictx
    out: list[str] = []
    live: list[IommufdObject] = []
    for id_, entry in sorted(ictx.objects.items()):
        if entry == XA_ZERO_ENTRY:
            out.append(f"id {id_} still reserved: an object was never finalized or aborted")
        elif isinstance(entry, IommufdObject):
            live.append(entry)
            if entry.freed:
                out.append(f"{entry.name} is in ictx->objects but was freed")
            if entry.destroy_rwsem.is_locked():
                out.append(f"{entry.destroy_rwsem.name} still held")

    hwpts = [o.container for o in live if o.type is ObjType.HW_PAGETABLE]
    ioases = [o.container for o in live if o.type is ObjType.IOAS]
    idevs = [o.container for o in live if o.type is ObjType.DEVICE]
    accesses = [o.container for o in live if o.type is ObjType.ACCESS]
    out += _access_problems(system, accesses, ioases)
    igroups = {idev.igroup for idev in idevs}

    attached = {idev for ig in igroups for idev in ig.device_list}
    for ioas in ioases:
        expect = 1 + sum(1 for h in hwpts if h.ioas is ioas)
        expect += sum(1 for a in accesses if a.ioas is ioas)
        if ioas.obj.users != expect:
            out.append(f"{ioas.obj.name}.users = {ioas.obj.users}, expected {expect}")
        if ioas.mutex.is_locked():
            out.append(f"{ioas.mutex.name} still held")
        on_list = {id(h) for h in ioas.hwpt_list}
        mine = [h for h in hwpts if h.ioas is ioas]
        if on_list != {id(h) for h in mine}:
            out.append(f"{ioas.obj.name}.hwpt_list does not match its live hwpts")
        domains = {id(d) for d in ioas.iopt.domains.values()}
        if domains != {id(h.domain) for h in mine}:
            out.append(f"{ioas.obj.name} iopt domains do not match its hwpts")
        users_here = {
            idev.dev
            for ig in igroups
            if ig.hwpt is not None and ig.hwpt.ioas is ioas
            for idev in ig.device_list
        }
        reserved_devs = {o for o in ioas.iopt.reserved if isinstance(o, Device)}
        # two invariants, not one: reservations lost (an unwind that removed too much) and
        # reservations kept (a detach that left them) are different bugs; a device that
        # reports no reserved region has none to lose
        reserved_ids, user_ids = {id(d) for d in reserved_devs}, {id(d) for d in users_here}
        lost = sorted(
            d.name
            for d in users_here
            if id(d) not in reserved_ids and d.resv_regions + d.sw_msi + d.hw_msi
        )
        if lost:
            out.append(f"{ioas.obj.name} lost the reserved regions of its devices {lost}")
        kept = sorted(d.name for d in reserved_devs if id(d) not in user_ids)
        if kept:
            out.append(f"{ioas.obj.name} keeps the reserved regions of {kept}, not on it")
        for lock in (ioas.iopt.domains_rwsem, ioas.iopt.iova_rwsem):
            if lock.is_locked():
                out.append(f"{lock.name} still held")

    for h in hwpts:
        expect = 1 + sum(len(ig.device_list) for ig in igroups if ig.hwpt is h)
        if h.obj.users != expect:
            out.append(f"{h.obj.name}.users = {h.obj.users}, expected {expect}")
        if h.auto_domain and expect == 1:
            out.append(f"auto {h.obj.name} outlived its last device")

    for idev in idevs:
        expect = 2 + (1 if idev in attached else 0)
        if idev.obj.users != expect:
            out.append(f"{idev.obj.name}.users = {idev.obj.users}, expected {expect}")

    for ig in igroups:
        nbound = sum(1 for idev in idevs if idev.igroup is ig)
        if ig.ref != nbound:
            out.append(f"{ig.name}.ref = {ig.ref}, expected {nbound}")
        if ictx.groups.get(ig.group.id) is not ig:
            out.append(f"{ig.name} missing from ictx->groups")
        if ig.lock.is_locked():
            out.append(f"{ig.lock.name} still held")
        if (ig.hwpt is None) != (not ig.device_list):
            out.append(f"{ig.name}: hwpt and device_list disagree")
    for gid, ig in ictx.groups.items():
        if ig not in igroups:
            out.append(f"ictx->groups[{gid}] = {ig.name} has no bound device")

    for group in system.groups:
        nbound = sum(1 for idev in idevs if idev.dev.group is group)
        if nbound and (group.owner is not ictx or group.owner_cnt != nbound):
            out.append(f"{group.name} owner_cnt = {group.owner_cnt}, expected {nbound}")
        ig = ictx.groups.get(group.id)
        if ig is not None and ig.hwpt is not None:
            want = ig.hwpt.domain
        elif nbound:
            want = group.blocking_domain
        elif group.owner is None:
            want = group.default_domain
        else:
            want = group.domain
        if group.domain is not want:
            out.append(f"{group.name}.domain = {group.domain}, expected {want}")
        if group.domain is not None and group.domain.freed:
            out.append(f"{group.name} is attached to freed {group.domain.name}")
        if group.mutex.is_locked():
            out.append(f"{group.mutex.name} still held")
    return out


def _access_problems(system: System, accesses: list[Any], ioases: list[Any]) -> list[str]:
    out: list[str] = []
    for access in accesses:
        name = access.obj.name
        if access.obj.users != 2:
            out.append(f"{name}.users = {access.obj.users}, expected 2")
        if access.ioas is not access.ioas_unpin:
            out.append(f"{name}: ioas and ioas_unpin differ")
        if access.ioas_lock.is_locked():
            out.append(f"{access.ioas_lock.name} still held")
        if access.data.lock.is_locked():
            out.append(f"{access.data.lock.name} still held")
        if access.data.file_refs != 1:
            out.append(f"{name}: its file has {access.data.file_refs} references, expected 1")
    for ioas in ioases:
        listed = {id(a) for a in ioas.iopt.access_list.values()}
        if listed != {id(a) for a in accesses if a.ioas is ioas}:
            out.append(f"{ioas.obj.name}.iopt.access_list does not match its accesses")
        pinned = sum(area.num_accesses for area in ioas.iopt.areas.values())
        items = sum(
            len(iopt_area_iter(ioas.iopt, item.iova, item.iova + item.length - 1))
            for staccess in system.access_files.values()
            if staccess.access is not None and staccess.access.ioas is ioas
            for item in staccess.items
        )
        if pinned != items:
            out.append(f"{ioas.obj.name}: {pinned} pins on its areas, {items} by access items")
    # the pages of an area an IOMMU_IOAS_COPY made are shared by areas of two IOASes
    by_pages: dict[int, tuple[Any, int]] = {}
    for ioas in ioases:
        for area in ioas.iopt.areas.values():
            if area.pages is not None:
                pages, n = by_pages.get(id(area.pages), (area.pages, 0))
                by_pages[id(area.pages)] = (pages, n + area.num_accesses)
    for pages, n in by_pages.values():
        users = sum(pages.accesses.values())
        if users != n:
            out.append(f"{pages.mutex.name}: {users} pins on the pages, {n} by their areas")
    return out


def check(system: System) -> None:
    """Raise `InvariantViolation` listing every broken invariant of ``system``."""
    found = problems(system)
    if found:
        raise InvariantViolation("; ".join(found))
