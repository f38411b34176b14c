"""Differential soundness of DPOR: on small random programs, ``dfs`` finds what ``naive-dfs``
(every interleaving) finds, and visits every equivalence class that naive search visits.

A program is drawn as a plain value (`programs`): per actor, a tuple of operations; `build`
turns it into a program factory. Both explorations run through `Recording`, which wraps a
strategy's choosers to record each execution's steps and footprints as
`scheduler.traces._Recorder` does, so that the classes each search visited are compared with
`scheduler.traces.canonical`, independently of DPOR's own dependence relation.

Then fixed programs: a held lock freed, the reversed philosophers, private locks; and the
programs hypothesis found dfs wrong on (`FOUND`), and four written out by hand where dfs once
missed a finding that naive search reports.
"""

from __future__ import annotations

import math

import attrs
import networkx as nx
import pytest
from hypothesis import HealthCheck, assume, event, given, note, settings
from hypothesis import strategies as st

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
    point,
)
from lockstep.scheduler import events as ev
from lockstep.scheduler.access import SharedDict, shared
from lockstep.scheduler.dpor import Dpor
from lockstep.scheduler.runtime import current
from lockstep.scheduler.strategies import DepthFirst
from lockstep.scheduler.traces import canonical, count_traces

#: Mutexes 0..2 (classes A, B, C; C a spinlock when the program says so); 3 is the rwsem R.
MUTEXES = 3
RWSEM = 3
#: Naive interleavings a drawn program may have (`interleavings`, an upper bound): beyond it
#: the example is discarded (about 7% are). The naive search itself stops at `NAIVE_LIMIT`.
#: count_traces of the reversed philosophers takes about 50 s; this keeps the file under 90 s.
BUDGET = 1000
NAIVE_LIMIT = BUDGET


@shared
@attrs.define(slots=False, eq=False)
class Obj:
    a: int = 0
    b: int = 0


# -- programs as values ---------------------------------------------------------------------
#
# Leaf operations (no scheduling point unless said):
#   ("write", f, v)   obj.f = v                ("read", f)     read obj.f
#   ("check",)        raise if obj.a == 1 and obj.b == 0 (naming the operation: "t1.0.2")
#   ("dput", k)       d[k] = 1                 ("dcheck", k)   raise if d[k] == 1 and obj.a == 0
#   ("point", name, write)  point(name): a scheduling point, with a named access or none
#                     (in a section: no name)
#   ("free", i)       debug_check_no_locks_freed(lock i)
#   ("assert", i)     lockdep_assert_held(lock i)
#   ("fault", f)      a fault point (a scheduling point); when it fails, an unwind that
#                     writes obj.f = 1 (only in programs drawn `with_faults`)
# Sections (a scheduling point at the acquisition and after the release):
#   ("lock", i, body)     async with mutex i          ("rw", write, body)  rwsem section
#   ("try", i, body, orelse)   if trylock: body, unlock; else: orelse (leaf operations)
# A body holds leaf operations and, one level deep, sections.


def _leaf(in_section: bool, faults: bool = False):
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
    else:
        ops.append(st.just(("point", None, False)))
    if faults:
        ops.append(st.tuples(st.just("fault"), field))
    return st.one_of(ops)


def _section(body):
    mutex = st.integers(0, MUTEXES - 1)
    orelse = st.lists(_leaf(True), max_size=1).map(tuple)
    return st.one_of(
        st.tuples(st.just("lock"), mutex, body),
        st.tuples(st.just("rw"), st.booleans(), body),
        st.tuples(st.just("try"), mutex, body, orelse),
    )


_flat_body = st.lists(_leaf(True), max_size=1).map(tuple)
_body = st.lists(st.one_of(_leaf(True), _section(_flat_body)), max_size=2).map(tuple)
_op = st.one_of(_leaf(False), _section(_body))
#: three actors with nested sections are too many interleavings for naive search
_flat_op = st.one_of(_leaf(False), _section(_flat_body))


@st.composite
def programs(draw):
    """A whole program: (actors' operations, whether lock C spins, whether there is an end
    check). Two actors of up to 3 operations, or three of up to 2 without nesting."""
    n = draw(st.integers(2, 3))
    ops = (
        st.lists(_op, min_size=1, max_size=3)
        if n == 2
        else st.lists(_flat_op, min_size=1, max_size=2)
    )
    actors = tuple(draw(ops.map(tuple)) for _ in range(n))
    return actors, draw(st.booleans()), draw(st.booleans())


