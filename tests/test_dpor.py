"""DPOR explores one execution per Mazurkiewicz trace and finds what naive search finds.

The trace counts come from `scheduler.traces`, which enumerates every interleaving with
naive dfs and classifies them by happens-before, with its own dependency relation.
"""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scheduler import LockClass, Mutex, Program, RwSem, SpinLock, explore, point, replay
from lockstep.scheduler.dpor import dependent
from lockstep.scheduler.events import (
    ACQUIRE,
    FREE,
    PEEK,
    QUEUE_READER,
    QUEUE_WRITER,
    READ,
    READ_ACQUIRE,
    READ_RELEASE,
    RELEASE,
    WRITE,
    Footprint,
)
from lockstep.scheduler.traces import count_traces


def findings_of(result):
    return {(f.kind, tuple(sorted(f.classes))) for f in result.findings}


def contention(n: int):
    """``n`` actors take one mutex and write a shared object under it."""

    def program() -> Program:
        m = Mutex(LockClass("M"))

        def actor():
            async def run():
                async with m:
                    await point("x")

            return run

        return Program({f"t{i}": actor() for i in range(n)})

    return program


def readers_and_writer() -> Program:
    """Two readers and a writer on one rwsem, reading or writing a shared object under it:
    readers commute, the writer does not."""
    sem = RwSem(LockClass("S"))

    async def reader():
        async with sem.read():
            await point("shared", write=False)

    async def writer():
        async with sem.write():
            await point("shared")

    return Program({"r1": reader, "r2": reader, "w": writer})


def trylocks() -> Program:
    """A trylock that may fail (no wait, no effect) beside a blocking lock."""
    m, s = Mutex(LockClass("M")), SpinLock(LockClass("S"))

    async def t1():
        if await m.trylock():
            await point("x")
            await m.unlock()
        async with s:
            await point("y")

    async def t2():
        async with m:
            await point("x", write=False)
        async with s:
            pass

    return Program({"t1": t1, "t2": t2})


def counter() -> Program:
    state = {"n": 0}

    def inc():
        async def run():
            await point("n", write=False)
            value = state["n"]
            await point("n")
            state["n"] = value + 1

        return run

    return Program({"a": inc(), "b": inc(), "c": inc()})


PROGRAMS = {
    "contention-2": contention(2),
    "contention-3": contention(3),
    "readers-and-writer": readers_and_writer,
    "trylocks": trylocks,
    "counter": counter,
}
#: toys and iommufd scenarios whose interleavings can be enumerated in a few seconds
#: (rwsem-reader-writer has too many since every release became a scheduling point; its
#: rwsem rules are covered by readers-and-writer here and by tests/test_differential.py)
SCENARIOS = [
    "abba",
    "aa",
    "nested-ok",
    "held-at-return",
    "bad-unlock",
    "sleep-in-atomic",
    "selftest-device",
    "replace-vs-destroy",
]


def _program(name):
    return PROGRAMS[name] if name in PROGRAMS else scenarios.get(name).program


@pytest.mark.parametrize("name", sorted(PROGRAMS) + SCENARIOS)
def test_dpor_runs_one_execution_per_trace(name):
    program = _program(name)
    counted = count_traces(program)
    result = explore(program, scenario=name, lockdep=False)
    assert result.exhausted
    assert result.executions == counted.traces, (result.executions, counted)
    assert counted.traces <= counted.interleavings


#: naive search of these takes seconds; test_toys and test_model_scenarios pin their findings
SLOW = {"replace-vs-destroy"}


@pytest.mark.parametrize("name", sorted(PROGRAMS) + [s for s in SCENARIOS if s not in SLOW])
def test_dpor_finds_what_naive_search_finds(name):
    program = _program(name)
    naive = explore(program, strategy="naive-dfs", scenario=name)
    dpor = explore(program, scenario=name)
    assert naive.exhausted and dpor.exhausted
    assert findings_of(dpor) == findings_of(naive)
    for finding in dpor.findings:
        replayed = replay(program, finding.schedule)
        assert finding.kind in {f.kind for f in replayed.findings}


