"""PCT: probabilistic concurrency testing with a guarantee for bugs of small depth.

Design note. A bug of depth ``d`` needs ``d`` ordering constraints between steps to show
(an ABBA deadlock has depth 2). PCT (Burckhardt, Kothari, Musuvathi and Nagarakatte,
"A randomized scheduler with probabilistic guarantees of finding bugs", ASPLOS 2010) gives
each actor a random distinct priority at the start of an execution, always runs the
highest-priority runnable actor, and at ``d - 1`` steps chosen uniformly among the first
``k`` lowers the priority of the actor about to run below every initial one. Each execution
then finds a given depth-``d`` bug with probability at least ``1 / (n * k**(d - 1))`` for
``n`` actors and ``k`` steps, where a random walk's chance can shrink exponentially in ``k``.

``k`` is not known before the first execution: execution 0 assumes `INITIAL_STEPS`, and
every later one uses the length of execution 0 (a change point past the end of an execution
is wasted, so an overestimate costs as much as the bound says). Execution ``i``
draws its priorities and change points from its own generator (`execution_rng` of the seed
and ``i``), so a seed reproduces the whole exploration, and a share of it (``start``,
``stride``: ``--jobs``) runs the same executions in another process; each finding replays
from its own schedule line.

Steps are counted at every scheduling point (the runtime calls `step` even where one actor
alone can run), as the paper counts them.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from lockstep.scheduler.strategies import execution_rng

if TYPE_CHECKING:
    from lockstep.scheduler.runtime import Actor

#: The step count assumed before any execution has been seen.
INITIAL_STEPS = 50


class _PctRun:
    """The chooser of one PCT execution."""

    def __init__(self, depth: int, rng: random.Random, change_points: dict[int, int]) -> None:
        self.depth = depth
        self.rng = rng
        self.change_points = change_points
        self.priorities: dict[int, int] = {}
        self.steps = 0

    def choose(self, options: list[int]) -> int:
        raise RuntimeError("PCT chooses at every step (step), never through choose()")

    def step(self, runnable: list[Actor], running: Actor | None) -> Actor:
        self.steps += 1
        priorities = self.priorities
        if not priorities:
            ranks = list(range(len(runnable)))
            self.rng.shuffle(ranks)
            depth = self.depth
            priorities.update({a.index: depth + r for a, r in zip(runnable, ranks, strict=True)})
        chosen = max(runnable, key=lambda a: priorities.get(a.index, 0))
        lowered = self.change_points.get(self.steps)
        if lowered is not None:
            priorities[chosen.index] = lowered
            chosen = max(runnable, key=lambda a: priorities.get(a.index, 0))
        return chosen


class Pct:
    """Seeded PCT of depth ``depth`` (``--strategy pct --depth D``). A share of a parallel
    exploration gets ``k`` (the length of execution 0) from its coordinator."""

    name = "pct"
    exhausted = False

    def __init__(
        self,
        seed: int,
        depth: int = 3,
        *,
        start: int = 0,
        stride: int = 1,
        k: int | None = None,
    ) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.seed = seed
        self.depth = depth
        self.index = start
        self.stride = stride
        self.k = k
        self._run: _PctRun | None = None

    def next_chooser(self) -> _PctRun:
        if self.k is None and self._run is not None:
            self.k = max(1, self._run.steps)
        index = self.index
        self.index += self.stride
        k = INITIAL_STEPS if index == 0 or self.k is None else self.k
        rng = execution_rng(self.seed, index)
        points = rng.sample(range(1, k + 1), min(self.depth - 1, k))
        # the i-th change point lowers the actor to priority d - 1 - i: below every initial
        # priority (>= d) and below the actors lowered before it
        change_points = {step: self.depth - 1 - i for i, step in enumerate(points)}
        self._run = _PctRun(self.depth, rng, change_points)
        return self._run
