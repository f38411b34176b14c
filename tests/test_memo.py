"""The end-state memo (scheduler/memo.py): a post part and end check run once per end state.

The references are the real post parts: ``PostMemo.check_hits`` runs the post part on every
hit too and fails if it did not do what the memo says (clean, the same steps, the same
lock-graph pairs); and an exploration with the memo gives what the same exploration without
it gives, finding for finding, edge for edge.
"""

from __future__ import annotations

import enum

import attrs
import pytest

from lockstep import scenarios
from lockstep.scenarios import variants
from lockstep.scheduler import (
    InvariantViolation,
    Mutex,
    Program,
    access,
    explore,
    fault_injected,
    fault_point,
    point,
)
from lockstep.scheduler import memo as memo_module
from lockstep.scheduler import snapshot as snapshot_module
from lockstep.scheduler.access import SharedDict, SharedList, SharedSet, shared
from lockstep.scheduler.events import WRITE
from lockstep.scheduler.locks import LockClass
from lockstep.scheduler.memo import PostMemo

NAMES = [s.name for s in scenarios.all_scenarios()]
#: executions per exploration here, and per fault choice with faults: enough for end
#: states to come round again
CAP = {False: 120, True: 6}


@pytest.fixture
def snapshots(monkeypatch):
    """The setup snapshots of the explorations the test runs, in order."""
    made: list[snapshot_module.SetupSnapshot] = []
    init = snapshot_module.SetupSnapshot.__init__

    def keep(self):
        init(self)
        made.append(self)

    monkeypatch.setattr(snapshot_module.SetupSnapshot, "__init__", keep)
    return made


@pytest.fixture
def memos(snapshots):
    """The end-state memos of the explorations the test runs, in order."""

    class Memos:
        def __getitem__(self, i):
            return snapshots[i].post

    return Memos()


def without_memo(program):
    def built():
        return attrs.evolve(program(), post_reads_state=False)

    built.__qualname__ = program.__qualname__
    return built


def everything(result):
    return (
        result.executions,
        result.exhausted,
        [(f.kind, f.classes, f.schedule, f.message, f.key) for f in result.findings],
        result.edges,
        dict(result.counts),
        result.fault_points,
    )


@pytest.mark.parametrize("faults", [False, True], ids=["plain", "faults"])
@pytest.mark.parametrize("name", NAMES)
def test_each_hit_is_what_the_post_part_does(name, faults, snapshots, monkeypatch):
    monkeypatch.setattr(PostMemo, "check_hits", True)
    explore(scenarios.get(name).program, scenario=name, faults=faults, executions=CAP[faults])
    [snapshot] = snapshots
    # the toy scenarios have no setup to copy, and the memo serves only restored executions
    assert snapshot.post._kept or not snapshot.restored


@pytest.mark.parametrize("faults", [False, True], ids=["plain", "faults"])
@pytest.mark.parametrize("name", NAMES)
def test_scenario_explores_the_same_with_the_memo(name, faults, memos):
    program = scenarios.get(name).program
    options = dict(scenario=name, faults=faults, executions=CAP[faults])
    memo = explore(program, **options)
    plain = explore(without_memo(program), **options)
    assert everything(memo) == everything(plain)
    assert memos[1].hits == 0
    if memo.executions > len(memos[0]._kept) + 1 and memos[0]._kept:
        assert memos[0].hits > 0


@pytest.mark.parametrize("name", [v.name for v in variants.VARIANTS])
def test_variant_explores_the_same_with_the_memo(name):
    variant = variants.get(name)
    program = scenarios.get(variant.scenario).with_variant(variant.flags)
    options = dict(scenario=variant.scenario, faults=variant.faults, executions=CAP[variant.faults])
    memo = explore(program, **options)
    assert everything(memo) == everything(explore(without_memo(program), **options))
    assert memo.findings


@shared
@attrs.define(slots=False, eq=False)
class Counter:
    n: int = 0
    seen: int = 0
    note: object = None


def copied(actors, post, post_reads_state, check=None) -> Program:
    """``actors`` then ``post``, after a setup of one point that the exploration copies."""

    async def setup():
        await point()

    return Program(
        actors,
        setup=setup,
        post=post,
        check=check,
        copy_setup=True,
        post_reads_state=post_reads_state,
    )


def counting(post_reads_state=True, note=None, declared=False, post_fails=False, untracked=None):
    """Three actors each add one under a lock: six orders, one end state (n = 3)."""

    def program() -> Program:
        lock = Mutex(LockClass("&counter->lock"))
        c = Counter()

        async def adder():
            async with lock:
                c.n += 1
                if note is not None:
                    c.note = note()
            if declared:
                await point("elsewhere", write=True)

        async def post():
            async with lock:
                c.seen = c.n
            if untracked is not None and untracked():
                async with lock:
                    pass

        def check():
            if post_fails:
                raise InvariantViolation(f"n = {c.seen}")

        return copied({"t1": adder, "t2": adder, "t3": adder}, post, post_reads_state, check)

    return program


def test_a_repeated_end_state_skips_the_post_part(memos):
    result = explore(counting(), strategy="dfs")
    assert result.executions == 6 and result.clean
    # the first execution builds the setup; the second runs its post part and keeps it
    assert len(memos[0]._kept) == 1 and memos[0].hits == 4
    off = explore(counting(post_reads_state=False), strategy="dfs")
    assert everything(off) == everything(result)
    assert memos[1].hits == 0


