"""Optimal dynamic partial-order reduction, lock-aware: one execution per equivalence class.

Design note. Two interleavings that differ only in the order of independent steps reach the
same state and show the same findings; exploring one per equivalence class is enough. This
is Optimal-DPOR with wakeup trees and sleep sets (Abdulla, Aronis, Jonsson and Sagonas,
"Optimal dynamic partial order reduction", POPL 2014; "Source Sets", JACM 2017), stateless
as in CHESS and loom: every execution starts afresh and replays a prefix of the previous
one, so the exploration state is just the stack of `_Node`s of the current execution.

What a step touched is what the runtime saw it touch (`scheduler.access`): its footprint is
recorded while it runs and handed over at the next scheduling point, never declared. Two
steps of different actors are dependent (`dependent`) when they touch one key in
conflicting modes (`conflicting_modes`): a write and any access of one field or container;
two operations of one lock unless both are shared (rwsem read acquisitions and releases);
a check of a lock's holders (``PEEK``) or its freeing against its operations (the same
checks by the lock's holder, ``PEEK_HELD`` and ``FREE_HELD``, are answered by its own hold:
only a free or a queued writer changes them, and no acquisition races with them inside the
holder's section, where the holder's own acquisition is the race); a writer and
a reader queueing on one rwsem, and a writer queueing against a trylock (a read trylock
fails behind a waiting writer). A fault point touches nothing: which one fails is counted
per actor (`events.Fault`), as the kernel's fail_nth counts per task.

The equivalence, and so what "exhausted" means: two executions are equivalent when every
actor runs the same steps, every lock is acquired by the same actors in the same order,
and every pair of conflicting accesses is ordered the same way. Waiting is no step (an
actor is runnable only once the lock it reached is grantable, `runtime.Execution.acquire`),
and a release is ordered only by the acquisitions around it, so when a lock was released,
or how long someone waited, makes no new execution. Critical sections of one lock are still
ordered even when they touch no common data (LAPOR would not order them; that needs
consistency checks of a lock order against the reads-from, which this explorer does not
do).

Races. At the end of an execution `Dpor` finds its races with vector clocks, per key, newest
first: an earlier conflicting step of another actor that does not already happen before.
Lock acquisitions are the one special case. An acquisition follows the release of the
previous holder, and that release happens before it, so by the plain rule the two
acquisitions would never race. They are the race that matters, though: the lock could have
gone to the other actor first. So an acquisition is checked against the earlier accesses of
its lock (other than releases) with the clock of its actor alone, before the release edges
are joined. Its reversal ``notdep(e).e'`` is always runnable: the acquisitions that came in
between all happen after ``e``, so the lock is free there. An actor still waiting for a lock
when the execution ended (a deadlock) gets the same check for the acquisition it never
made. Each reversal is inserted into the wakeup tree of the node before ``e`` unless a
sleeping actor is a weak initial of it.

Steps are not single accesses. A step runs until the next scheduling point, so what it
touches can depend on a value it read (``if x == 0: read y``), where Optimal-DPOR assumes
that a thread's local state decides it. A sleeper that commutes with ``notdep(e).e'`` but
not with ``e`` would then stand for a reversal it does not cover: once ``e'`` runs first,
``e`` may touch more than it did, and every run from the sleeper has the sleeper before
``e``. So a sleeper (or a wakeup-tree branch) that is not itself in the sequence covers it
only if it also commutes with ``e`` (`_weak_initial`).

The runtime calls `_DporRun.step` at every scheduling point, even where one actor alone can
run, because races need every step; it still records a choice only where several could run,
so schedule lines and replay are unchanged.

An execution that a finding ends early (an exception, a broken invariant) leaves the other
actors' next steps unrun, so their races with the step that ended it are unknown. That step
is dependent with every step (``ENDS_KEY``), and every actor that could run there is tried
before it, as naive search would.

Preemption bounding (CHESS, loom) combines by pruning: a branch that would exceed the bound
is never taken, and where the reduction would need one, the running actor continues. A race
is also reversed at the start of the block of steps its first step belongs to, where
switching may cost no preemption (the conservative branches of bounded POR, Coons, Musuvathi
and McKinley, OOPSLA 2013). Under a bound DPOR is not guaranteed to cover every trace that
a bounded naive search covers (loom has the same limit); without one it covers all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from lockstep.scheduler.events import (
    ACQUIRE,
    ACQUISITIONS,
    ALL_MODES,
    FREE,
    FREE_HELD,
    LOCK_OPS,
    PEEK,
    PEEK_HELD,
    QUEUE_READER,
    QUEUE_WRITER,
    READ,
    READ_ACQUIRE,
    READ_RELEASE,
    RELEASE,
    WRITE,
    Footprint,
    Key,
)
from lockstep.scheduler.runtime import ScheduleMismatch, current
from lockstep.scheduler.strategies import NondeterminismError

if TYPE_CHECKING:
    from lockstep.scheduler.runtime import Actor, Execution

_RELEASES = RELEASE | READ_RELEASE
#: In the footprint of a step that ended its execution early: no step commutes with it.
ENDS_KEY = "#ends"
_FREES = FREE | FREE_HELD
_LOCK_STATE = LOCK_OPS | PEEK | _FREES
#: Modes that say their actor held the lock: no other actor's lock operation can come
#: between them and that actor's acquisition of it.
_IN_SECTION = LOCK_OPS | PEEK_HELD | FREE_HELD


def _conflicts() -> list[int]:
    """For every combination of modes, the modes it conflicts with (symmetric)."""
    single = {
        READ: WRITE,
        WRITE: READ | WRITE,
        ACQUIRE: _LOCK_STATE,
        READ_ACQUIRE: ACQUIRE | RELEASE | PEEK | _FREES,
        RELEASE: _LOCK_STATE,
        READ_RELEASE: ACQUIRE | RELEASE | PEEK | _FREES,
        PEEK: LOCK_OPS | _FREES | QUEUE_WRITER,
        PEEK_HELD: _FREES | QUEUE_WRITER,
        FREE: _LOCK_STATE | PEEK_HELD | QUEUE_WRITER | QUEUE_READER,
        FREE_HELD: _LOCK_STATE | PEEK_HELD | QUEUE_WRITER | QUEUE_READER,
        QUEUE_WRITER: QUEUE_WRITER | QUEUE_READER | _FREES | PEEK | PEEK_HELD,
        QUEUE_READER: QUEUE_WRITER | _FREES,
    }
    for bit, others in list(single.items()):
        for other in single:
            if others & other:
                single[other] |= bit
    table = []
    for modes in range(ALL_MODES):
        reach = 0
        for bit, others in single.items():
            if modes & bit:
                reach |= others
        table.append(reach)
    return table


#: ``_REACH[m] & n``: the modes of ``n`` that conflict with some mode of ``m``.
_REACH = _conflicts()


def conflicting_modes(m: int, n: int) -> int:
    """The modes of ``n`` that conflict with ``m`` (two accesses of one key)."""
    return _REACH[m] & n


def dependent(a: Footprint | None, b: Footprint | None) -> bool:
    """Whether two steps of different actors may not commute (see the module note)."""
    if a is None or b is None:
        return False
    x, y = a.modes, b.modes
    if ENDS_KEY in x or ENDS_KEY in y:
        return True
    if len(x) > len(y):
        x, y = y, x
    reach = _REACH
    for key, m in x.items():
        n = y.get(key)
        if n is not None and reach[m] & n:
            return True
    return False


def _join(clock: list[int], other: list[int]) -> None:
    for p, t in enumerate(other):
        if t > clock[p]:
            clock[p] = t


def _finish(node: _Node, fp: Footprint) -> None:
    """The step taken at ``node`` ended, having touched ``fp``: so did the branch."""
    node.fp = fp
    children = node.wut.children
    if children and children[0].actor == node.actor:
        children[0].fp = fp


class _Branch:
    """A node of a wakeup tree: the step of ``actor`` (with footprint ``fp``) and the
    sequences to explore after it, leftmost first."""

    __slots__ = ("actor", "children", "fp")

    def __init__(self, actor: int, fp: Footprint | None) -> None:
        self.actor = actor
        self.fp = fp
        self.children: list[_Branch] = []


class _Node:
    """One state of the current execution: who could run, who sleeps, what is left to
    explore from here (``wut.children``, the first being the branch being explored) and
    the step taken."""

    __slots__ = (
        "actor",
        "enabled",
        "fp",
        "guided",
        "inherited",
        "preemptions",
        "running",
        "sleep",
        "wut",
    )

    def __init__(
        self,
        enabled: tuple[int, ...],
        running: int,
        sleep: dict[int, Footprint | None],
        wut: _Branch,
        preemptions: int,
    ) -> None:
        self.enabled = enabled
        self.running = running
        self.sleep = sleep
        self.wut = wut
        self.preemptions = preemptions
        self.actor = -1
        self.fp: Footprint | None = None
        #: its wakeup tree had branches when it was created (else its first step was free)
        self.guided = bool(wut.children)
        #: the sleepers it inherited; those after them are its own explored branches
        self.inherited = len(sleep)

    def enables(self, actor: int) -> bool:
        return actor in self.enabled

    def cost(self, actor: int) -> int:
        """Preemptions after taking ``actor``'s step here."""
        return self.preemptions + (
            1 if self.running >= 0 and actor != self.running and self.enables(self.running) else 0
        )


