"""Differential soundness of DPOR: on small random programs, ``dfs`` finds what ``naive-dfs``
(every interleaving) finds, and visits every equivalence class that naive search visits.

A program is drawn as a plain value (`programs`): per actor, a tuple of operations; `build`
turns it into a program factory. Both explorations run through `Recording`, which wraps a
strategy's choosers to record each execution's steps and footprints as
`scheduler.traces._Recorder` does, so that the classes each search visited are compared with
`scheduler.traces.canonical`, independently of DPOR's own dependence relation.
"""

from __future__ import annotations

import math

import attrs
import networkx as nx
import pytest
from hypothesis import HealthCheck, assume, given, note, settings, target
from hypothesis import strategies as st

from scheduler import (
    InvariantViolation,
    LockClass,
    Mutex,
    Program,
    RwSem,
    SpinLock,
    debug_check_no_locks_freed,
    explore,
    lockdep_assert_held,
    point,
)
from scheduler import events as ev
from scheduler.access import SharedDict, shared
from scheduler.dpor import Dpor
from scheduler.runtime import current
from scheduler.strategies import DepthFirst
from scheduler.traces import canonical, count_traces

#: Mutexes 0..2 (classes A, B, C; C a spinlock when the program says so); 3 is the rwsem R.
MUTEXES = 3
RWSEM = 3
#: Naive interleavings a drawn program may have (an estimate, `interleavings`): beyond it the
#: example is discarded. The naive search itself stops at `NAIVE_LIMIT` executions.
BUDGET = 300
NAIVE_LIMIT = 2000


@shared
@attrs.define(slots=False, eq=False)
class Obj:
    a: int = 0
    b: int = 0


# -- programs as values ---------------------------------------------------------------------
#
# Leaf operations (no scheduling point unless said):
#   ("write", f, v)   obj.f = v                ("read", f)     read obj.f
#   ("check",)        raise if obj.a == 1 and obj.b == 0
#   ("dput", k)       d[k] = 1                 ("dcheck", k)   raise if d[k] == 1 and obj.a == 0
#   ("point", name, write)  point(name): a scheduling point, with a named access or none
#   ("free", i)       debug_check_no_locks_freed(lock i)
#   ("assert", i)     lockdep_assert_held(lock i)
# Sections (a scheduling point at the acquisition and after the release):
#   ("lock", i, body)     async with mutex i          ("try", i, body)  if trylock: ...
#   ("rw", write, body)   rwsem write or read section
# A body holds leaf operations and, one level deep, sections.


def _leaf(in_section: bool):
    field = st.sampled_from("ab")
    name = st.sampled_from([None, "x", "y"])
    lock = st.integers(0, RWSEM)
    ops = [
        st.tuples(st.just("write"), field, st.integers(0, 1)),
        st.tuples(st.just("read"), field),
        st.just(("check",)),
        st.tuples(st.just("dput"), st.integers(0, 1)),
        st.tuples(st.just("dcheck"), st.integers(0, 1)),
        st.tuples(st.just("free"), lock),
        st.tuples(st.just("assert"), lock),
    ]
    if not in_section:
        ops.insert(0, st.tuples(st.just("point"), name, st.booleans()))
    return st.one_of(ops)


def _section(body):
    return st.one_of(
        st.tuples(st.just("lock"), st.integers(0, MUTEXES - 1), body),
        st.tuples(st.just("rw"), st.booleans(), body),
        st.tuples(st.just("try"), st.integers(0, MUTEXES - 1), body),
    )


_inner_section = _section(st.lists(_leaf(True), max_size=1).map(tuple))
_body = st.lists(st.one_of(_leaf(True), _inner_section), max_size=2).map(tuple)
_op = st.one_of(_leaf(False), _section(_body))


@st.composite
def programs(draw):
    """A whole program: (actors' operations, whether lock C spins, whether there is an end
    check)."""
    n = draw(st.integers(2, 3))
    most = 3 if n == 2 else 2
    actors = tuple(draw(st.lists(_op, min_size=1, max_size=most).map(tuple)) for _ in range(n))
    return actors, draw(st.booleans()), draw(st.booleans())


def _points(ops) -> int:
    """Scheduling points an actor running ``ops`` makes at most."""
    total = 0
    for op in ops:
        if op[0] == "point":
            total += 1
        elif op[0] in ("lock", "rw", "try"):
            total += 2 + _points(op[-1])
    return total


