"""The runtime: one runnable actor at a time, findings from model code, setup and checks."""

from __future__ import annotations

import gc
import threading

import pytest
import trio

from lockstep.scheduler import (
    InvariantViolation,
    LockClass,
    Mutex,
    Program,
    RwSem,
    SpinLock,
    debug_check_no_locks_freed,
    explore,
    fault_point,
    lockdep_assert_held,
    lockdep_assert_held_read,
    lockdep_assert_held_write,
    lockdep_assert_not_held,
    might_sleep,
    operation,
    point,
    replay,
)
from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND, Execution
from lockstep.scheduler.strategies import RandomWalk


def kinds(result):
    return sorted(f.kind for f in result.findings)


def counter_program(log):
    """Two actors increment a shared counter with a read and a write point: lost updates."""

    def program():
        state = {"n": 0}

        def inc():
            async def actor():
                await point("n", write=False)
                value = state["n"]
                await point("n")
                state["n"] = value + 1

            return actor

        def check():
            log.append(state["n"])

        return Program({"a": inc(), "b": inc()}, check=check)

    return program


def test_dfs_explores_every_interleaving_of_a_racy_counter():
    log = []
    result = explore(counter_program(log), scenario="counter")
    assert result.exhausted and result.clean
    assert set(log) == {1, 2}, "the lost update is reached"
    assert result.executions == len(log)


class OneRunnable(trio.abc.Instrument):
    """Once armed (by the first actor's first step), whenever a task runs no other task may
    be waiting to run: trio's run queue never holds a choice."""

    def __init__(self):
        self.runnable = set()
        self.armed = False
        self.steps = 0
        self.crowded = 0

    def task_scheduled(self, task):
        self.runnable.add(task)

    def before_task_step(self, task):
        self.runnable.discard(task)
        if self.armed:
            self.steps += 1
            self.crowded += bool(self.runnable)


def test_at_most_one_task_is_runnable_at_every_point(monkeypatch):
    instrument = OneRunnable()
    real_run = trio.run

    def run_with_instrument(fn, *args, **kwargs):
        return real_run(fn, *args, instruments=[instrument], **kwargs)

    def program():
        inner = counter_program([])()

        async def first():
            instrument.armed = True
            await inner.actors["a"]()

        return Program({"a": first, "b": inner.actors["b"]}, check=inner.check)

    monkeypatch.setattr(trio, "run", run_with_instrument)
    for seed in range(5):
        Execution(program, RandomWalk(seed).next_chooser()).run()
        instrument.armed = False
    assert instrument.steps > 10
    assert instrument.crowded == 0


def test_setup_runs_alone_before_the_actors_and_check_reports_invariants():
    order = []

    def program():
        async def setup():
            order.append("setup")
            await point("x")

        async def a():
            order.append("a")

        def check():
            raise InvariantViolation("refcount is 2, expected 1")

        return Program({"a": a}, setup=setup, check=check)

    result = explore(program, scenario="setup")
    assert order == ["setup", "a"]
    assert kinds(result) == ["invariant"]
    assert "refcount is 2, expected 1" in result.findings[0].message


def test_an_exception_in_model_code_is_a_finding_with_its_schedule():
    def program():
        m = Mutex(LockClass("M"))

        async def a():
            async with m:
                raise ValueError("boom")

        async def b():
            async with m:
                pass

        return {"a": a, "b": b}

    result = explore(program, scenario="boom")
    assert kinds(result) == ["exception"]
    finding = result.findings[0]
    assert "ValueError: boom" in finding.message
    assert replay(program, finding.schedule).findings[0].message == finding.message


def test_a_livelock_hits_the_step_bound():
    def program():
        async def spin():
            while True:
                await point("flag", write=False)

        return {"spin": spin}

    result = explore(program, scenario="spin", step_bound=50)
    assert kinds(result) == ["step-bound"]
    assert DEFAULT_STEP_BOUND > 50


