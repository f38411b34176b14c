"""The lock-class graph the shipped iommufd scenarios produce is the order of reference §3.

Exploration records lockdep's direct edges: from the most recent blocking-held lock and from
every trylock-held lock above it (``check_prevs_add``). The expected graph below is §3 written
as those direct edges, each with the §3 item it comes from. "Trylock out-edges" generalises
item 4: an ioctl holds each object it looked up through ``iommufd_get_object`` (a trylock of
that type's destroy_rwsem), so lockdep records an edge from it to whatever the ioctl blocks on
next. The test wants the same edges and none extra.
"""

from __future__ import annotations

import networkx as nx

from lockstep.scenarios.iommufd import SCENARIOS
from tests.model_support import CAPPED, explored

IOAS_MUTEX = "&ioas->mutex"
IGROUP = "&igroup->lock"
GROUP = "&group->mutex"
DOMAINS = "&iopt->domains_rwsem"
IOVA = "&iopt->iova_rwsem"
PAGES = "&pages->mutex"
OBJECTS_XA = "&ictx->objects.xa_lock"
GROUPS_XA = "&ictx->groups.xa_lock"
#: ``dev_set->lock``, held by every VFIO cdev ioctl across its iommufd calls
DEV_SET = "&new_dev_set->lock"
VFIO_GROUP = "&group->group_lock"
ACCESS_IOAS = "&access->ioas_lock"
STACCESS = "&staccess->lock"
ACCESS_LIST_XA = "&iopt->access_list.xa_lock"


def destroy_rwsem(kind: str) -> str:
    return f"&obj->destroy_rwsem/{kind}"


EXPECTED: dict[tuple[str, str], str] = {
    (IOAS_MUTEX, IGROUP): "§3.1 auto_get_domain -> do_attach/do_replace",
    (IOAS_MUTEX, DOMAINS): "§3.2 iopt_table_add_domain in hwpt_alloc",
    (DOMAINS, IOVA): "§3.7 add/remove domain, map, unmap",
    (DOMAINS, PAGES): "§3.8 fill_domains_pages in map, unfill in unmap",
    (destroy_rwsem("hwpt"), IGROUP): "§3.4 auto_get_domain's iommufd_lock_obj(hwpt)",
    (IGROUP, GROUP): "§3.5 iommu_attach_group / replace_domain / detach_group",
    (IGROUP, IOVA): "§3.6 enforce_dev_resv_regions, remove_reserved_iova",
    (destroy_rwsem("hwpt"), OBJECTS_XA): "§3.10 __iommufd_object_destroy_user(hwpt)",
    (destroy_rwsem("device"), OBJECTS_XA): "§3.10 __iommufd_object_destroy_user(idev)",
    (destroy_rwsem("selftest"), destroy_rwsem("hwpt")): "§3.11 MOCK_DOMAIN_REPLACE",
    (IOAS_MUTEX, OBJECTS_XA): "§3.12 finalize (xa_store) under ioas->mutex",
    (destroy_rwsem("selftest"), OBJECTS_XA): "§3.12 + trylock out-edges: replace's lookups",
    (destroy_rwsem("selftest"), IOAS_MUTEX): "trylock out-edges: replace -> auto_get_domain",
    (destroy_rwsem("selftest"), IGROUP): "trylock out-edges: replace -> do_replace",
    (destroy_rwsem("selftest"), DOMAINS): "trylock out-edges: replace puts the old auto hwpt",
    (destroy_rwsem("device"), IOAS_MUTEX): "trylock out-edges: HWPT_ALLOC's get_device",
    (destroy_rwsem("ioas"), IOAS_MUTEX): "trylock out-edges: HWPT_ALLOC's get_ioas",
    (destroy_rwsem("ioas"), DOMAINS): "trylock out-edges: IOAS_MAP / IOAS_UNMAP",
    (destroy_rwsem("ioas"), IOVA): "trylock out-edges: IOAS_MAP's iopt_alloc_area_pages",
    (DEV_SET, GROUP): "VFIO bind: iommu_device_claim_dma_owner under dev_set->lock",
    (DEV_SET, GROUPS_XA): "VFIO bind: iommufd_get_group under dev_set->lock",
    (DEV_SET, OBJECTS_XA): "VFIO bind / attach: object alloc and lookup",
    (DEV_SET, IGROUP): "VFIO attach / detach: do_attach, do_replace, hw_pagetable_detach",
    (DEV_SET, IOAS_MUTEX): "VFIO attach: auto_get_domain",
    (DEV_SET, DOMAINS): "VFIO detach: the put of the last auto hwpt removes its domain",
    (DEV_SET, destroy_rwsem("device")): "VFIO close: iommufd_device_unbind destroys the idev",
    (DEV_SET, destroy_rwsem("hwpt")): "VFIO detach / replace: destroy of the old auto hwpt",
    (VFIO_GROUP, DEV_SET): "VFIO group path: vfio_df_group_open/close, group_lock first",
    (ACCESS_IOAS, OBJECTS_XA): "access attach / replace: iommufd_get_ioas under ioas_lock",
    (ACCESS_IOAS, DOMAINS): "access attach / replace / detach: iopt_add/remove_access",
    (ACCESS_IOAS, IOVA): "access pin / unpin: iova_rwsem (read) under ioas_lock",
    (IOVA, ACCESS_LIST_XA): "iopt_add/remove_access: xa_alloc / xa_erase of access_list",
    (IOVA, PAGES): "§3.8 iopt_fill_domain in add_domain; iopt_area_add_access",
    (STACCESS, ACCESS_IOAS): "selftest ACCESS_PAGES and the unmap op: pin / unpin",
    (destroy_rwsem("access"), OBJECTS_XA): "close of the access file: destroy_user(access)",
    (destroy_rwsem("access"), STACCESS): "notify_unmap: the unmap op under iommufd_lock_obj",
    (destroy_rwsem("ioas"), ACCESS_IOAS): "trylock out-edges: replace re-locks after the op",
    (destroy_rwsem("ioas"), ACCESS_LIST_XA): "trylock out-edges: IOAS_UNMAP's notify_unmap",
    (destroy_rwsem("ioas"), STACCESS): "trylock out-edges: unmap op in replace / IOAS_UNMAP",
}