class _DporRun:
    """The chooser of one execution: replays the stack's prefix, takes the branch to
    explore, then follows the wakeup tree and, past it, any actor not asleep."""

    def __init__(self, dpor: Dpor) -> None:
        self.dpor = dpor
        self.depth = 0

    def choose(self, options: list[int]) -> int:
        raise RuntimeError("Dpor chooses at every step (step), never through choose()")

    def step(self, runnable: list[Actor], running: Actor | None) -> Actor:
        dpor = self.dpor
        stack = dpor.stack
        i = self.depth
        self.depth += 1
        ex = current()
        if i:
            _finish(stack[i - 1], ex.last_footprint)
        if i < len(stack):
            node = stack[i]
            want = node.actor if i < dpor.resume_at else node.wut.children[0].actor
            if i == dpor.resume_at:
                node.actor = want
        else:
            node = self._new_node(i, runnable, running)
            want = node.actor
        for actor in runnable:
            if actor.index == want:
                break
        else:
            if i < dpor.resume_at:
                raise ScheduleMismatch(
                    NondeterminismError(
                        f"the program is not deterministic: at step {i + 1} actor {want} "
                        f"cannot run (runnable: {[a.index for a in runnable]})"
                    )
                )
            actor = self._replan(node, runnable, running)
        node.fp = None
        return actor

    def _replan(self, node: _Node, runnable: list[Actor], running: Actor | None) -> Actor:
        """A planned step cannot run here (a reversal that a lock's queue made impossible):
        drop that branch and choose freely, as past the wakeup tree. The planned actor goes
        to sleep here, so that the same reversal is not planned again; it wakes with the
        first step it depends on (the release that would let it run)."""
        self.dpor.infeasible += 1
        children = node.wut.children
        planned = children.pop(0)
        node.sleep[planned.actor] = planned.fp
        children.insert(0, self._free_choice(node, runnable, running))
        node.actor = children[0].actor
        return next(a for a in runnable if a.index == node.actor)

    def end(self, ex: Execution) -> None:
        """The execution ended: the last step's footprint, and who was left waiting."""
        if self.depth:
            _finish(self.dpor.stack[self.depth - 1], ex.last_footprint)
        self.dpor.waiting = list(ex.blocked_at_end)
        self.dpor.cut_short = ex.aborted and not ex.deadlocked
        if self.dpor.cut_short and self.depth:
            node = self.dpor.stack[self.depth - 1]
            _finish(node, Footprint({**ex.last_footprint.modes, ENDS_KEY: 1}))

    def _new_node(self, i: int, runnable: list[Actor], running: Actor | None) -> _Node:
        dpor = self.dpor
        stack = dpor.stack
        if i:
            parent = stack[i - 1]
            fp = parent.fp
            sleep = (
                {q: f for q, f in parent.sleep.items() if not dependent(f, fp)}
                if parent.sleep
                else {}
            )
            wut = parent.wut.children[0]
            preemptions = parent.cost(parent.actor)
        else:
            sleep, wut, preemptions = {}, _Branch(-1, None), 0
        run = running.index if running is not None else -1
        node = _Node(tuple([a.index for a in runnable]), run, sleep, wut, preemptions)
        bound = dpor.preemption_bound
        children = wut.children
        if bound is not None:
            children[:] = [c for c in children if node.cost(c.actor) <= bound]
        if not children:
            children.append(self._free_choice(node, runnable, running))
        node.actor = children[0].actor
        stack.append(node)
        return node

    def _free_choice(self, node: _Node, runnable: list[Actor], running: Actor | None) -> _Branch:
        """Past the wakeup tree: the running actor if it may continue, else the first actor
        in program order that is not asleep (and within the preemption bound)."""
        dpor = self.dpor
        bound = dpor.preemption_bound
        if bound is None and running is not None and running.index not in node.sleep:
            # the common case, without the general loop below
            for actor in runnable:
                if actor is running:
                    return _Branch(actor.index, None)
        first = [running] if running is not None and running in runnable else []
        for actor in itertools.chain(first, (a for a in runnable if a is not running)):
            if actor.index in node.sleep:
                continue
            if bound is not None and node.cost(actor.index) > bound:
                continue
            return _Branch(actor.index, None)
        dpor.blocked += 1
        return _Branch((first or runnable)[0].index, None)


