"""lib/locking-selftest.c's non-IRQ families on this lockdep: each test runs the selftest's
sequence in one task, as ``dotest()`` does, and expects its FAILURE (a lockdep report) or
SUCCESS (none). The lock types are the selftest's columns: spin (`SpinLock`), wlock and
rlock (`RwLock`'s write_lock and read_lock, recursive readers as with the selftests'
``force_read_lock_recursive``), mutex (`Mutex`), wsem and rsem (`RwSem`'s down_write and
down_read). Locks X1 and X2 share a class, as the selftest's ``init_class_X`` gives them.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.scheduler import LockClass, Mutex, Program, RwLock, RwSem, SpinLock, explore

#: the selftest's macros: (lock type, method, instance)
OPS = {
    "L": (SpinLock, "lock"),
    "U": (SpinLock, "unlock"),
    "RL": (RwLock, "read_lock"),
    "RU": (RwLock, "read_unlock"),
    "WL": (RwLock, "write_lock"),
    "WU": (RwLock, "write_unlock"),
    "ML": (Mutex, "lock"),
    "MU": (Mutex, "unlock"),
    "RSL": (RwSem, "down_read"),
    "RSU": (RwSem, "up_read"),
    "WSL": (RwSem, "down_write"),
    "WSU": (RwSem, "up_write"),
    "INIT": (None, "init"),
}
#: LOCK and UNLOCK of each column (locking-selftest-{spin,wlock,rlock,mutex,wsem,rsem}.h)
COLUMNS = {
    "spin": ("L", "U"),
    "wlock": ("WL", "WU"),
    "rlock": ("RL", "RU"),
    "mutex": ("ML", "MU"),
    "wsem": ("WSL", "WSU"),
    "rsem": ("RSL", "RSU"),
}
LOCKDEP_REPORTS = {"recursive-locking", "circular-dependency", "bad-unlock", "held-lock-freed"}


def run(sequence: list[str]) -> set[str]:
    """Run ``sequence`` (``"RL X1"``...) in one task; the kinds of the lockdep reports."""

    def program() -> Program:
        locks: dict[str, object] = {}

        async def task() -> None:
            for step in sequence:
                macro, name = step.split()
                kind, method = OPS[macro]
                if name not in locks:
                    assert kind is not None
                    locks[name] = kind(LockClass(name.rstrip("0123456789")), name=name)
                lock = locks[name]
                await getattr(lock, method)() if method != "init" else lock.init()

        return Program({"selftest": task})

    result = explore(program, scenario="locking-selftest")
    assert result.exhausted
    return {f.kind for f in result.findings} & LOCKDEP_REPORTS


def lock_unlock_2(lock: str, unlock: str, pairs: str) -> list[str]:
    """``LOCK_UNLOCK_2(a, b)`` for each pair of ``pairs`` (``"AB BA"``)."""
    return [
        step
        for a, b in pairs.split()
        for step in (f"{lock} {a}", f"{lock} {b}", f"{unlock} {b}", f"{unlock} {a}")
    ]


#: the six-column families (DO_TESTCASE_6R: every column fails but rlock's): their pairs
DEADLOCKS = {
    "ABBA": "AB BA",
    "ABBCCA": "AB BC CA",
    "ABCABC": "AB CA BC",
    "ABBCCDDA": "AB BC CD DA",
    "ABCDBDDA": "AB CD BD DA",
    "ABCDBCDA": "AB CD BC DA",
}
#: the six-column families: the sequence of LOCK and UNLOCK, and the columns that succeed
SIX = {
    "AA": (lambda lk, u: [f"{lk} X1", f"{lk} X2"], {"rlock"}),
    **{
        name: (lambda lk, u, pairs=pairs: lock_unlock_2(lk, u, pairs), {"rlock"})
        for name, pairs in DEADLOCKS.items()
    },
    "double_unlock": (lambda lk, u: [f"{lk} A", f"{u} A", f"{u} A"], set()),
    "init_held": (lambda lk, u: [f"{lk} A", "INIT A"], set()),
}


@pytest.mark.parametrize(
    ("family", "column"), list(itertools.product(SIX, COLUMNS)), ids=lambda x: x
)
def test_six_column_families(family: str, column: str) -> None:
    sequence, succeed = SIX[family]
    reports = run(sequence(*COLUMNS[column]))
    assert bool(reports) == (column not in succeed), reports


#: the read-lock tests: sequence and whether the selftest expects FAILURE
READ_LOCK_TESTS = {
    "rlock_AA1": ("RL X1, RL X1", False),
    "rsem_AA1": ("RSL X1, RSL X1", True),
    "rlock_AA1B": ("RL X1, RL X2", False),
    "rsem_AA1B": ("RSL X1, RSL X2", True),
    "rlock_AA2": ("RL X1, WL X2", True),
    "rsem_AA2": ("RSL X1, WSL X2", True),
    "rlock_AA3": ("WL X1, RL X2", True),
    "rsem_AA3": ("WSL X1, RSL X2", True),
    "rlock_ABBA1": ("RL X1, L Y1, U Y1, RU X1, L Y1, WL X1, WU X1, U Y1", True),
    "rwsem_ABBA1": ("RSL X1, ML Y1, MU Y1, RSU X1, ML Y1, WSL X1, WSU X1, MU Y1", True),
    "rlock_chaincache_ABBA1": (
        "RL X1, L Y1, U Y1, RU X1, L Y1, RL X1, RU X1, U Y1, L Y1, WL X1, WU X1, U Y1",
        True,
    ),
    "rlock_ABBA2": ("RL X1, L Y1, U Y1, RU X1, L Y1, RL X1, RU X1, U Y1", False),
    "rwsem_ABBA2": ("RSL X1, ML Y1, MU Y1, RSU X1, ML Y1, RSL X1, RSU X1, MU Y1", True),
    "rlock_ABBA3": ("WL X1, L Y1, U Y1, WU X1, L Y1, WL X1, WU X1, U Y1", True),
    "rwsem_ABBA3": ("WSL X1, ML Y1, MU Y1, WSU X1, ML Y1, WSL X1, WSU X1, MU Y1", True),
}


@pytest.mark.parametrize("name", sorted(READ_LOCK_TESTS))
def test_read_lock_families(name: str) -> None:
    sequence, fails = READ_LOCK_TESTS[name]
    reports = run(sequence.split(", "))
    assert bool(reports) == fails, reports


#: GENERATE_PERMUTATIONS_3_EVENTS families of rwlocks: E1, E2, E3 and the expectation
THREE_EVENTS = {
    # write-read / write-read / write-read deadlock even if read is recursive
    "W1R2_W2R3_W3R1": (
        ("WL X1, RL Y1, RU Y1, WU X1", "WL Y1, RL Z1, RU Z1, WU Y1", "WL Z1, RL X1, RU X1, WU Z1"),
        True,
    ),
    # write-write / read-read / write-read deadlock even if read is recursive
    "W1W2_R2R3_W3R1": (
        ("WL X1, WL Y1, WU Y1, WU X1", "RL Y1, RL Z1, RU Z1, RU Y1", "WL Z1, RL X1, RU X1, WU Z1"),
        True,
    ),
    # write-write / read-read / read-write is not deadlock when read is recursive
    "W1R2_R2R3_W3W1": (
        ("WL X1, WL Y1, WU Y1, WU X1", "RL Y1, RL Z1, RU Z1, RU Y1", "RL Z1, WL X1, WU X1, RU Z1"),
        False,
    ),
    # write-read / read-read / write-write is not deadlock when read is recursive
    "W1W2_R2R3_R3W1": (
        ("WL X1, RL Y1, RU Y1, WU X1", "RL Y1, RL Z1, RU Z1, RU Y1", "WL Z1, WL X1, WU X1, WU Z1"),
        False,
    ),
}


@pytest.mark.parametrize(
    ("family", "order"),
    [(f, "".join(map(str, p))) for f in THREE_EVENTS for p in itertools.permutations((1, 2, 3))],
    ids=lambda x: x,
)
def test_recursive_read_families(family: str, order: str) -> None:
    """Each family in its six orders (``GENERATE_PERMUTATIONS_3_EVENTS``): whether a cycle
    through recursive readers is a deadlock does not depend on which edge came last."""
    events, fails = THREE_EVENTS[family]
    sequence = [step for n in order for step in events[int(n) - 1].split(", ")]
    reports = run(sequence)
    assert bool(reports) == fails, reports


def _strong_walk_exists(
    edges: dict[tuple[str, str], int], source: str, target: str, closing: int
) -> bool:
    """Brute force: a walk of typed edges from ``source`` to ``target``, at most one edge
    per state longer than the states there are, with no ``-(xR)->`` followed by
    ``-(Sx)->`` along it or where ``target -> source`` (of type ``closing``) closes it."""
    from lockstep.scheduler.lockdep import EN, ER, SN, SR

    ends_r = {ER: True, SR: True, EN: False, SN: False}
    starts_s = {SN: True, SR: True, EN: False, ER: False}
    nodes = {a for a, _ in edges} | {b for _, b in edges} | {source, target}
    limit = 2 * len(nodes) + 1

    def walk(node: str, last: int, length: int) -> bool:
        if length and node == target and not (ends_r[last] and starts_s[closing]):
            return True
        if length == limit:
            return False
        for (a, b), types in edges.items():
            for t in (EN, ER, SN, SR):
                if a != node or not types & t:
                    continue
                if ends_r[last] and starts_s[t]:
                    continue
                if walk(b, t, length + 1):
                    return True
        return False

    return walk(source, closing, 0)


TYPES = st.sampled_from([1, 2, 4, 8, 3, 5, 12, 15])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.dictionaries(
        st.tuples(st.sampled_from("ABCD"), st.sampled_from("ABCD")).filter(lambda e: e[0] != e[1]),
        TYPES,
        max_size=6,
    ),
    st.tuples(st.sampled_from("ABCD"), st.sampled_from("ABCD")).filter(lambda e: e[0] != e[1]),
    st.sampled_from([1, 2, 4, 8]),
)
def test_the_strong_path_search_against_brute_force(edges, new, closing):
    """Lockdep's search (a breadth-first search over lock and how it was entered) finds a
    cycle exactly when a brute-force enumeration of typed walks finds a strong one."""
    from lockstep.scheduler.lockdep import Edge, Lockdep

    graph = Lockdep()
    for (a, b), types in edges.items():
        graph.graph.setdefault(a, {})[b] = Edge(a, b, None, None, 0, types)
    prev, nxt = new
    found = graph._bfs(nxt, prev, closing)
    assert (found is not None) == _strong_walk_exists(edges, nxt, prev, closing)
    if found is not None:
        assert found[0].prev == nxt and found[-1].next == prev
