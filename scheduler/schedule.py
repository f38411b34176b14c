"""The schedule: one printable line that replays an exploration's finding exactly.

Format, version 1 (``ls1``)::

    ls1:SCENARIO:OPTIONS:EXECUTION[/EXECUTION...]

``OPTIONS`` is ``-`` or ``key=value`` pairs joined by ``,`` (sorted; only the options that
change behaviour). Each ``EXECUTION`` is ``-`` (no choice was needed) or the choices made at
every scheduling point where more than one actor could run, joined by ``.``: the index of the
actor that ran, with ``NxK`` for K times actor N in a row. A lockdep report whose dependency
edges were recorded in several executions carries all of them, in order; they are replayed
into one lock graph. Every character is shell-safe, so the line can be pasted unquoted.

Like loom's path, the schedule is a value independent of trio: it can be parsed, printed and
compared without running anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from attrs import frozen

VERSION = "ls1"
_NAME = re.compile(r"^[A-Za-z0-9_.+/-]+$")
_OPTION = re.compile(r"^[a-z][a-z0-9_-]*=[A-Za-z0-9_.+-]+$")
#: an actor index of at most 6 digits, a repeat count of at most 12
_TOKEN = re.compile(r"^(\d{1,6})(?:x(\d{1,12}))?$")
#: ``bound=`` and ``fail=`` numbers: at most 9 digits
_NUMBER = re.compile(r"^\d{1,9}$")


class ScheduleError(ValueError):
    """A schedule that is malformed or does not fit the scenario it names."""


@frozen
class Schedule:
    scenario: str
    options: tuple[tuple[str, str], ...]
    executions: tuple[tuple[int, ...], ...]

    @classmethod
    def build(
        cls,
        scenario: str,
        options: Iterable[tuple[str, str]],
        executions: Iterable[Sequence[int]],
    ) -> Schedule:
        return cls(scenario, tuple(sorted(options)), tuple(tuple(e) for e in executions))

    def __str__(self) -> str:
        options = ",".join(f"{k}={v}" for k, v in self.options) or "-"
        runs = "/".join(_encode(e) for e in self.executions)
        return f"{VERSION}:{self.scenario}:{options}:{runs}"

    @classmethod
    def parse(cls, text: str) -> Schedule:
        """Parse a schedule line; raise `ScheduleError` with one clear sentence if it is bad."""
        text = text.strip()
        parts = text.split(":")
        if len(parts) != 4:
            raise ScheduleError(
                f"malformed schedule {text!r}: expected {VERSION}:SCENARIO:OPTIONS:CHOICES"
            )
        version, scenario, options, runs = parts
        if version != VERSION:
            raise ScheduleError(
                f"unsupported schedule version {version!r} (this lockstep reads {VERSION})"
            )
        if not _NAME.match(scenario):
            raise ScheduleError(f"malformed schedule: bad scenario name {scenario!r}")
        pairs: list[tuple[str, str]] = []
        if options != "-":
            for item in options.split(","):
                if not _OPTION.match(item):
                    raise ScheduleError(f"malformed schedule: bad option {item!r}")
                key, value = item.split("=", 1)
                pairs.append((key, value))
        if not runs:
            raise ScheduleError("malformed schedule: no execution after the last ':'")
        limit = _choice_limit(dict(pairs).get("bound"))
        return cls.build(scenario, pairs, [_decode(run, limit) for run in runs.split("/")])

    def option(self, key: str, default: str | None = None) -> str | None:
        return dict(self.options).get(key, default)


def _encode(choices: Sequence[int]) -> str:
    if not choices:
        return "-"
    tokens: list[str] = []
    i = 0
    while i < len(choices):
        j = i
        while j < len(choices) and choices[j] == choices[i]:
            j += 1
        tokens.append(str(choices[i]) if j - i == 1 else f"{choices[i]}x{j - i}")
        i = j
    return ".".join(tokens)


def _choice_limit(bound: str | None) -> int:
    """The most choices one execution can make: one per step, and steps stop at the step
    bound (the ``bound`` option, else the default)."""
    from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND

    if bound is None:
        return DEFAULT_STEP_BOUND
    if not _NUMBER.match(bound) or int(bound) < 1:
        raise ScheduleError(f"malformed schedule: bound={bound} is not a step count (1 or more)")
    return int(bound)


def _decode(run: str, limit: int) -> tuple[int, ...]:
    """One execution's choices; more than ``limit`` is an error before anything is built."""
    if run == "-":
        return ()
    tokens: list[tuple[int, int]] = []
    total = 0
    for token in run.split("."):
        match = _TOKEN.match(token)
        if not match or (match.group(2) is not None and int(match.group(2)) < 1):
            raise ScheduleError(f"malformed schedule: bad choice {token[:40]!r}")
        count = int(match.group(2) or 1)
        total += count
        if total > limit:
            raise ScheduleError(
                f"malformed schedule: more than {limit:,} choices in one execution, more "
                "than its step bound allows"
            )
        tokens.append((int(match.group(1)), count))
    choices: list[int] = []
    for actor, count in tokens:
        choices.extend([actor] * count)
    return tuple(choices)