class _RaceCache:
    """What `Dpor._races` computed for the steps of the last execution: their vector clocks,
    their index among their actor's steps, the accesses so far by key, and the races. The
    next execution repeats the last one up to the node where it took a new branch; for
    those steps all of this is the same, so only the steps after are computed again. The
    races found are all planned again, as a full computation would plan them."""

    __slots__ = ("clocks", "history", "lidx", "races", "steps", "width")

    def __init__(self, width: int) -> None:
        self.width = width
        #: per step: its node, actor and footprint when it was computed
        self.steps: list[tuple[_Node, int, Footprint | None]] = []
        self.clocks: list[list[int]] = []
        self.lidx: list[int] = []
        self.history: dict[Key, list[tuple[int, int]]] = {}
        self.races: list[tuple[int, int]] = []

    def keep(self, stack: list[_Node], resume_at: int) -> int:
        """Drop what no longer holds for ``stack``, whose steps before ``resume_at`` were
        taken as last time; how many steps are kept."""
        steps = self.steps
        keep = min(resume_at, len(steps), len(stack))
        for j in range(keep):
            node, actor, fp = steps[j]
            now = node.fp
            if (
                node is not stack[j]
                or actor != node.actor
                or (fp is not now and (fp is None or now is None or fp.modes != now.modes))
            ):
                keep = j
                break
        if keep < len(steps):
            # only the keys the dropped steps touched have entries to drop
            history = self.history
            for _, _, fp in steps[keep:]:
                if fp is not None:
                    for key in fp.modes:
                        earlier = history[key]
                        while earlier and earlier[-1][0] >= keep:
                            earlier.pop()
            del steps[keep:], self.clocks[keep:], self.lidx[keep:]
            races = self.races
            while races and races[-1][1] >= keep:
                races.pop()
        return keep