def _points(ops) -> int:
    """Scheduling points an actor running ``ops`` makes at most."""
    total = 0
    for op in ops:
        if op[0] == "point":
            total += 1
        elif op[0] in ("lock", "rw"):
            total += 2 + _points(op[2])
        elif op[0] == "try":
            total += max(2 + _points(op[2]), _points(op[3] if len(op) > 3 else ()))
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

        async def run(ops, where):
            for i, op in enumerate(ops):
                await step(op, f"{where}.{i}")

        async def step(op, where):
            kind = op[0]
            if kind == "write":
                setattr(obj, op[1], op[2])
            elif kind == "read":
                getattr(obj, op[1])
            elif kind == "check":
                if obj.a == 1 and obj.b == 0:
                    raise InvariantViolation(f"a without b at {where}")
            elif kind == "dput":
                table[op[1]] = 1
            elif kind == "dcheck":
                if table.get(op[1]) == 1 and obj.a == 0:
                    raise InvariantViolation(f"d[{op[1]}] without a at {where}")
            elif kind == "point":
                await point(op[1], write=op[2])
            elif kind == "free":
                debug_check_no_locks_freed(every[op[1]])
            elif kind == "assert":
                lockdep_assert_held(every[op[1]])
            elif kind == "lock":
                async with locks[op[1]]:
                    await run(op[2], where)
            elif kind == "rw":
                async with rw.write() if op[1] else rw.read():
                    await run(op[2], where)
            elif kind == "fault":
                if await fault_point("kzalloc", 12):
                    setattr(obj, op[1], 1)
            elif kind == "try":
                if await locks[op[1]].trylock():
                    await run(op[2], where)
                    await locks[op[1]].unlock()
                else:
                    await run(op[3] if len(op) > 3 else (), f"{where}.else")
            else:
                raise AssertionError(op)

        def actor(ops, name):
            async def body():
                await run(ops, name)

            return body

        def check():
            if obj.a != obj.b:
                raise InvariantViolation("a != b at the end")

        return Program(
            {f"t{i}": actor(ops, f"t{i}") for i, ops in enumerate(actors)},
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
        "PEEK_HELD",
        "FREE_HELD",
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
    event(
        "classes: "
        + ("1" if classes == 1 else "2-5" if classes <= 5 else "6-20" if classes <= 20 else "> 20")
    )
    ratio = executions / classes
    # reported, not asserted: 2 * classes + 2 is reached exactly by some drawn programs (a
    # free or a finding that cuts executions short), so it is no comfortable bound
    event(
        "dfs executions per class: "
        + ("1" if ratio == 1 else "<= 1.5" if ratio <= 1.5 else "<= 2" if ratio <= 2 else "> 2")
    )


@st.composite
def programs_with_faults(draw):
    """Two actors of up to 3 operations, sections one level deep, fault points among them
    (one at least, in the first actor)."""
    leaf = _leaf(False, faults=True)
    section = _section(st.lists(_leaf(True, faults=True), max_size=2).map(tuple))
    ops = st.lists(st.one_of(leaf, section), min_size=1, max_size=3)
    first = draw(ops)
    first.insert(draw(st.integers(0, len(first))), ("fault", draw(st.sampled_from("ab"))))
    return (tuple(first), tuple(draw(ops))), draw(st.booleans()), draw(st.booleans())


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(programs_with_faults())
def test_with_faults_dpor_finds_what_naive_search_finds(program):
    """Fault points count per actor (fail_nth per task): each round fails one actor's n-th
    point. In every round, dfs finds every distinct finding naive search finds, with the
    same lock graph and the same fault choices run."""
    assume(interleavings(program) <= BUDGET)
    factory = build(program)
    naive = explore(factory, strategy="naive-dfs", faults=True, executions=NAIVE_LIMIT)
    assume(naive.exhausted)
    dpor = explore(factory, strategy="dfs", faults=True)
    assert dpor.exhausted and dpor.fault_points == naive.fault_points
    assert signatures(dpor) == signatures(naive), repr(program)
    assert {(e.prev, e.next) for e in dpor.edges} == {(e.prev, e.next) for e in naive.edges}
    event(f"fault points: {min(naive.fault_points or 0, 4)}")


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
    _, classes, _ = differential(held_lock_freed, "held_lock_freed")
    assert classes == count_traces(held_lock_freed).traces, "the recorder counts as traces.py"


def test_reversed_philosophers():
    """dfs runs one execution per class, 6 (count_traces enumerates the 90,396 interleavings:
    the slowest part of this file). Six distinct classes of the program, as many as there
    are, are all of them."""
    result, recording = run(philosophers_reversed, Dpor())
    assert result.exhausted and not result.findings
    assert result.executions == len(recording.classes) == 6
    assert count_traces(philosophers_reversed).traces == 6


def test_private_locks_need_one_execution():
    assert explore(private).executions == 1
    assert differential(private, "private") == (1680, 1, 1)
    assert count_traces(private).traces == 1


#: Programs the property test found dfs wrong on (minimized by hypothesis).
FOUND = {
    # two actors left waiting for one lock (t1 deadlocks on A, which it holds): was an
    # IndexError in Dpor._races, which added each waiting actor's acquisition to the history
    # it then read for the next one (fixed in d76e38e)
    "two-waiters": ((("lock", 0, ()),), (("lock", 0, (("lock", 0, ()),)),)),
    # the same when a finding ends the execution while t0 and t1 both stand at lock A
    "two-waiters-cut-short": (
        (("lock", 0, ()),),
        (("lock", 0, ()),),
        (("write", "a", 1), ("point", None, False), ("check",)),
    ),
    # t0's failed trylock races with t1's acquisition that never comes (t1 holds A): dfs
    # planned the reversal, could not run it, and ran the same execution again, forever
    # (fixed in d76e38e)
    "trylock-vs-self-deadlock": ((("try", 0, ()),), (("lock", 0, (("lock", 0, ()),)),)),
    # t2's second check fails after t0's write: dfs runs that only with t1 done first,
    # not with t1 at its first or second step when the invariant cuts the execution short
    "cut-short-prefix": (
        (("write", "a", 1),),
        (("point", None, False),),
        (("check",), ("point", None, False), ("check",)),
    ),
    # t1's trylock of A fails (t0 holds it) and t1 writes a in the same step; t2 writes a:
    # dfs never ran t2's write before that step (as trylock_after_write)
    "trylock-after-write": (
        (("lock", 0, (("point", None, False),)),),
        (("try", 0, (), ()), ("write", "a", 1)),
        (("write", "a", 1),),
    ),
    # t0 tries A, which it holds, in its section: dfs never let t1 take A first (own_trylock)
    "own-trylock": (
        (("lock", 0, (("dcheck", 0), ("try", 0, (), ()))),),
        (("lock", 0, ()), ("dput", 0)),
    ),
    # the same with t0 freeing B, which it holds, a step after taking it (free_own_lock)
    "free-own-lock": (
        (("lock", 1, (("rw", False, ()), ("free", 1))),),
        (("lock", 1, (("rw", False, ()), ("free", 1))),),
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


def trylock_after_write() -> Program:
    """t1's trylock fails only while t0 holds A; after t2's write that is a bug. The reversal
    of the race of t1's failed trylock (which then reads a) with t2's write is planned where
    t0's release sleeps, independent of the write; dfs took it as covered, but every run
    from the release makes t1's trylock succeed and read nothing. A sleeper now covers a
    reversal only if it also commutes with the step the reversal precedes (`_weak_initial`)."""
    lock, obj = Mutex(LockClass("A")), Obj()

    async def t0():
        async with lock:
            await point()

    async def t1():
        if await lock.trylock():
            await lock.unlock()
        elif obj.a == 1:
            raise InvariantViolation("trylock failed after t2's write")

    async def t2():
        obj.a = 1

    return Program({"t0": t0, "t1": t1, "t2": t2})


def test_trylock_after_write():
    naive = explore(trylock_after_write, strategy="naive-dfs")
    assert [f.kind for f in naive.findings] == ["invariant"]
    differential(trylock_after_write, "trylock_after_write")


def own_trylock() -> Program:
    """t0 tries A, which it holds (the trylock fails). The failed trylock and the release are
    one step; t1's acquisition once raced with that check first, whose clock holds t0's
    acquisition, so the race of the two acquisitions was never seen and dfs missed the
    broken invariant. A holder's check is now ``PEEK_HELD``, which no acquisition races
    with: the holder's own acquisition is the race."""
    lock, obj = Mutex(LockClass("A")), Obj()

    async def t0():
        async with lock:
            if obj.a == 1:
                raise InvariantViolation("t1 went first")
            await lock.trylock()

    async def t1():
        async with lock:
            pass
        obj.a = 1

    return Program({"t0": t0, "t1": t1})


def test_own_trylock():
    naive = explore(own_trylock, strategy="naive-dfs")
    assert [f.kind for f in naive.findings] == ["invariant"]
    differential(own_trylock, "own_trylock")


def free_own_lock() -> Program:
    """t0 frees A while holding it, a step after taking it (held-lock-freed; then its release
    raises). As in own_trylock, the free in the step of the release hid the race of the two
    acquisitions (now ``FREE_HELD``: inside the holder's section)."""
    lock, obj = Mutex(LockClass("A")), Obj()

    async def t0():
        async with lock:
            if obj.a == 1:
                raise InvariantViolation("t1 went first")
            await point()
            debug_check_no_locks_freed(lock)

    async def t1():
        async with lock:
            pass
        obj.a = 1

    return Program({"t0": t0, "t1": t1})


def test_free_own_lock():
    naive = explore(free_own_lock, strategy="naive-dfs")
    assert "invariant" in {f.kind for f in naive.findings}
    differential(free_own_lock, "free_own_lock")


def read_steers_step() -> Program:
    """t1's one step reads b (y) only if a (x) is still 0: what a step touches depends on a
    value it read. dfs ran 2 executions and missed the broken invariant: the reversal of
    t1's read of y with t2's write was planned where t0's write of x sleeps, which commutes
    with the write of y, but not with t1's step."""
    obj = Obj()

    async def t0():
        obj.a = 1

    async def t1():
        await point()
        if obj.a == 0 and obj.b == 1:
            raise InvariantViolation("y without x")

    async def t2():
        obj.b = 1

    return Program({"t0": t0, "t1": t1, "t2": t2})


def test_read_steers_step():
    naive = explore(read_steers_step, strategy="naive-dfs")
    assert [f.kind for f in naive.findings] == ["invariant"]
    differential(read_steers_step, "read_steers_step")