#: Orders §3 and §4 say the merged code never has (B8: no iova_rwsem -> group->mutex).
FORBIDDEN = [
    (IOVA, GROUP),
    (IGROUP, IOAS_MUTEX),
    (GROUP, IGROUP),
    (IGROUP, DOMAINS),
    (DOMAINS, IOAS_MUTEX),
    (IOAS_MUTEX, destroy_rwsem("hwpt")),
]


def _observed() -> set[tuple[str, str]]:
    edges: set[tuple[str, str]] = set()
    for scenario in SCENARIOS:
        result = explored(scenario.name).result
        assert result.exhausted or scenario.name in CAPPED
        edges |= {(e.prev, e.next) for e in result.edges}
    return edges


def test_lock_graph_is_reference_order() -> None:
    observed = _observed()
    missing = sorted(set(EXPECTED) - observed)
    extra = sorted(observed - set(EXPECTED))
    assert not missing, f"edges §3 has and the scenarios never produced: {missing}"
    assert not extra, f"edges the scenarios produced that §3 does not allow: {extra}"
    for edge in FORBIDDEN:
        assert edge not in observed
    graph = nx.DiGraph(list(observed))
    assert nx.is_directed_acyclic_graph(graph)
    # ioas->mutex is outermost of the object locks (below only the caller's dev_set->lock and
    # the ioctls' trylocked objects); the xa_locks and group->mutex innermost
    assert graph.in_degree(IOAS_MUTEX) == len(
        [
            e
            for e in observed
            if e[1] == IOAS_MUTEX and (e[0].startswith("&obj->destroy_rwsem") or e[0] == DEV_SET)
        ]
    )
    # the callers' locks come first: the legacy path's group_lock, then dev_set->lock
    assert graph.in_degree(VFIO_GROUP) == 0
    assert list(graph.predecessors(DEV_SET)) == [VFIO_GROUP]
    for inner in (OBJECTS_XA, GROUP):
        assert graph.out_degree(inner) == 0
    assert GROUPS_XA not in graph or graph.out_degree(GROUPS_XA) == 0