class Dpor:
    """Exhaustive exploration with optimal DPOR (the strategy behind ``--strategy dfs``)."""

    name = "dfs"

    def __init__(self, *, preemption_bound: int | None = None) -> None:
        self.preemption_bound = preemption_bound
        self.stack: list[_Node] = []
        #: the node where the next execution leaves the previous one (takes a new branch)
        self.resume_at = 0
        #: the nodes above this depth are not this object's to backtrack to (a split
        #: exploration's shared prefix; 0 in one process)
        self.floor = 0
        #: executions in which every runnable actor was asleep somewhere (redundant ones)
        self.blocked = 0
        #: planned steps that could not run (and were replaced by a free choice)
        self.infeasible = 0
        #: actors the last execution left waiting for a lock: (actor, lock key, exclusive)
        self.waiting: list[tuple[int, int, bool]] = []
        #: the last execution ended early (a finding aborted it): the others' next steps,
        #: never run, may have come before the step that ended it
        self.cut_short = False
        self.exhausted = False
        self._run: _DporRun | None = None
        self._cache: _RaceCache | None = None

    def next_chooser(self) -> _DporRun | None:
        if self._run is not None:
            self._races(self._run.depth)
            if not self._backtrack():
                self.exhausted = True
                self._run = None
                return None
        self._run = _DporRun(self)
        return self._run

    # -- races ------------------------------------------------------------------------

    def _races(self, length: int) -> None:
        """Find the races of the execution that just ended and plan their reversals."""
        stack = self.stack
        del stack[length:]
        waiting, self.waiting = self.waiting, []
        if self.cut_short and stack:
            self.cut_short = False
            last = stack[-1]
            for p in last.enabled:
                if p != last.actor:
                    add_branch(last, p, None)
        actors = [node.actor for node in stack] + [actor for actor, _, _ in waiting]
        width = 1 + max(actors) if actors else 0
        cache = self._cache
        if cache is None or cache.width < width:
            cache = self._cache = _RaceCache(max(width, cache.width if cache else 0))
        width = cache.width
        start = cache.keep(stack, self.resume_at)
        local = [0] * width
        last_clock: list[list[int] | None] = [None] * width
        clocks, lidx, history, races = cache.clocks, cache.lidx, cache.history, cache.races
        for j in range(start):
            a = stack[j].actor
            local[a] = lidx[j] + 1
            last_clock[a] = clocks[j]
        for j in range(start, len(stack)):
            node = stack[j]
            a = node.actor
            lidx.append(local[a])
            local[a] += 1
            pred = last_clock[a]
            clock = list(pred) if pred is not None else [0] * width
            clock[a] = local[a]
            if node.fp is not None and node.fp.modes:
                self._step_races(j, a, node.fp.modes, clock, clocks, lidx, history, races)
            clocks.append(clock)
            last_clock[a] = clock
            cache.steps.append((node, a, node.fp))
        for k, j in races:
            self._reverse(k, (stack[j].actor, stack[j].fp), j, clocks, lidx)
        for a, key, write in waiting:
            pred = last_clock[a]
            clock = list(pred) if pred is not None else [0] * width
            mode = ACQUIRE if write else READ_ACQUIRE
            late: list[tuple[int, int]] = []
            self._step_races(len(stack), a, {key: mode}, clock, clocks, lidx, history, late)
            history[key].pop()
            for k, _ in late:
                self._reverse(k, (a, Footprint.of(key, mode)), len(stack), clocks, lidx)

    def _step_races(
        self,
        j: int,
        a: int,
        modes: dict[Key, int],
        clock: list[int],
        clocks: list[list[int]],
        lidx: list[int],
        history: dict[Key, list[tuple[int, int]]],
        races: list[tuple[int, int]],
    ) -> None:
        """Races of step ``j`` (actor ``a``, ``modes``) with the steps before it, in
        ``races``; completes its ``clock`` and adds it to ``history``."""
        stack = self.stack
        reach = _REACH
        acquisitions: list[int] = []
        edges: list[int] = []
        data: list[int] = []
        if ENDS_KEY in modes:
            data.extend(k for k in range(j) if stack[k].actor != a)
        for key, m in modes.items():
            earlier = history.setdefault(key, [])
            got = m & ACQUISITIONS
            rest = m & ~LOCK_OPS
            for k, n in earlier:
                if stack[k].actor == a or not reach[m] & n:
                    continue
                if n & FREE_HELD and m & _IN_SECTION:
                    # inside another's exclusive section: its acquisition is the race
                    n &= ~FREE_HELD
                    if not reach[m] & n:
                        edges.append(k)
                        continue
                if got and reach[got] & n & ~_RELEASES:
                    acquisitions.append(k)
                elif reach[rest] & n or reach[m] & n & ~LOCK_OPS:
                    data.append(k)
                else:
                    edges.append(k)
            earlier.append((j, m))
        for group in (acquisitions, data):
            if group is data:
                for k in edges:
                    _join(clock, clocks[k])
            for k in sorted(set(group), reverse=True):
                b = stack[k].actor
                if clock[b] > lidx[k]:
                    continue
                if group is acquisitions and self._queued_ahead(k, clock, lidx, modes):
                    _join(clock, clocks[k])
                    continue
                races.append((k, j))
                _join(clock, clocks[k])

    def _queued_ahead(
        self, k: int, clock: list[int], lidx: list[int], modes: dict[Key, int]
    ) -> bool:
        """Whether the writer acquiring at step ``k`` had queued on the rwsem before the
        reader of ``modes`` did (its queueing happens before): the reader cannot overtake
        it, so the two acquisitions do not race (their queueing does)."""
        stack = self.stack
        writer = stack[k]
        if not writer.fp or not any(
            m & READ_ACQUIRE and writer.fp.modes.get(key, 0) & ACQUIRE for key, m in modes.items()
        ):
            return False
        for m in range(k - 1, -1, -1):
            node = stack[m]
            if node.actor != writer.actor or node.fp is None:
                continue
            if any(node.fp.modes.get(key, 0) & QUEUE_WRITER for key in modes):
                return clock[writer.actor] > lidx[m]
            break
        return False

    def _branch(self, k: int, q: int) -> None:
        """Bounded search only: also try ``q`` at node ``k`` (a conservative branch, taken
        even where the reduction would call it equivalent to one that the bound prunes)."""
        fp = next((other.fp for other in self.stack[k:] if other.actor == q), None)
        self._add_branch(k, q, fp)

    def _add_branch(self, k: int, q: int, fp: Footprint | None) -> None:
        add_branch(self.stack[k], q, fp)

    def _reverse(
        self,
        k: int,
        last: tuple[int, Footprint | None],
        j: int,
        clocks: list[list[int]],
        lidx: list[int],
    ) -> None:
        """Insert ``notdep(e_k).last`` into the wakeup tree before step ``k``, where
        ``notdep(e_k)`` are the steps between ``k`` and ``j`` that do not happen after it."""
        stack = self.stack
        a, mine = stack[k].actor, lidx[k]
        v = [(stack[m].actor, stack[m].fp) for m in range(k + 1, j) if clocks[m][a] <= mine]
        v.append(last)
        self._wake(k, v, stack[k].fp)
        if self.preemption_bound is not None:
            start = k
            while start > 0 and stack[start - 1].actor == stack[k].actor:
                start -= 1
            if start < k:
                self._branch(start, last[0])

    def _wake(self, k: int, v: list[tuple[int, Footprint | None]], after: Footprint | None) -> None:
        """Plan the sequence ``v`` at node ``k``, whose step ``after`` it is to precede
        (the hook a split exploration overrides)."""
        wake(self.stack[k], v, after)

    # -- backtracking -----------------------------------------------------------------

    def _backtrack(self) -> bool:
        """Retire the branch just explored at the deepest node; resume at the deepest node
        with a branch left. False when nothing is left: the exploration is exhausted."""
        stack = self.stack
        bound = self.preemption_bound
        while len(stack) > self.floor:
            node = stack[-1]
            children = node.wut.children
            done = children.pop(0)
            node.sleep[done.actor] = node.fp
            if bound is not None:
                children[:] = [c for c in children if node.cost(c.actor) <= bound]
            if children:
                self.resume_at = len(stack) - 1
                return True
            self._retire(len(stack) - 1)
            stack.pop()
        return False

    def _retire(self, depth: int) -> None:
        """The node at ``depth`` is done (a hook for a split exploration's summaries)."""


