"""Counting Mazurkiewicz traces by brute force: the yardstick for partial-order reduction.

Design note. Optimal DPOR claims one execution per Mazurkiewicz trace; this module checks
the claim independently of `scheduler.dpor`. It enumerates every interleaving with the naive
depth-first search, records each execution's steps (actor and footprint, at every scheduling
point), and canonicalizes each one by its happens-before relation: the steps of each actor
in order, and for every pair of dependent steps of different actors, which came first. Two
interleavings are equivalent exactly when these agree. The dependency relation is written
out again here, on purpose, rather than imported from the reduction it checks.

Only for small programs: the enumeration is as slow as naive search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from attrs import frozen

from scheduler.events import Footprint
from scheduler.runtime import DEFAULT_STEP_BOUND, ActorFn, Execution, Program
from scheduler.strategies import DepthFirst

if TYPE_CHECKING:
    from scheduler.runtime import Actor

Step = tuple[int, Footprint | None]


def conflict(a: Footprint | None, b: Footprint | None) -> bool:
    """Same object, and not two shared accesses (reads, rwsem read acquire/release); fault
    points never conflict (no injection)."""
    if a is None or b is None or a.access == "fault" or b.access == "fault":
        return False
    shared = ("read", "read-acquire", "read-release")
    return a.obj == b.obj and not (a.access in shared and b.access in shared)


def canonical(steps: list[Step]) -> tuple[object, ...]:
    """The trace of an interleaving: per-actor step sequences and the order of conflicts."""
    count: dict[int, int] = {}
    events: list[tuple[int, int]] = []
    per_actor: dict[int, list[Footprint | None]] = {}
    for actor, fp in steps:
        k = count.get(actor, 0)
        count[actor] = k + 1
        events.append((actor, k))
        per_actor.setdefault(actor, []).append(fp)
    order = frozenset(
        (events[i], events[j])
        for j in range(len(steps))
        for i in range(j)
        if steps[i][0] != steps[j][0] and conflict(steps[i][1], steps[j][1])
    )
    return (tuple(sorted((a, tuple(f)) for a, f in per_actor.items())), order)


class _Recorder:
    """Chooses as naive dfs does, and records every step with its footprint."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.steps: list[Step] = []

    def choose(self, options: list[int]) -> int:
        raise RuntimeError("the recorder chooses through step()")

    def step(self, runnable: list[Actor], running: Actor | None) -> Actor:
        if len(runnable) == 1:
            chosen = runnable[0]
        else:
            ordered = list(runnable)
            if running is not None and running in ordered:
                ordered.remove(running)
                ordered.insert(0, running)
            index = self.inner.choose([a.index for a in ordered])  # type: ignore[attr-defined]
            chosen = next(a for a in ordered if a.index == index)
        self.steps.append((chosen.index, chosen.pending))
        return chosen


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
    while True:
        inner = strategy.next_chooser()
        if inner is None:
            break
        runs += 1
        if runs > limit:
            raise RuntimeError(f"more than {limit} interleavings: too big to count")
        recorder = _Recorder(inner)
        Execution(program, recorder, lockdep=None, step_bound=step_bound).run()
        seen.add(canonical(recorder.steps))
    return TraceCount(runs, len(seen))