def interleavings(program) -> int:
    """An upper bound of the naive interleavings: the multinomial of the actors' steps."""
    steps = [1 + _points(ops) for ops in program[0]]
    return math.factorial(sum(steps)) // math.prod(math.factorial(s) for s in steps)


def build(program):
    """A factory building ``program`` afresh (explore calls it once per execution)."""
    actors, spin, end_check = program

    def factory() -> Program:
        locks = [Mutex(LockClass(c)) for c in "AB"]
        locks.append((SpinLock if spin else Mutex)(LockClass("C")))
        rw = RwSem(LockClass("R"))
        every = [*locks, rw]
        obj = Obj()
        table = SharedDict()

        async def run(ops):
            for op in ops:
                await step(op)

        async def step(op):
            kind = op[0]
            if kind == "write":
                setattr(obj, op[1], op[2])
            elif kind == "read":
                getattr(obj, op[1])
            elif kind == "check":
                if obj.a == 1 and obj.b == 0:
                    raise InvariantViolation("a without b")
            elif kind == "dput":
                table[op[1]] = 1
            elif kind == "dcheck":
                if table.get(op[1]) == 1 and obj.a == 0:
                    raise InvariantViolation(f"d[{op[1]}] without a")
            elif kind == "point":
                await point(op[1], write=op[2])
            elif kind == "free":
                debug_check_no_locks_freed(every[op[1]])
            elif kind == "assert":
                lockdep_assert_held(every[op[1]])
            elif kind == "lock":
                async with locks[op[1]]:
                    await run(op[2])
            elif kind == "rw":
                async with rw.write() if op[1] else rw.read():
                    await run(op[2])
            elif kind == "try":
                if await locks[op[1]].trylock():
                    await run(op[2])
                    await locks[op[1]].unlock()
            else:
                raise AssertionError(op)

        def actor(ops):
            async def body():
                await run(ops)

            return body

        def check():
            if obj.a != obj.b:
                raise InvariantViolation("a != b at the end")

        return Program(
            {f"t{i}": actor(ops) for i, ops in enumerate(actors)},
            check=check if end_check else None,
        )

    return factory


# -- recording the classes a search visits --------------------------------------------------


class _Chooser:
    """Wraps one execution's chooser: passes every step on, and records each step's actor
    and observed footprint (as `scheduler.traces._Recorder`)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.steps: list[list[object]] = []
        self.waiting: tuple[tuple[int, int], ...] = ()
        self.execution = None

    def choose(self, options):
        raise RuntimeError("the recording chooser chooses through step()")

    def step(self, runnable, running):
        if self.steps:
            self.steps[-1][1] = current().last_footprint
        if hasattr(self.inner, "step"):
            chosen = self.inner.step(runnable, running)
        elif len(runnable) == 1:
            chosen = runnable[0]
        else:
            ordered = list(runnable)
            if running is not None and running in ordered:
                ordered.remove(running)
                ordered.insert(0, running)
            index = self.inner.choose([a.index for a in ordered])
            chosen = next(a for a in ordered if a.index == index)
        self.steps.append([chosen.index, None])
        return chosen

    def end(self, ex) -> None:
        if self.steps:
            self.steps[-1][1] = ex.last_footprint
        self.waiting = tuple((a, key) for a, key, _ in ex.blocked_at_end)
        self.execution = ex
        end = getattr(self.inner, "end", None)
        if end is not None:
            end(ex)


class Recording:
    """A strategy that hands out ``inner``'s choosers wrapped in `_Chooser`, and keeps the
    class of every execution, with the kinds of raw finding each showed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.classes: dict[tuple[object, ...], set[str]] = {}
        #: the classes of executions a finding cut short (not deadlocks)
        self.cut_short: set[tuple[object, ...]] = set()
        self.executions = 0
        self._last: _Chooser | None = None

    @property
    def exhausted(self) -> bool:
        return self.inner.exhausted

    def next_chooser(self):
        self.collect()
        chooser = self.inner.next_chooser()
        if chooser is None:
            return None
        self._last = _Chooser(chooser)
        return self._last

    def collect(self) -> None:
        """Take the class of the execution that just ended (explore's last one too)."""
        last, self._last = self._last, None
        if last is None:
            return
        self.executions += 1
        steps = [(a, fp) for a, fp in last.steps]
        ex = last.execution
        kinds = {f.kind for f in ex.findings} if ex is not None else set()
        cls = canonical(steps, last.waiting)
        self.classes.setdefault(cls, set()).update(kinds)
        if ex is not None and ex.aborted and not getattr(ex, "deadlocked", False):
            self.cut_short.add(cls)


