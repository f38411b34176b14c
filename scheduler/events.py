"""The frozen values the runtime records: footprints, sites, trace events and findings.

Everything here is a plain value (attrs ``frozen``): it can be compared, hashed, printed
and sent to another process, and it never refers back to a live execution. That is what
makes a trace comparable "event for event" between a run and its replay.
"""

from __future__ import annotations

from typing import Final

from attrs import field, frozen

#: The kinds of finding, in the order reports list them.
FINDING_KINDS: Final = (
    "deadlock",
    "circular-dependency",
    "recursive-locking",
    "bad-unlock",
    "held-at-return",
    "assert-held",
    "assert-not-held",
    "held-lock-freed",
    "sleep-in-atomic",
    "exception",
    "invariant",
    "step-bound",
)


@frozen
class Footprint:
    """What a step touches: an object (a lock instance or a named piece of state) and how.

    ``access`` is one of ``read``, ``write``, ``acquire``, ``release``, ``read-acquire``,
    ``read-release`` (an rwsem taken shared), ``fault``. Partial-order reduction compares
    footprints of pending steps to decide whether two steps commute: the three shared kinds
    commute with each other on one object, every other pair on one object does not.
    """

    obj: str
    access: str


#: The accesses that commute with each other on one object.
SHARED_ACCESSES: Final = frozenset({"read", "read-acquire", "read-release"})


@frozen
class Site:
    """Where something happened: the actor, its current operation, and the model code line."""

    actor: str
    operation: str
    where: str

    def __str__(self) -> str:
        if self.operation == self.actor:
            return f"{self.where} [{self.actor}]"
        return f"{self.where} [{self.actor}: {self.operation}]"


@frozen
class Event:
    """One entry of an execution's trace.

    ``kind`` is one of ``start`` (an actor's first step), ``begin``/``end`` (an operation),
    ``point`` (a shared-state access), ``acquire`` (an attempt), ``wait`` (the attempt found
    the lock unavailable), ``acquired``, ``trylock-failed``, ``release``, ``fault`` and
    ``done``. ``step`` is the number of the scheduling point that began
    the step the event belongs to. ``where`` is the model code line of an ``acquire`` (when
    lockdep runs), for the pictures; it takes no part in comparing traces.
    """

    step: int
    actor: str
    kind: str
    obj: str = ""
    detail: str = ""
    where: str = field(default="", eq=False)


@frozen
class Finding:
    """Something wrong in an exploration: its kind, the lock classes involved, the replay
    line, a one-line title and the report text (the kernel-style splat)."""

    kind: str
    classes: tuple[str, ...]
    schedule: str
    title: str
    message: str
    #: The actor that was running when it was found, and how many trace events came before.
    actor: str = ""
    position: int | None = field(default=None, eq=False)
    trace: tuple[Event, ...] | None = field(default=None, eq=False, repr=False)
    #: What makes it distinct within an exploration (each distinct finding is reported once).
    key: tuple[object, ...] = field(default=(), eq=False, repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "classes": list(self.classes),
            "schedule": self.schedule,
            "title": self.title,
            "message": self.message,
        }
