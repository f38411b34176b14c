"""Optimal dynamic partial-order reduction: one execution per Mazurkiewicz trace.

Design note. Two interleavings that differ only in the order of independent steps reach the
same state and show the same findings; exploring one per equivalence class (Mazurkiewicz
trace) is enough. This is Optimal-DPOR with wakeup trees and sleep sets (Abdulla, Aronis,
Jonsson and Sagonas, "Optimal dynamic partial order reduction", POPL 2014; "Source Sets",
JACM 2017), stateless as in CHESS and loom: every execution starts afresh and replays a
prefix of the previous one, so the exploration state is just the stack of `_Node`s of the
current execution.

A step is what an actor does from one scheduling point to the next; what it touches is its
footprint (`Actor.pending`, set at the point). Two steps are dependent (`dependent`) when
they touch the same object and at least one writes; every operation on one lock instance
(acquire attempt, acquire after waiting, release) is dependent on every other on it; reads
of one object, and operations on different objects, are independent. An actor's first step
(no footprint yet) runs only its own code. Fault points are independent of each other unless
a fault is being injected by count (the execution's ``fail_nth``: the n-th fault point
fails, so their order matters; detected at the first step).

The runtime calls `_DporRun.step` at every scheduling point, even where one actor alone can
run, because races need every step; it still records a choice only where several could run,
so schedule lines and replay are unchanged. At the end of an execution, `Dpor` finds its
races with vector clocks (per object, newest first: an earlier step on the same object is a
race if it does not already happen before), and inserts each reversal ``notdep(e).e'`` into
the wakeup tree of the node before ``e`` unless a sleeping actor is a weak initial of it.

Blocking. An actor that waits for a lock makes two steps on it: the attempt (which found it
taken: it joins the waiters) and, once the lock is grantable, the acquisition. That second
step is disabled until a release, so it cannot be moved before the step that enabled it;
the reversal that matters is against the previous acquisition of that lock, which took the
lock while the waiter could have had it. Such races are detected as "lock races".

Preemption bounding (CHESS, loom) combines by pruning: a branch that would exceed the bound
is never taken, and where the reduction would need one, the running actor continues. A race
is also reversed at the start of the block of steps its first step belongs to, where
switching may cost no preemption (the conservative branches of bounded POR, Coons, Musuvathi
and McKinley, OOPSLA 2013). Under a bound DPOR is not guaranteed to cover every trace that
a bounded naive search covers (loom has the same limit); without one it covers all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scheduler.events import SHARED_ACCESSES, Footprint
from scheduler.runtime import ScheduleMismatch, current
from scheduler.strategies import NondeterminismError

if TYPE_CHECKING:
    from scheduler.runtime import Actor


#: Outcomes of an acquire step: it took the lock, it found it taken and waits, or (a failed
#: trylock) it changed nothing.
TOOK, WAITS, NOTHING = 0, 1, 2
_ACQUIRES = frozenset({"acquire", "read-acquire"})


def dependent(a: Footprint | None, b: Footprint | None, faults: bool = False) -> bool:
    """Whether two steps' order can matter (see the module note)."""
    if a is None or b is None:
        return False
    if a.access == "fault" or b.access == "fault":
        return faults and a.access == b.access
    if a.obj != b.obj:
        return False
    return not (a.access in SHARED_ACCESSES and b.access in SHARED_ACCESSES)


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
        "outcome",
        "preemptions",
        "retry",
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
        #: the step acquires a lock this actor waited for (it was blocked until now)
        self.retry = False
        #: of an acquire step, once the next step began: `TOOK`, `WAITS` or `NOTHING`
        self.outcome = TOOK

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
        self.previous: Actor | None = None

    def choose(self, options: list[int]) -> int:
        raise RuntimeError("Dpor chooses at every step (step), never through choose()")

    def step(self, runnable: list[Actor], running: Actor | None) -> Actor:
        dpor = self.dpor
        stack = dpor.stack
        i = self.depth
        self.depth += 1
        if not i and not dpor.faults and current().fail_nth is not None:
            dpor.faults = True
        previous = self.previous
        if previous is not None:
            last = stack[i - 1]
            fp = last.fp
            if fp is not None and fp.access in _ACQUIRES:
                if previous.blocked_on is not None:
                    last.outcome = WAITS
                elif not previous.held or previous.held[-1].lock.name != fp.obj:
                    last.outcome = NOTHING
        if i < len(stack):
            node = stack[i]
            want = node.actor if i < dpor.resume_at else node.wut.children[0].actor
            if i == dpor.resume_at:
                node.actor = want
                node.outcome = TOOK
        else:
            node = self._new_node(i, runnable, running)
            want = node.actor
        for actor in runnable:
            if actor.index == want:
                break
        else:
            raise ScheduleMismatch(
                NondeterminismError(
                    f"the program is not deterministic: at step {i + 1} actor {want} cannot "
                    f"run (runnable: {[a.index for a in runnable]})"
                )
            )
        node.fp = actor.pending
        node.retry = actor.blocked_on is not None
        self.previous = actor
        return actor

    def _new_node(self, i: int, runnable: list[Actor], running: Actor | None) -> _Node:
        dpor = self.dpor
        stack = dpor.stack
        if i:
            parent = stack[i - 1]
            fp = parent.fp
            sleep = {q: f for q, f in parent.sleep.items() if not dependent(f, fp, dpor.faults)}
            wut = parent.wut.children[0]
            preemptions = parent.cost(parent.actor)
        else:
            sleep, wut, preemptions = {}, _Branch(-1, None), 0
        run = running.index if running is not None else -1
        node = _Node(tuple(a.index for a in runnable), run, sleep, wut, preemptions)
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
        ordered = list(runnable)
        if running is not None and running in ordered:
            ordered.remove(running)
            ordered.insert(0, running)
        bound = dpor.preemption_bound
        for actor in ordered:
            if actor.index in node.sleep:
                continue
            if bound is not None and node.cost(actor.index) > bound:
                continue
            return _Branch(actor.index, actor.pending)
        dpor.blocked += 1
        return _Branch(ordered[0].index, ordered[0].pending)