def run(program, inner, limit=None):
    """Explore ``program`` with ``inner`` wrapped in `Recording`: (result, recording)."""
    recording = Recording(inner)
    result = explore(program, strategy=recording, executions=limit, scenario="differential")
    recording.collect()
    return result, recording


# -- what counts as the same finding --------------------------------------------------------


def signatures(result):
    """The distinct findings of an exploration, as values that do not depend on which
    interleaving showed them first.

    A finding's key is what explore reports it once by (kind, lock classes, the model line or
    message). A reported lock-order cycle depends on the order the edges were recorded in,
    so a circular dependency is named by the strongly connected component of the whole lock
    graph it lies in (every one of which holds a reported cycle).
    """
    graph = nx.DiGraph((e.prev, e.next) for e in result.edges)
    component = {c: frozenset(scc) for scc in nx.strongly_connected_components(graph) for c in scc}
    found = set()
    for f in result.findings:
        if f.kind == "circular-dependency":
            found.add((f.kind, tuple(sorted(component[f.classes[0]]))))
        else:
            found.add((f.kind, tuple(sorted(f.classes)), f.key))
    return found


_MODES = {
    getattr(ev, name): name.lower()
    for name in (
        "READ",
        "WRITE",
        "ACQUIRE",
        "READ_ACQUIRE",
        "RELEASE",
        "READ_RELEASE",
        "PEEK",
        "FREE",
        "QUEUE_WRITER",
        "QUEUE_READER",
        "FAULT",
    )
}


def _accesses(fp):
    """A step's accesses, readable: ``object.field`` (63: the lock slot) and mode names."""
    parts = []
    for key, modes in fp:
        name = f"{key >> 6}.{key & 63}" if isinstance(key, int) else key
        parts.append(f"{name} " + "|".join(n for bit, n in _MODES.items() if modes & bit))
    return ", ".join(parts) or "-"


def describe(cls, recording):
    """One class, for a failure message: each actor's steps (their footprints), who waits at
    the end, the finding kinds its executions showed, and whether a finding cut it short."""
    actors, waiting, order = cls
    steps = "; ".join(
        f"t{a}: {len(fps)} steps {[_accesses(fp) for fp in fps]}" for a, fps in actors
    )
    short = " (cut short by a finding)" if cls in recording.cut_short else ""
    before = ", ".join(f"t{a}.{i} < t{b}.{j}" for (a, i), (b, j) in sorted(order))
    return (
        f"  {steps}; order {before}; waiting {list(waiting)}; "
        f"findings {sorted(recording.classes[cls])}{short}"
    )


def differential(factory, label, naive_limit=None):
    """Explore ``factory`` with naive-dfs and dfs and check DPOR against naive search: the
    same findings and lock graph, and the same classes. None if naive search did not finish
    within ``naive_limit`` executions; else (naive executions, classes, dfs executions)."""
    naive, naive_rec = run(factory, DepthFirst(), naive_limit)
    if not naive.exhausted:
        return None
    # every dfs execution is a distinct interleaving: more than naive ran is a runaway
    dpor, dpor_rec = run(factory, Dpor(), naive.executions + 1)
    text = f"program: {label}"
    assert dpor.exhausted, (
        f"dfs did not finish within {naive.executions + 1} executions, more than the "
        f"{naive.executions} interleavings naive search ran\n{text}"
    )
    got, want = signatures(dpor), signatures(naive)
    assert got == want, (
        f"dfs and naive-dfs disagree on the findings\n{text}\n"
        f"naive only: {sorted(want - got, key=repr)}\ndfs only: {sorted(got - want, key=repr)}"
    )
    edges = {(e.prev, e.next) for e in naive.edges}
    assert {(e.prev, e.next) for e in dpor.edges} == edges, f"the lock graphs differ\n{text}"
    missed = set(naive_rec.classes) - set(dpor_rec.classes)
    assert not missed, "\n".join(
        [f"dfs missed {len(missed)} of the {len(naive_rec.classes)} classes\n{text}"]
        + [describe(c, naive_rec) for c in missed]
    )
    extra = set(dpor_rec.classes) - set(naive_rec.classes)
    assert not extra, "\n".join(
        [f"dfs visited {len(extra)} classes naive search never did\n{text}"]
        + [describe(c, dpor_rec) for c in extra]
    )
    return naive.executions, len(naive_rec.classes), dpor.executions


@settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(programs())
def test_dpor_agrees_with_naive_search(program):
    """dfs finds what naive-dfs finds and visits every class it visits."""
    assume(interleavings(program) <= BUDGET)
    counts = differential(build(program), repr(program), NAIVE_LIMIT)
    assume(counts is not None)
    naive, classes, executions = counts
    note(f"naive-dfs {naive} executions, {classes} classes, dfs {executions} executions")
    target(executions / classes, label="dfs executions per class")
    assert executions <= 2 * classes + 2, f"{executions} dfs executions for {classes} classes"


# -- fixed programs ---------------------------------------------------------------------------


def held_lock_freed() -> Program:
    """t1 holds L across a point; t2 frees L after a point of its own."""
    lock = Mutex(LockClass("L"))

    async def t1():
        async with lock:
            await point("x", write=True)

    async def t2():
        await point("y", write=True)
        debug_check_no_locks_freed(lock)

    return Program({"t1": t1, "t2": t2})


def nest(*locks):
    async def actor():
        if len(locks) == 1:
            async with locks[0]:
                pass
        else:
            async with locks[0], locks[1]:
                pass

    return actor


def philosophers_reversed() -> Program:
    """Three philosophers, the last taking its forks the other way round: no deadlock."""
    forks = [Mutex(LockClass(f"fork{i}")) for i in range(3)]
    order = [(0, 1), (1, 2), (0, 2)]
    return Program({f"p{i}": nest(forks[a], forks[b]) for i, (a, b) in enumerate(order)})


def private() -> Program:
    """P4: three actors, each taking a lock of its own."""
    return Program({f"t{i}": nest(Mutex(LockClass(f"L{i}"))) for i in range(3)})


def test_held_lock_freed_is_found():
    result = explore(held_lock_freed)
    assert "held-lock-freed" in {f.kind for f in result.findings}
    differential(held_lock_freed, "held_lock_freed")


def test_reversed_philosophers():
    result = explore(philosophers_reversed)
    assert result.executions == 6 == count_traces(philosophers_reversed).traces
    assert not result.findings
    differential(philosophers_reversed, "philosophers_reversed")


def test_private_locks_need_one_execution():
    assert explore(private).executions == 1
    differential(private, "private")


#: Programs the property test found dfs wrong on (minimized by hypothesis).
FOUND = {
    # two actors left waiting for one lock (t1 deadlocks on A, which it holds): IndexError
    # in Dpor._races, which adds each waiting actor's acquisition to the history it reads
    "two-waiters": ((("lock", 0, ()),), (("lock", 0, (("lock", 0, ()),)),)),
    # the same when a finding ends the execution while t0 and t1 both stand at lock A
    "two-waiters-cut-short": (
        (("lock", 0, ()),),
        (("lock", 0, ()),),
        (("write", "a", 1), ("point", None, False), ("check",)),
    ),
    # t0's failed trylock races with t1's acquisition that never comes (t1 holds A): dfs
    # plans the reversal, cannot run it, and runs the same execution again, forever
    "trylock-vs-self-deadlock": ((("try", 0, ()),), (("lock", 0, (("lock", 0, ()),)),)),
    # t2's second check fails after t0's write: dfs runs that only with t1 done first,
    # not with t1 at its first or second step when the invariant cuts the execution short
    "cut-short-prefix": (
        (("write", "a", 1),),
        (("point", None, False),),
        (("check",), ("point", None, False), ("check",)),
    ),
}


#: a known gap, kept visible: when a finding cuts an execution short, dfs does not reach
#: every class that differs only in how far an actor that touched nothing had got (the
#: findings are the same); strict, so that closing the gap makes this fail
CUT_SHORT_GAP = {"cut-short-prefix"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n,
            marks=pytest.mark.xfail(
                strict=True, reason="classes of cut-short executions: a known gap"
            ),
        )
        if n in CUT_SHORT_GAP
        else n
        for n in sorted(FOUND)
    ],
)
def test_found_programs(name):
    assert differential(build((FOUND[name], False, False)), name) is not None