def test_the_memo_keeps_the_post_parts_lock_pairs(memos):
    result = explore(counting(), strategy="random", executions=20, seed=3)
    off = explore(counting(post_reads_state=False), strategy="random", executions=20, seed=3)
    assert memos[0].hits == 18
    assert dict(result.counts) == dict(off.counts)


@pytest.mark.parametrize(
    "program",
    [
        counting(note=lambda: ([1],)),  # a plain list in a tuple: mutable and untracked
        counting(note=object),  # an object nobody can name across executions
        counting(declared=True),  # a write declared by hand, of state nobody tracks
    ],
    ids=["plain-list", "bare-object", "declared-write"],
)
def test_an_end_state_without_a_fingerprint_runs_its_post_part(program, memos):
    explore(program, strategy="dfs")
    assert memos[0].hits == 0 and not memos[0]._kept


def test_a_post_part_that_finds_something_runs_every_time(memos):
    result = explore(counting(post_fails=True), strategy="random", executions=5)
    assert [f.kind for f in result.findings] == ["invariant"]
    assert memos[0].hits == 0 and not memos[0]._kept


#: how often `every_other` was asked: module-level, so that no setup copy copies it
POST_RUNS: list[int] = []


def every_other() -> bool:
    POST_RUNS.append(1)
    return len(POST_RUNS) % 2 == 0


def test_check_hits_catches_a_post_part_that_reads_untracked_state(memos, monkeypatch):
    POST_RUNS.clear()
    monkeypatch.setattr(PostMemo, "check_hits", True)
    with pytest.raises(AssertionError, match="one end state, two post parts"):
        explore(counting(untracked=every_other), strategy="random", executions=4)


def test_the_memo_is_bounded(memos, monkeypatch):
    monkeypatch.setattr(PostMemo, "LIMIT", 0)
    explore(counting(), strategy="dfs")
    assert memos[0].hits == 0 and not memos[0]._kept


def trylock_either_way(post_reads_state: bool) -> Program:
    """One end state after two step counts: t1's trylock succeeds (2 steps) or fails and
    t1 takes 4 more points; the post part takes 3 steps."""
    lock = Mutex(LockClass("&l"))

    async def t1():
        if await lock.trylock():
            await lock.unlock()
        else:
            for _ in range(4):
                await point()

    async def t2():
        async with lock:
            await point()

    async def post():
        for _ in range(3):
            await point()

    return copied({"t1": t1, "t2": t2}, post, post_reads_state)


@pytest.mark.parametrize("bound", range(8, 13))
def test_a_hit_past_the_step_bound_runs_the_post_part(bound, memos, monkeypatch):
    with_memo = explore(lambda: trylock_either_way(True), step_bound=bound)
    without = explore(lambda: trylock_either_way(False), step_bound=bound)
    assert everything(with_memo) == everything(without)
    monkeypatch.setattr(PostMemo, "check_hits", True)
    explore(lambda: trylock_either_way(True), step_bound=bound)


def reads_or_faults(post_reads_state: bool) -> Program:
    """t0's fault point fires or is never reached, leaving the same state; the post part
    tolerates a failure only after an injected fault, as the scenarios' does."""
    c = Counter()

    async def t0():
        if c.seen + c.n == 0 or c.n == 0:
            await fault_point("kzalloc", 12)

    async def t1():
        await point()
        c.seen = 1

    async def t2():
        await point()
        c.n = 1

    async def post():
        await point()
        if c.n == 1 and not fault_injected():
            raise InvariantViolation("a post operation failed")

    return copied({"t0": t0, "t1": t1, "t2": t2}, post, post_reads_state)


def test_an_injected_fault_is_part_of_the_end_state(memos, monkeypatch):
    with_memo = explore(lambda: reads_or_faults(True), fail_nth=(0, 1))
    without = explore(lambda: reads_or_faults(False), fail_nth=(0, 1))
    assert everything(with_memo) == everything(without)
    assert [f.kind for f in with_memo.findings] == ["invariant"]
    monkeypatch.setattr(PostMemo, "check_hits", True)
    explore(lambda: reads_or_faults(True), fail_nth=(0, 1))


class Level(enum.IntEnum):
    ONE = 1


def test_an_int_enum_and_its_int_are_two_states():
    assert memo_module._value(Level.ONE) != memo_module._value(1)
    assert memo_module._value(True) != memo_module._value(1)


@pytest.mark.parametrize(
    "make, mutate",
    [
        (SharedList, lambda c: c.__imul__(2)),
        (SharedDict, lambda c: c.__ior__({1: 2})),
        (SharedSet, lambda c: c.__ixor__({1})),
        (SharedSet, lambda c: c.symmetric_difference_update({1})),
    ],
    ids=["list *=", "dict |=", "set ^=", "set symmetric_difference_update"],
)
def test_every_in_place_operator_of_a_container_is_a_write(make, mutate):
    container = make()
    sink, written = {}, {}
    access._sink, access._written = sink, written
    try:
        mutate(container)
    finally:
        access._sink, access._written = None, None
    assert sink == {container._key: WRITE} and written == {container._key: container}
