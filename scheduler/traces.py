"""Counting equivalence classes by brute force: the yardstick for partial-order reduction.

Design note. DPOR claims one execution per class of its lock-aware equivalence; this module
checks the claim independently of `scheduler.dpor`. It enumerates every interleaving with
the naive depth-first search, takes each step's footprint as the runtime observed it
(`scheduler.access`, the same records DPOR reads, and nothing DPOR computes), and
canonicalizes each execution: the steps of each actor in order, the actors left waiting at
the end, and for every pair of conflicting accesses of different actors, which came first.
Two interleavings are equivalent exactly when these agree.

Conflict is derived here from first principles rather than imported from the reduction it
checks: every access mode is a set of operations on the components of a key's state (a
field's value; a lock's exclusive holder, its reader count, its waiting queue, whether it
was freed), and two accesses conflict when they touch a common component and do not both
only read it or only count on it (taking and dropping read holds commute).

Only for small programs: the enumeration is as slow as naive search.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING

from attrs import frozen

from lockstep.scheduler import events as ev
from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND, ActorFn, Execution, Program, run_all
from lockstep.scheduler.strategies import DepthFirst

if TYPE_CHECKING:
    from lockstep.scheduler.runtime import Actor

Step = tuple[int, "ev.Footprint | None"]

_R, _W, _COUNT = "r", "w", "count"
#: What each access mode does to the components of its key's state.
_EFFECTS: dict[int, tuple[tuple[str, str], ...]] = {
    ev.READ: (("value", _R),),
    ev.WRITE: (("value", _W),),
    ev.ACQUIRE: (("owner", _R), ("readers", _R), ("owner", _W), ("freed", _R)),
    ev.READ_ACQUIRE: (("owner", _R), ("readers", _COUNT), ("freed", _R)),
    ev.RELEASE: (("owner", _W), ("freed", _R)),
    ev.READ_RELEASE: (("readers", _COUNT), ("freed", _R)),
    ev.PEEK: (("owner", _R), ("readers", _R), ("freed", _R), ("queue", _R)),
    ev.FREE: (("owner", _R), ("readers", _R), ("freed", _W)),
    # by a holder: its own hold fixes the owner and the readers it sees
    ev.PEEK_HELD: (("freed", _R), ("queue", _R)),
    ev.FREE_HELD: (("freed", _W),),
    ev.QUEUE_WRITER: (("queue", _W),),
    ev.QUEUE_READER: (("queue", _R),),
}


def _effects(modes: int) -> dict[str, set[str]]:
    touched: dict[str, set[str]] = {}
    for bit, effects in _EFFECTS.items():
        if modes & bit:
            for component, how in effects:
                touched.setdefault(component, set()).add(how)
    return touched


@functools.cache
def conflict(m: int, n: int) -> bool:
    """Whether accesses ``m`` and ``n`` of one key by different actors conflict."""
    a, b = _effects(m), _effects(n)
    for component, hows in a.items():
        others = b.get(component)
        if not others:
            continue
        both = hows | others
        if both == {_R} or both == {_COUNT}:
            continue
        return True
    return False


def canonical(steps: list[Step], waiting: tuple[tuple[int, int], ...] = ()) -> tuple[object, ...]:
    """The class of an interleaving: per-actor steps, who waits at the end, and the order
    of every conflicting pair of accesses."""
    count: dict[int, int] = {}
    per_actor: dict[int, list[tuple[object, ...]]] = {}
    by_key: dict[object, list[tuple[int, int, int]]] = {}
    for actor, fp in steps:
        k = count.get(actor, 0)
        count[actor] = k + 1
        modes = fp.modes if fp is not None else {}
        per_actor.setdefault(actor, []).append(tuple(sorted(modes.items(), key=repr)))
        for key, mode in modes.items():
            by_key.setdefault(key, []).append((actor, k, mode))
    order = set()
    for accesses in by_key.values():
        for j, (b, kb, n) in enumerate(accesses):
            for a, ka, m in accesses[:j]:
                if a != b and conflict(m, n):
                    order.add(((a, ka), (b, kb)))
    actors = tuple(sorted((a, tuple(f)) for a, f in per_actor.items()))
    return (actors, tuple(sorted(waiting)), frozenset(order))


class _Recorder:
    """Chooses as naive dfs does, and records every step with its observed footprint."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.steps: list[list[object]] = []
        self.waiting: tuple[tuple[int, int], ...] = ()

    def choose(self, options: list[int]) -> int:
        raise RuntimeError("the recorder chooses through step()")

    def step(self, runnable: list[Actor], running: Actor | None) -> Actor:
        from lockstep.scheduler.runtime import current

        if self.steps:
            self.steps[-1][1] = current().last_footprint
        if len(runnable) == 1:
            chosen = runnable[0]
        else:
            ordered = list(runnable)
            if running is not None and running in ordered:
                ordered.remove(running)
                ordered.insert(0, running)
            index = self.inner.choose([a.index for a in ordered])  # type: ignore[attr-defined]
            chosen = next(a for a in ordered if a.index == index)
        self.steps.append([chosen.index, None])
        return chosen

    def end(self, ex: Execution) -> None:
        if self.steps:
            self.steps[-1][1] = ex.last_footprint
        self.waiting = tuple((a, key) for a, key, _ in ex.blocked_at_end)

    def recorded(self) -> list[Step]:
        return [(a, fp) for a, fp in self.steps]  # type: ignore[misc]


@frozen
class TraceCount:
    interleavings: int
    traces: int


def count_traces(
    program: Callable[[], Program | Mapping[str, ActorFn]],
    *,
    limit: int = 200_000,
    step_bound: int = DEFAULT_STEP_BOUND,
) -> TraceCount:
    """Enumerate every interleaving of ``program`` and count its Mazurkiewicz traces.
    Raises `RuntimeError` past ``limit`` interleavings."""
    strategy = DepthFirst()
    seen: set[tuple[object, ...]] = set()
    runs = 0

    def every_interleaving() -> Generator[Execution, None, None]:
        nonlocal runs
        while (inner := strategy.next_chooser()) is not None:
            runs += 1
            if runs > limit:
                raise RuntimeError(f"more than {limit} interleavings: too big to count")
            recorder = _Recorder(inner)
            yield Execution(program, recorder, lockdep=None, step_bound=step_bound)
            seen.add(canonical(recorder.recorded(), recorder.waiting))

    # one trio run hosts them all, as an exploration's
    run_all(every_interleaving())
    return TraceCount(runs, len(seen))
