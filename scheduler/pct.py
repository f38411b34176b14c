"""PCT: probabilistic concurrency testing with a guarantee for bugs of small depth.

Design note. A bug of depth ``d`` needs ``d`` ordering constraints between steps to show
(an ABBA deadlock has depth 2). PCT (Burckhardt, Kothari, Musuvathi and Nagarakatte,
"A randomized scheduler with probabilistic guarantees of finding bugs", ASPLOS 2010) gives
each actor a random distinct priority at the start of an execution, always runs the
highest-priority runnable actor, and at ``d - 1`` steps chosen uniformly among the first
``k`` lowers the priority of the actor about to run below every initial one. Each execution
then finds a given depth-``d`` bug with probability at least ``1 / (n * k**(d - 1))`` for
``n`` actors and ``k`` steps, where a random walk's chance can shrink exponentially in ``k``.

``k`` is not known before the first execution: it starts at `INITIAL_STEPS` and is then
the longest execution seen so far. Priorities and change points come from one seeded
generator, so a seed reproduces the whole exploration; each finding still replays from its
own schedule line like any other.

Steps are counted at every scheduling point (the runtime calls `step` even where one actor
alone can run), as the paper counts them.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.runtime import Actor

#: The step count assumed before any execution has been seen.
INITIAL_STEPS = 50


class _PctRun:
    """The chooser of one PCT execution."""

    def __init__(self, strategy: Pct, change_points: dict[int, int]) -> None:
        self.strategy = strategy
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
            self.strategy.rng.shuffle(ranks)
            depth = self.strategy.depth
            priorities.update({a.index: depth + r for a, r in zip(runnable, ranks, strict=True)})
        chosen = max(runnable, key=lambda a: priorities.get(a.index, 0))
        lowered = self.change_points.get(self.steps)
        if lowered is not None:
            priorities[chosen.index] = lowered
            chosen = max(runnable, key=lambda a: priorities.get(a.index, 0))
        return chosen


class Pct:
    """Seeded PCT of depth ``depth`` (``--strategy pct --depth D``)."""

    name = "pct"
    exhausted = False

    def __init__(self, seed: int, depth: int = 3) -> None:
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.depth = depth
        self.rng = random.Random(seed)
        self.k = INITIAL_STEPS
        self._run: _PctRun | None = None

    def next_chooser(self) -> _PctRun:
        if self._run is not None:
            self.k = max(self.k, self._run.steps)
        points = self.rng.sample(range(1, self.k + 1), min(self.depth - 1, self.k))
        # the i-th change point lowers the actor to priority d - 1 - i: below every initial
        # priority (>= d) and below the actors lowered before it
        change_points = {step: self.depth - 1 - i for i, step in enumerate(points)}
        self._run = _PctRun(self, change_points)
        return self._run
