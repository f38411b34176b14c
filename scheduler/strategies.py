"""Strategies: who chooses at each scheduling point, execution after execution.

A strategy hands out one `Chooser` per execution and learns from its end. Every choice of an
exploration is made here and nowhere else. The options a chooser gets are the runnable
actors' indices with the running actor first (continuing costs no preemption), then the
others in program order.

- `DepthFirst`: exhaustive and stateless (it re-executes from the start): the exploration
  tree is the sequence of (options, position) of the previous execution; the next execution
  follows it to the deepest point with an untried option, takes that, and then the first
  option everywhere below. The first execution therefore runs the actors one after another.
- `RandomWalk`: a uniformly random runnable actor at each point, from one seeded generator.
- `Replay`: the recorded choices, checked against what is runnable.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from scheduler.runtime import ScheduleMismatch
from scheduler.schedule import ScheduleError


class NondeterminismError(RuntimeError):
    """The program made different options available under the same choices."""


class _DepthFirstChooser:
    def __init__(self, path: list[list[int]], options_seen: list[tuple[int, ...]]) -> None:
        self.path = path
        self.options_seen = options_seen
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
        self.path.append([0])
        self.options_seen.append(tuple(options))
        return options[0]


class DepthFirst:
    name = "dfs"

    def __init__(self) -> None:
        self._path: list[list[int]] = []
        self._options: list[tuple[int, ...]] = []
        self._started = False
        self.exhausted = False

    def next_chooser(self) -> _DepthFirstChooser | None:
        if self._started and not self._backtrack():
            self.exhausted = True
            return None
        self._started = True
        return _DepthFirstChooser(self._path, self._options)

    def _backtrack(self) -> bool:
        while self._path:
            self._path[-1][0] += 1
            if self._path[-1][0] < len(self._options[len(self._path) - 1]):
                return True
            self._path.pop()
            self._options.pop()
        return False


class _RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choose(self, options: list[int]) -> int:
        return options[self.rng.randrange(len(options))]


class RandomWalk:
    name = "random"
    exhausted = False

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def next_chooser(self) -> _RandomChooser:
        return _RandomChooser(self._rng)


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


STRATEGIES = ("dfs", "random")


def make_strategy(name: str, seed: int) -> DepthFirst | RandomWalk:
    if name == "dfs":
        return DepthFirst()
    if name == "random":
        return RandomWalk(seed)
    raise ValueError(f"unknown strategy {name!r} (choose from {', '.join(STRATEGIES)})")