def wake(node: _Node, v: list[tuple[int, Footprint | None]], after: Footprint | None) -> bool:
    """Insert ``v`` into ``node``'s wakeup tree unless a sleeping actor is a weak initial
    of it (a sequence equivalent to it was explored from here); whether it was inserted."""
    if covered(node.sleep.items(), v, after):
        return False
    return _insert(node.wut, v, after)


def covered(
    sleepers: Iterable[tuple[int, Footprint | None]],
    v: Sequence[tuple[int, Footprint | None]],
    after: Footprint | None,
) -> bool:
    """Whether one of ``sleepers`` (actor, next step) is a weak initial of ``v`` followed
    by the step ``after``: a sequence equivalent to it starts with a branch already
    explored."""
    return any(_weak_initial(p, fp, v, after) for p, fp in sleepers)


def without(
    v: Sequence[tuple[int, Footprint | None]], actor: int
) -> list[tuple[int, Footprint | None]]:
    """``v`` less ``actor``'s first step in it (what is left once that actor has gone)."""
    rest = list(v)
    for m, (other, _) in enumerate(rest):
        if other == actor:
            del rest[m]
            break
    return rest


def add_branch(node: _Node, q: int, fp: Footprint | None) -> bool:
    """Bounded search only: also try ``q`` at ``node`` unless it is asleep or planned
    there; whether it was added."""
    if not node.enables(q) or q in node.sleep:
        return False
    if any(child.actor == q for child in node.wut.children):
        return False
    node.wut.children.append(_Branch(q, fp))
    return True


