"""The frozen values the runtime records: footprints, sites, trace events and findings.

Everything here is a plain value (attrs ``frozen``): it can be compared, hashed, printed
and sent to another process, and it never refers back to a live execution. That is what
makes a trace comparable "event for event" between a run and its replay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


#: Access modes, one bit each; a step's footprint maps each thing it touched to the OR of
#: its modes. Data: ``READ``, ``WRITE``. Lock operations: ``ACQUIRE`` (exclusive),
#: ``READ_ACQUIRE`` (rwsem shared), ``RELEASE``, ``READ_RELEASE``. Lock state read or
#: changed outside lock operations: ``PEEK`` (a check that reads the holders, a trylock),
#: ``FREE`` (the lock's object is freed). An rwsem's queue: ``QUEUE_WRITER`` (a writer
#: waits, which holds back later readers) and ``QUEUE_READER``. The same checks by an
#: actor that holds the lock: ``PEEK_HELD`` (its own hold answers them; only a free or a
#: queued writer can change the answer) and ``FREE_HELD`` (freed by its exclusive holder,
#: inside a section no other actor can enter).
READ: Final = 1
WRITE: Final = 2
ACQUIRE: Final = 4
READ_ACQUIRE: Final = 8
RELEASE: Final = 16
READ_RELEASE: Final = 32
PEEK: Final = 64
FREE: Final = 128
QUEUE_WRITER: Final = 256
QUEUE_READER: Final = 512
PEEK_HELD: Final = 2048
FREE_HELD: Final = 4096
#: One more than every combination of modes.
ALL_MODES: Final = 8192
#: The operations lock ordering is made of (their races are planned as lock races).
LOCK_OPS: Final = ACQUIRE | READ_ACQUIRE | RELEASE | READ_RELEASE
ACQUISITIONS: Final = ACQUIRE | READ_ACQUIRE
#: A fault choice, as the kernel's per-task fail_nth: ``(actor index, n)``, that actor's
#: n-th fault point fails. A fault point touches nothing shared: an actor's count is its own.
Fault = tuple[int, int]

Key = int | str
#: kind, sorted lock classes, what fired (see `signature`)
Signature = tuple[str, tuple[str, ...], str]

_SITE = re.compile(r" \([\w./-]+:\d+\)")
_NUMBER = re.compile(r"\d+")
_LIST = re.compile(r"\[[^\]]*\]")


def signature(kind: str, classes: Iterable[str], key: tuple[object, ...]) -> Signature:
    """What identifies a finding across executions, runs and scenarios: its kind, its lock
    classes, and the model site or invariant that fired (the rest of its key), with object
    numbers, code lines and listed objects left out, since those vary between
    interleavings of one bug. An invariant is named by its first clause."""
    parts = [str(part) for part in key[1:]]
    if kind == "invariant" and parts:
        parts = [parts[0].split("; ")[0]]
    text = " | ".join(_NUMBER.sub("N", _LIST.sub("[...]", _SITE.sub("", p))) for p in parts)
    return (kind, tuple(sorted(classes)), text)


def describe(sig: Signature) -> str:
    """A signature on one line: ``kind classes site``."""
    kind, classes, site = sig
    return f"{kind} {', '.join(classes)} {site}".replace("  ", " ").strip()


class Footprint:
    """What a step touched, as the runtime observed it: each key (a tracked field, a
    container, a lock, a name given to ``point()``) with the OR of its access modes.

    A plain value: compared and hashed by content, pickled to other processes, and never
    referring back to a live execution.
    """

    __slots__ = ("_hash", "modes")
    #: recomputed where needed: never saved (the hash of a str differs between processes)
    transient = ("_hash",)

    def __init__(self, modes: dict[Key, int] | None = None) -> None:
        self.modes: dict[Key, int] = modes if modes is not None else {}
        self._hash: int | None = None

    @classmethod
    def of(cls, key: Key, mode: int) -> Footprint:
        return cls({key: mode})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Footprint) and self.modes == other.modes

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self.modes.items()))
        return self._hash

    def __getstate__(self) -> dict[Key, int]:
        return self.modes

    def __setstate__(self, state: dict[Key, int]) -> None:
        self.modes = state
        self._hash = None

    def __repr__(self) -> str:
        return f"Footprint({self.modes!r})"


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

    @property
    def signature(self) -> Signature:
        """What identifies this bug across executions and runs (`signature`)."""
        return signature(self.kind, self.classes, self.key)

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
    #: The entry path it was reached through: the running actor's operations, outermost
    #: first (``VFIO_DEVICE_DETACH_IOMMUFD_PT > iommufd_device_detach``); empty for the end
    #: check.
    entry: str = field(default="", eq=False)
    #: A shorter line showing the same finding (`scheduler.minimize`), if one was found.
    minimized: str = field(default="", eq=False)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "classes": list(self.classes),
            "schedule": self.schedule,
            "title": self.title,
            "message": self.message,
            "entry": self.entry,
        } | ({"minimized": self.minimized} if self.minimized else {})