def test_dpor_exhausts_the_three_actor_cycle():
    """abbcca: one execution per order in which the three locks are taken: 2^3 orders, one
    of them a cycle that deadlocks and one a cycle that cannot happen."""
    result = explore(scenarios.get("abbcca").program, scenario="abbcca")
    assert result.exhausted and result.executions == 7
    assert findings_of(result) == {
        ("circular-dependency", ("A", "B", "C")),
        ("deadlock", ("A", "B", "C")),
    }


def test_dependency_relation():
    def fp(key, mode):
        return Footprint.of(key, mode)

    w, r = fp("x", WRITE), fp("x", READ)
    acq, rel = fp("L", ACQUIRE), fp("L", RELEASE)
    racq, rrel = fp("L", READ_ACQUIRE), fp("L", READ_RELEASE)
    assert dependent(w, r) and dependent(w, w) and not dependent(r, r)
    assert not dependent(w, fp("y", WRITE))
    assert dependent(acq, rel) and dependent(acq, acq) and dependent(racq, acq)
    assert not dependent(racq, racq) and not dependent(racq, rrel)
    assert not dependent(acq, fp("M", ACQUIRE)), "different lock instances"
    assert dependent(fp("L", PEEK), acq) and not dependent(fp("L", PEEK), fp("L", PEEK))
    assert dependent(fp("L", FREE), racq)
    assert dependent(fp("L", QUEUE_WRITER), fp("L", QUEUE_READER))
    assert not dependent(fp("L", QUEUE_READER), fp("L", QUEUE_READER))
    assert not dependent(None, w), "an actor's first step touches only its own state"
    both = Footprint({"x": READ, "L": ACQUIRE})
    assert dependent(both, w) and dependent(both, rel) and not dependent(both, r)


def test_preemption_bound_limits_both_searches():
    program = contention(3)
    full = explore(program, strategy="naive-dfs", scenario="c3")
    for bound in (0, 1, 2):
        naive = explore(program, strategy="naive-dfs", scenario="c3", preemption_bound=bound)
        dpor = explore(program, scenario="c3", preemption_bound=bound)
        assert naive.exhausted and dpor.exhausted
        assert dpor.executions <= naive.executions < full.executions
    assert explore(program, strategy="naive-dfs", preemption_bound=0).executions == 1 * 6


def test_preemption_bound_zero_still_finds_abba_inversion():
    """Without preemptions the actors run one after another: lockdep still sees both orders."""
    result = explore(scenarios.get("abba").program, scenario="abba", preemption_bound=0)
    assert findings_of(result) == {("circular-dependency", ("A", "B"))}
    one = explore(scenarios.get("abba").program, scenario="abba", preemption_bound=1)
    assert ("deadlock", ("A", "B")) in findings_of(one)


def test_explore_reports_progress_after_every_execution():
    seen = []
    result = explore(contention(2), scenario="c2", progress=lambda n, f: seen.append((n, f)))
    assert [n for n, _ in seen] == list(range(1, result.executions + 1))


def test_fault_points_stay_independent_when_a_fault_is_injected():
    """fail_nth counts per actor, as the kernel's counts per task: which actor reaches a
    fault point first does not decide which point fails, so one execution covers each
    fault choice, and every interleaving fails the same actor's point."""
    from lockstep.scheduler import fault_point
    from lockstep.scheduler.dpor import Dpor
    from lockstep.scheduler.runtime import Execution
    from lockstep.scheduler.strategies import DepthFirst

    failed: list[tuple[str, ...]] = []

    def program():
        async def a():
            if await fault_point("kzalloc", 12):
                failed.append(("a",))

        async def b():
            if await fault_point("kzalloc", 12):
                failed.append(("b",))

        return {"a": a, "b": b}

    def runs(strategy, fail_nth):
        count = 0
        failed.clear()
        while (chooser := strategy.next_chooser()) is not None:
            Execution(program, chooser, fail_nth=fail_nth).run()
            count += 1
        return count

    assert runs(Dpor(), None) == 1
    for fail, who in (((0, 1), "a"), ((1, 1), "b")):
        assert runs(Dpor(), fail) == 1
        assert failed == [(who,)]
        naive = runs(DepthFirst(), fail)
        assert naive > 1 and failed == [(who,)] * naive
