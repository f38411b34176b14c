"""Strategies: who chooses at each scheduling point, execution after execution.

A strategy hands out one `Chooser` per execution and learns from its end. Every choice of an
exploration is made here and nowhere else. The options a chooser gets are the runnable
actors' indices with the running actor first (continuing costs no preemption), then the
others in program order.

- `Dpor` (scheduler/dpor.py): ``dfs``, exhaustive with optimal partial-order reduction.
- `DepthFirst`: ``naive-dfs``, exhaustive and stateless (it re-executes from the start):
  the exploration tree is the sequence of (options, position) of the previous execution;
  the next execution follows it to the deepest point with an untried option, takes that,
  and then the first option everywhere below. The first execution therefore runs the actors
  one after another.
- `Pct` (scheduler/pct.py): ``pct``, seeded random priorities with d-1 change points.
- `RandomWalk`: a uniformly random runnable actor at each point, from one seeded generator.
- `Replay`: the recorded choices, checked against what is runnable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from lockstep.scheduler import runtime
from lockstep.scheduler.runtime import Chooser, ScheduleMismatch
from lockstep.scheduler.schedule import ScheduleError


class Strategy(Protocol):
    """Hands out one chooser per execution; None when the exploration is exhausted."""

    name: str
    exhausted: bool

    def next_chooser(self) -> Chooser | None: ...


class NondeterminismError(RuntimeError):
    """The program made different options available under the same choices."""


class _DepthFirstChooser:
    def __init__(self, strategy: DepthFirst) -> None:
        self.strategy = strategy
        self.path = strategy._path
        self.options_seen = strategy._options
        self.depth = 0

    def choose(self, options: list[int]) -> int:
        depth = self.depth
        self.depth += 1
        if depth < len(self.path):
            if tuple(options) != self.options_seen[depth]:
                raise ScheduleMismatch(
                    NondeterminismError(
                        f"the program is not deterministic: at choice {depth + 1} the runnable "
                        f"actors were {list(self.options_seen[depth])}, now {options}"
                    )
                )
            return options[self.path[depth][0]]
        strategy = self.strategy
        self.path.append([0])
        self.options_seen.append(tuple(options))
        if strategy.preemption_bound is not None:
            strategy._note_preemptions(depth, options)
        return options[0]


class DepthFirst:
    """Naive exhaustive search, optionally preemption-bounded (CHESS): with a bound, an
    option other than the running actor is tried only while the preemptions above it
    leave room for one more."""

    name = "naive-dfs"

    def __init__(self, *, preemption_bound: int | None = None) -> None:
        self.preemption_bound = preemption_bound
        self._path: list[list[int]] = []
        self._options: list[tuple[int, ...]] = []
        #: per depth, with a bound: preemptions above it, and whether option 0 is the
        #: running actor (so that any other option preempts it)
        self._preempt: list[tuple[int, bool]] = []
        self._started = False
        self.exhausted = False

    def next_chooser(self) -> _DepthFirstChooser | None:
        if self._started and not self._backtrack():
            self.exhausted = True
            return None
        self._started = True
        return _DepthFirstChooser(self)

    def _note_preemptions(self, depth: int, options: list[int]) -> None:
        above = 0
        if depth:
            before, running_first = self._preempt[depth - 1]
            above = before + (running_first and self._path[depth - 1][0] > 0)
        running = runtime.current().running
        del self._preempt[depth:]
        self._preempt.append((above, running is not None and running.index == options[0]))

    def _backtrack(self) -> bool:
        bound = self.preemption_bound
        while self._path:
            depth = len(self._path) - 1
            self._path[-1][0] += 1
            fits = True
            if bound is not None:
                above, running_first = self._preempt[depth]
                fits = not running_first or above + 1 <= bound
            if fits and self._path[-1][0] < len(self._options[depth]):
                return True
            self._path.pop()
            self._options.pop()
        return False


class _RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, options: list[int]) -> int:
        return options[self.rng.randrange(len(options))]


def execution_rng(seed: int, index: int) -> random.Random:
    """The generator of execution ``index`` of a seeded exploration: each execution has its
    own, so that any subset of the executions can run elsewhere (``--jobs``) unchanged."""
    return random.Random(seed * 1_000_003 + index)


class RandomWalk:
    """Seeded random walks; execution ``i`` draws from `execution_rng` ``(seed, i)``. With
    ``start`` and ``stride`` it runs executions start, start + stride, ... (one share of a
    parallel exploration)."""

    name = "random"
    exhausted = False

    def __init__(self, seed: int, *, start: int = 0, stride: int = 1) -> None:
        self.seed = seed
        self.index = start
        self.stride = stride

    def next_chooser(self) -> _RandomChooser:
        chooser = _RandomChooser(execution_rng(self.seed, self.index))
        self.index += self.stride
        return chooser


class Replay:
    """Follows recorded choices; a choice that is not runnable, or a missing or extra choice,
    is a `ScheduleError` naming the decision."""

    name = "replay"

    def __init__(self, choices: Sequence[int]) -> None:
        self.choices = tuple(choices)
        self.position = 0

    def choose(self, options: list[int]) -> int:
        if self.position >= len(self.choices):
            raise ScheduleMismatch(
                ScheduleError(
                    f"schedule does not match the scenario: it ends after {len(self.choices)} "
                    "choices but the execution needs more"
                )
            )
        choice = self.choices[self.position]
        self.position += 1
        if choice not in options:
            raise ScheduleMismatch(
                ScheduleError(
                    f"schedule does not match the scenario: choice {self.position} is actor "
                    f"{choice}, but the runnable actors there are {sorted(options)}"
                )
            )
        return choice

    def finish(self) -> None:
        if self.position != len(self.choices):
            raise ScheduleError(
                f"schedule does not match the scenario: the execution ended after "
                f"{self.position} of its {len(self.choices)} choices"
            )


STRATEGIES = ("dfs", "naive-dfs", "random", "pct")


def make_strategy(
    name: str,
    seed: int,
    *,
    preemption_bound: int | None = None,
    depth: int = 3,
) -> Strategy:
    """The strategy called ``name``; ``depth``: the bug depth PCT aims at."""
    if name == "dfs":
        from lockstep.scheduler.dpor import Dpor

        return Dpor(preemption_bound=preemption_bound)
    if name == "naive-dfs":
        return DepthFirst(preemption_bound=preemption_bound)
    if name == "random":
        return RandomWalk(seed)
    if name == "pct":
        from lockstep.scheduler.pct import Pct

        return Pct(seed, depth)
    raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