def _weak_initial(
    p: int,
    fp: Footprint | None,
    v: Sequence[tuple[int, Footprint | None]],
    after: Footprint | None,
) -> bool:
    """Whether actor ``p`` (next step ``fp``) can start a sequence equivalent to ``v``
    then ``after``: its step comes before every step of ``v`` it depends on, and if it is
    not in ``v``, it commutes with ``after`` too.

    The last condition is not in Optimal-DPOR, whose events touch what their thread's
    local state decides. A step here runs until the next scheduling point, and what it
    touches may depend on a value it read: ``after`` is the step that raced with the end
    of ``v``, and once that end runs first, ``after`` may touch more than it did. A
    sleeper that conflicts with ``after`` as it ran does not stand for the reversal: the
    runs from it have it before ``after``, where ``after`` may behave as it did before."""
    for actor, other in v:
        if actor == p:
            return True
        if dependent(fp, other):
            return False
    return not dependent(fp, after)


def _insert(
    root: _Branch,
    v: list[tuple[int, Footprint | None]],
    after: Footprint | None,
) -> bool:
    """Insert ``v`` (to precede ``after``) into the wakeup tree ``root``, unless a branch
    already covers it; whether it was inserted."""
    node = root
    v = list(v)
    while True:
        if node is not root and not node.children:
            return False
        if not v:
            return False
        for child in node.children:
            if _weak_initial(child.actor, child.fp, v, after):
                v = without(v, child.actor)
                node = child
                break
        else:
            for actor, fp in v:
                branch = _Branch(actor, fp)
                node.children.append(branch)
                node = branch
            return True
