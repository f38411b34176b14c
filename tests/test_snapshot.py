"""Setup snapshots (scheduler/snapshot.py): an execution restored from a copy of the setup's
result is the execution that ran the setup.

The reference is the same exploration with ``copy_setup=False``, where every execution
builds the program and runs its setup: the executions, the findings with their schedule
lines, messages and traces, and the lock graph with its counts must all be equal.
"""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scenarios import variants
from lockstep.scheduler import Mutex, Program, explore, point
from lockstep.scheduler.access import SharedList, shared
from lockstep.scheduler.explore import replay
from lockstep.scheduler.lockdep import Lockdep
from lockstep.scheduler.locks import LockClass
from lockstep.scheduler.runtime import Execution
from lockstep.scheduler.snapshot import SetupSnapshot
from lockstep.scheduler.strategies import make_strategy

#: too many executions to run twice here (tests/test_differential_scenarios.py names it too)
SLOW = {"two-devices-one-group"}
NAMES = [s.name for s in scenarios.all_scenarios() if s.name not in SLOW]
MARKER = "marker"


def everything(result):
    return (
        result.executions,
        result.exhausted,
        [(f.kind, f.classes, f.schedule, f.message, f.key, f.trace) for f in result.findings],
        result.edges,
        dict(result.counts),
        result.fault_points,
    )


def both(program, **options):
    copied = explore(program, copy_setup=True, **options)
    fresh = explore(program, copy_setup=False, **options)
    return copied, fresh


@pytest.mark.parametrize("name", NAMES)
def test_scenario_explores_the_same_from_a_copied_setup(name):
    copied, fresh = both(scenarios.get(name).program, scenario=name, trace=True)
    assert everything(copied) == everything(fresh)


@pytest.mark.parametrize(
    "name", ["replace-vs-destroy", "attach-vs-destroy-ioas", "selftest-device"]
)
def test_faults_explore_the_same_from_a_copied_setup(name):
    copied, fresh = both(scenarios.get(name).program, scenario=name, faults=True)
    assert everything(copied) == everything(fresh)
    assert copied.fault_points


@pytest.mark.parametrize("name", [v.name for v in variants.VARIANTS])
def test_variant_explores_the_same_from_a_copied_setup(name):
    variant = variants.get(name)
    program = scenarios.get(variant.scenario).with_variant(variant.flags)
    copied, fresh = both(program, scenario=variant.scenario, faults=variant.faults)
    assert everything(copied) == everything(fresh)
    assert copied.findings


def test_findings_of_a_copied_setup_replay_from_their_lines():
    name = "replace-vs-replace-one-group"
    program = scenarios.get(name).program
    result = explore(program, scenario=name, trace=True)
    assert result.findings
    for finding in result.findings:
        replayed = replay(program, finding.schedule)
        assert finding.key in {f.key for f in replayed.findings}
        assert replayed.trace == finding.trace


def run_with_snapshot(program_fn, executions=3):
    """Run ``executions`` random executions sharing one snapshot; the snapshot and the
    executions."""
    snapshot, graph = SetupSnapshot(), Lockdep()
    strategy = make_strategy("random", 0)
    runs = []
    for index in range(executions):
        chooser = strategy.next_chooser()
        ex = Execution(program_fn, chooser, lockdep=graph, index=index, snapshot=snapshot)
        ex.run()
        runs.append(ex)
    return snapshot, runs


@shared
class Box:
    items: list[object]
    count: int

    def __init__(self) -> None:
        self.items = []
        self.count = 0


def test_copies_keep_shared_cells_module_constants_and_container_keys():
    seen = []

    def program():
        box = Box()
        twice = [0]

        async def setup():
            box.items.append(MARKER)
            box.count = 1

        async def t1():
            await point()
            twice[0] += 1
            # the copy's marker is this module's constant, not an equal string
            seen.append((box.items[0] is MARKER, box.count, twice[0], box.items._key))

        async def t2():
            await point()
            twice[0] += 1

        async def t3():
            # a cell two closures share stays one cell in the copy
            assert twice[0] in (0, 1, 2)

        return Program({"t1": t1, "t2": t2, "t3": t3}, setup=setup, copy_setup=True, share=(seen,))

    snapshot, _ = run_with_snapshot(program)
    assert snapshot.restored == 2
    assert len(seen) == 3
    assert {s[0] for s in seen} == {True}
    assert {s[1] for s in seen} == {1}
    assert {s[2] for s in seen} <= {1, 2}
    assert len({s[3] for s in seen}) == 1


def test_copies_are_independent_between_executions():
    counts = []

    def program():
        box = Box()

        async def setup():
            box.count = 10

        async def t1():
            box.count += 1
            counts.append(box.count)

        return Program({"t1": t1}, setup=setup, copy_setup=True, share=(counts,))

    snapshot, _ = run_with_snapshot(program, executions=4)
    assert snapshot.restored == 3
    assert counts == [11, 11, 11, 11]


def test_a_program_that_does_not_opt_in_runs_its_setup_every_time():
    made = []

    def program():
        made.append(1)

        async def setup():
            await point()

        async def t1():
            await point()

        return Program({"t1": t1}, setup=setup)

    snapshot, _ = run_with_snapshot(program)
    assert snapshot.restored == 0
    assert len(made) == 3


def test_unpicklable_state_falls_back_to_running_the_setup():
    made = []

    def program():
        made.append(1)

        def numbers():
            yield 1

        state = SharedList([numbers()])

        async def setup():
            await point()

        async def t1():
            assert len(state) == 1

        return Program({"t1": t1}, setup=setup, copy_setup=True)

    snapshot, runs = run_with_snapshot(program)
    assert snapshot.restored == 0
    assert len(made) == 3
    assert not any(ex.findings for ex in runs)


def test_a_setup_with_a_finding_is_not_copied():
    lock_class = LockClass("setup-lock")

    def program():
        first, second = Mutex(lock_class), Mutex(lock_class)

        async def setup():
            # the same class twice: lockdep reports recursive locking in every execution
            await first.lock()
            await second.lock()
            await second.unlock()
            await first.unlock()

        async def t1():
            await point()

        return Program({"t1": t1}, setup=setup, copy_setup=True)

    snapshot, runs = run_with_snapshot(program)
    assert snapshot.restored == 0
    assert all(ex.findings for ex in runs)