class Dpor:
    """Exhaustive exploration with optimal DPOR (the strategy behind ``--strategy dfs``)."""

    name = "dfs"

    def __init__(self, *, preemption_bound: int | None = None, faults: bool = False) -> None:
        self.preemption_bound = preemption_bound
        self.faults = faults
        self.stack: list[_Node] = []
        #: the node where the next execution leaves the previous one (takes a new branch)
        self.resume_at = 0
        #: the nodes above this depth are not this object's to backtrack to (a split
        #: exploration's shared prefix; 0 in one process)
        self.floor = 0
        #: executions in which every runnable actor was asleep somewhere (redundant ones)
        self.blocked = 0
        self.exhausted = False
        self._run: _DporRun | None = None

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
        faults = self.faults
        width = 1 + max(node.actor for node in stack) if stack else 0
        local = [0] * width
        lidx: list[int] = []
        clocks: list[list[int]] = []
        last_clock: list[list[int] | None] = [None] * width
        by_obj: dict[str, list[int]] = {}
        fault_steps: list[int] = []
        races: list[tuple[int, int]] = []
        for j, node in enumerate(stack):
            a = node.actor
            lidx.append(local[a])
            local[a] += 1
            pred = last_clock[a]
            clock = list(pred) if pred is not None else [0] * width
            clock[a] = local[a]
            fp = node.fp
            if fp is not None:
                if fp.access == "fault":
                    earlier = fault_steps if faults else []
                else:
                    earlier = by_obj.setdefault(fp.obj, [])
                for k in reversed(earlier):
                    b = stack[k].actor
                    if b == a or not dependent(stack[k].fp, fp, faults):
                        continue
                    if clock[b] > lidx[k]:
                        continue
                    races.append((k, j))
                    other = clocks[k]
                    for p in range(width):
                        if other[p] > clock[p]:
                            clock[p] = other[p]
                earlier.append(j)
            clocks.append(clock)
            last_clock[a] = clock
        for k, j in races:
            late = stack[j]
            if late.retry and not self._feasible(k, j, clocks, lidx):
                k = self._lock_race(k, j, clocks, lidx)
                if k < 0:
                    continue
            self._reverse(k, j, clocks, lidx)
            if self.preemption_bound is not None:
                start = k
                while start > 0 and stack[start - 1].actor == stack[k].actor:
                    start -= 1
                if start < k:
                    self._branch(start, stack[j].actor)

    def _feasible(self, k: int, j: int, clocks: list[list[int]], lidx: list[int]) -> bool:
        """Whether the waiting actor of step ``j`` could take its lock right after
        ``pre(e_k).notdep(e_k)``. The steps kept there have the outcomes they had here (all
        they depend on is kept), so the lock's state there is replayed from them."""
        stack = self.stack
        late = stack[j]
        q, obj = late.actor, late.fp.obj if late.fp is not None else ""
        a, mine = stack[k].actor, lidx[k]
        writer = -1
        readers: list[int] = []
        waiters: list[tuple[int, bool]] = []
        for m in range(j):
            node = stack[m]
            fp = node.fp
            if fp is None or fp.obj != obj or m == k or (m > k and clocks[m][a] > mine):
                continue
            access, actor = fp.access, node.actor
            if access == "release":
                writer = -1
            elif access == "read-release":
                if actor in readers:
                    readers.remove(actor)
            elif node.outcome == WAITS:
                waiters.append((actor, access == "acquire"))
            elif node.outcome == TOOK:
                if node.retry and (actor, access == "acquire") in waiters:
                    waiters.remove((actor, access == "acquire"))
                if access == "acquire":
                    writer = actor
                else:
                    readers.append(actor)
        if writer >= 0:
            return False
        if late.fp is not None and late.fp.access == "acquire":
            return not readers
        for waiter, wants_write in waiters:
            if waiter == q:
                return True
            if wants_write:
                return False
        return True

    def _lock_race(self, k: int, j: int, clocks: list[list[int]], lidx: list[int]) -> int:
        """For a step ``j`` that could not run before its race partner ``k`` (it waited for
        the lock ``k`` released): the previous acquisition of that lock by another actor,
        made while ``j``'s actor could have taken it instead; -1 if there is none."""
        stack = self.stack
        node = stack[j]
        q, obj = node.actor, node.fp.obj if node.fp is not None else ""
        for m in range(j - 1, -1, -1):
            other = stack[m]
            if other.actor == q:
                return -1
            fp = other.fp
            if fp is None or fp.obj != obj or fp.access not in _ACQUIRES or other.outcome != TOOK:
                continue
            if not dependent(fp, node.fp):
                continue
            return m if self._feasible(m, j, clocks, lidx) else -1
        return -1

    def _branch(self, k: int, q: int) -> None:
        """Bounded search only: also try ``q`` at node ``k`` (a conservative branch, taken
        even where the reduction would call it equivalent to one that the bound prunes)."""
        fp = next((other.fp for other in self.stack[k:] if other.actor == q), None)
        self._add_branch(k, q, fp)

    def _add_branch(self, k: int, q: int, fp: Footprint | None) -> None:
        add_branch(self.stack[k], q, fp)

    def _reverse(self, k: int, j: int, clocks: list[list[int]], lidx: list[int]) -> None:
        """Insert ``notdep(e_k).e_j`` into the wakeup tree before step ``k``."""
        stack = self.stack
        a, mine = stack[k].actor, lidx[k]
        v = [(stack[m].actor, stack[m].fp) for m in range(k + 1, j) if clocks[m][a] <= mine]
        v.append((stack[j].actor, stack[j].fp))
        self._wake(k, v)

    def _wake(self, k: int, v: list[tuple[int, Footprint | None]]) -> None:
        """Plan the sequence ``v`` at node ``k`` (the hook a split exploration overrides)."""
        wake(self.stack[k], v, self.faults)

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