def test_asserts_held_and_not_held():
    def program():
        m = Mutex(LockClass("&igroup->lock"))

        async def a():
            lockdep_assert_held(m)
            async with m:
                lockdep_assert_held(m)
                lockdep_assert_not_held(m)

        return {"a": a}

    result = explore(program, scenario="asserts")
    assert sorted((f.kind, f.classes) for f in result.findings) == [
        ("assert-held", ("&igroup->lock",)),
        ("assert-not-held", ("&igroup->lock",)),
    ]


def test_freeing_a_held_lock_and_using_it_after():
    def program():
        m = Mutex(LockClass("&obj->destroy_rwsem"))

        async def a():
            async with m:
                debug_check_no_locks_freed(m)

        return {"a": a}

    result = explore(program, scenario="freed")
    assert kinds(result) == ["exception", "held-lock-freed"]


def test_operations_report_locks_held_when_returning_to_user_space():
    def program():
        m = Mutex(LockClass("&ioas->mutex"))

        async def a():
            with operation("IOMMU_HWPT_ALLOC"):
                await m.lock()
            await m.unlock()

        return {"a": a}

    result = explore(program, scenario="leak")
    assert [(f.kind, f.classes) for f in result.findings] == [("held-at-return", ("&ioas->mutex",))]
    assert "a is leaving IOMMU_HWPT_ALLOC with locks still held!" in result.findings[0].message
    assert result.findings[0].title.endswith("after IOMMU_HWPT_ALLOC in a")


def test_might_sleep_under_a_spinlock():
    def program():
        s = SpinLock(LockClass("&ictx->objects.xa_lock"))

        async def a():
            async with s:
                might_sleep()

        return {"a": a}

    result = explore(program, scenario="atomic")
    assert [(f.kind, f.classes) for f in result.findings] == [
        ("sleep-in-atomic", ("&ictx->objects.xa_lock",))
    ]


def test_fault_points_are_scheduling_points_that_fail_only_when_asked():
    def program():
        async def a():
            assert not await fault_point("kzalloc", 12)

        return {"a": a, "b": a}

    result = explore(program, strategy="naive-dfs", scenario="faults")
    assert result.clean and result.executions > 1
    assert explore(program, scenario="faults").executions == 1, "independent without fail_nth"
    ex = Execution(program, RandomWalk(0).next_chooser(), fail_nth=(0, 1))
    ex.run()
    assert [f.kind for f in ex.findings] == ["exception"]


def test_lock_statistics_say_who_holds_and_waits():
    seen = []

    def program():
        m = Mutex(LockClass("M"), "m0")

        async def a():
            async with m:
                await point("x")
                seen.append(m.statistics())

        async def b():
            async with m:
                pass

        return {"a": a, "b": b}

    # statistics() reads the lock outside any scheduling point: dpor rightly ignores it
    explore(program, strategy="naive-dfs", scenario="stats")
    assert {s.holders for s in seen} == {("a",)}
    assert {s.waiters for s in seen} == {(), ("b",)}


def test_lock_calls_outside_an_execution_are_a_clear_error():
    m = Mutex(LockClass("M"))

    with pytest.raises(RuntimeError, match="no lockstep execution is running"):
        trio.run(m.lock)


def test_an_actor_waiting_on_a_real_trio_primitive_is_a_finding_not_a_hang():
    def program():
        async def stuck():
            await trio.Event().wait()

        async def other():
            await point("x")

        return {"stuck": stuck, "other": other}

    result = explore(program, scenario="stuck")
    assert kinds(result) == ["exception"]
    assert "blocked outside the scheduler" in result.findings[0].message