def wake(node: _Node, v: list[tuple[int, Footprint | None]], faults: bool) -> bool:
    """Insert ``v`` into ``node``'s wakeup tree unless a sleeping actor is a weak initial
    of it (a sequence equivalent to it was explored from here); whether it was inserted."""
    if covered(node.sleep.items(), v, faults):
        return False
    return _insert(node.wut, v, faults)


def covered(
    sleepers: Iterable[tuple[int, Footprint | None]],
    v: Sequence[tuple[int, Footprint | None]],
    faults: bool,
) -> bool:
    """Whether one of ``sleepers`` (actor, next step) is a weak initial of ``v``: a sequence
    equivalent to ``v`` starts with a branch already explored."""
    return any(_weak_initial(p, fp, v, faults) for p, fp in sleepers)


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
    p: int, fp: Footprint | None, v: Sequence[tuple[int, Footprint | None]], faults: bool
) -> bool:
    """Whether actor ``p`` (next step ``fp``) can start a sequence equivalent to ``v``: its
    step comes before every step of ``v`` it depends on."""
    for actor, other in v:
        if actor == p:
            return True
        if dependent(fp, other, faults):
            return False
    return True


def _insert(root: _Branch, v: list[tuple[int, Footprint | None]], faults: bool) -> bool:
    """Insert ``v`` into the wakeup tree ``root``, unless a branch already covers it;
    whether it was inserted."""
    node = root
    v = list(v)
    while True:
        if node is not root and not node.children:
            return False
        if not v:
            return False
        for child in node.children:
            if _weak_initial(child.actor, child.fp, v, faults):
                v = without(v, child.actor)
                node = child
                break
        else:
            for actor, fp in v:
                branch = _Branch(actor, fp)
                node.children.append(branch)
                node = branch
            return True