def test_assert_held_write_wants_the_write_hold():
    """``lockdep_assert_held_write`` is not ``lockdep_assert_held``: a read hold WARNs."""

    def program():
        sem = RwSem(LockClass("&iopt->iova_rwsem"))

        async def reader():
            await sem.down_read()
            lockdep_assert_held(sem)
            lockdep_assert_held_read(sem)
            lockdep_assert_held_write(sem)
            await sem.up_read()

        async def writer():
            await sem.down_write()
            lockdep_assert_held_write(sem)
            await sem.up_write()

        return {"reader": reader, "writer": writer}

    result = explore(program, scenario="held-write")
    assert [(f.kind, f.classes) for f in result.findings] == [
        ("assert-held", ("&iopt->iova_rwsem",))
    ]
    assert "lockdep_assert_held_write(" in result.findings[0].message
    assert "reader" in result.findings[0].title


def test_misbehaving_programs_are_findings_or_one_clear_error():
    """A factory returning a list is a clear TypeError; a check's AssertionError is an
    invariant finding; an actor's SystemExit is an exception finding."""

    with pytest.raises(TypeError, match="must return a Program or a mapping"):
        explore(lambda: [1, 2], scenario="list")

    def asserting():
        async def a():
            await point()

        def check():
            raise AssertionError("the end state is wrong")

        return Program({"a": a}, check=check)

    result = explore(asserting, scenario="asserting")
    assert [(f.kind, f.title) for f in result.findings] == [
        ("invariant", "invariant: the end state is wrong")
    ]

    def exiting():
        async def a():
            raise SystemExit(3)

        return {"a": a}

    result = explore(exiting, scenario="exiting")
    assert [(f.kind, f.title) for f in result.findings] == [
        ("exception", "exception in a: SystemExit(3)")
    ]


def test_an_actor_that_never_reaches_a_scheduling_point_is_a_step_bound_finding(monkeypatch):
    """A step is bounded in wall time too (``STEP_SECONDS``): an actor spinning with no
    scheduling point is a step-bound finding naming it and its site, not a hang."""
    import time

    from lockstep.scheduler import runtime

    monkeypatch.setattr(runtime, "STEP_SECONDS", 1.5)

    def program():
        async def spinner():
            while True:
                time.sleep(0.01)

        async def other():
            await point()

        return {"other": other, "spinner": spinner}

    result = explore(program, strategy="random", executions=1, scenario="spin")
    assert [f.kind for f in result.findings] == ["step-bound"]
    assert result.findings[0].title.startswith(
        "step bound exceeded: spinner ran more than 1.5 s without a scheduling point, at spinner"
    )


def test_executions_run_with_fewer_collections_and_the_settings_come_back():
    """While executions run, the collector's young threshold is raised and what existed
    before is frozen; afterwards the process has its own settings back, also when the
    program fails and when the process had frozen objects itself."""
    seen = []

    async def actor():
        seen.append((gc.get_threshold()[0], gc.get_freeze_count() > 0))
        raise RuntimeError("model bug")

    before = gc.get_threshold()
    result = explore(lambda: Program({"a": actor}))
    assert [f.kind for f in result.findings] == ["exception"]
    assert seen and all(threshold >= 10_000 and frozen for threshold, frozen in seen)
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    gc.freeze()
    try:
        explore(lambda: Program({"a": actor}))
        assert gc.get_freeze_count() > 0, "the process's own freeze was undone"
    finally:
        gc.unfreeze()


def test_a_second_thread_cannot_start_an_execution_while_one_runs():
    """One execution at a time in a process: another thread's explore fails at once with a
    clear error, the first finishes undisturbed, and the collector's settings come back."""
    before = gc.get_threshold()

    inside, leave = threading.Event(), threading.Event()
    errors = []

    async def actor():
        inside.set()
        leave.wait(timeout=10)
        await point()

    first = threading.Thread(target=explore, args=(lambda: Program({"a": actor}),))
    first.start()
    assert inside.wait(timeout=10)
    try:
        explore(lambda: Program({"b": actor}))
    except RuntimeError as exc:
        errors.append(str(exc))
    finally:
        leave.set()
        first.join(timeout=30)
    assert errors == [
        "an execution is already running in this process (one at a time, in any thread)"
    ]
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
