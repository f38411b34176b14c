"""A trace read as intervals: what each actor was doing, holding and waiting for, and when.

The runtime records a flat list of events (`scheduler.Event`); every picture of an
interleaving (the Perfetto trace, the HTML swimlane) needs the same reading of it: operation
slices from ``begin`` to ``end``, lock-held slices from ``acquired`` to ``release``, wait
slices from ``wait`` to ``acquired``, and which release unblocked which waiter. It is done
once here so that the pictures cannot disagree. Time is logical: a row is one event (or a
finding, placed where it was reported), and row ``i`` spans ``[i, i + 1)``.

Slices still open at the end of the trace (a deadlocked actor's wait, the locks it holds)
end at the last row, so a deadlock shows as bars that run to the right edge.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import frozen

from lockstep.scheduler import Event, Finding


@frozen
class Slice:
    """An interval of one actor: ``kind`` is ``actor``, ``operation``, ``lock`` or ``wait``.

    It covers rows ``start`` to ``end`` (exclusive); ``depth`` is its nesting level among
    the actor's open slices of the same kind when it began, so lock bars can be drawn side by
    side. ``open`` says it was still open when the trace ended.
    """

    actor: str
    kind: str
    name: str
    start: int
    end: int
    depth: int
    detail: str = ""
    open: bool = False
    #: for a lock or a wait: the model code line of the acquire.
    where: str = ""


@frozen
class Flow:
    """A release (row ``source``, by actor ``src``) that let a waiter acquire (row ``target``)."""

    lock: str
    src: str
    source: int
    dst: str
    target: int


@frozen
class Timeline:
    """A trace with its findings placed, its slices and its flows."""

    actors: tuple[str, ...]
    rows: tuple[Event, ...]
    slices: tuple[Slice, ...]
    flows: tuple[Flow, ...]
    #: the locks each actor holds after each row: ``held[i][actor]``.
    held: tuple[dict[str, tuple[str, ...]], ...]
    #: the innermost operation of the row's actor at each row.
    operation: tuple[str, ...]


def with_findings(trace: Sequence[Event], findings: Sequence[Finding]) -> list[Event]:
    """The trace with a ``finding`` row (obj: the kind) where each finding was reported."""
    rows = list(trace)
    placed = sorted(
        (f for f in findings if f.position is not None),
        key=lambda f: f.position or 0,
        reverse=True,
    )
    for finding in placed:
        at = finding.position or 0
        step = rows[at - 1].step if at else 0
        rows.insert(at, Event(step, finding.actor, "finding", finding.kind, finding.title))
    return rows


def columns(rows: Sequence[Event], actors: Sequence[str]) -> tuple[str, ...]:
    """The actors in program order, then any actor only the rows name."""
    return tuple(dict.fromkeys([*actors, *(e.actor for e in rows if e.actor)]))


def build(
    trace: Sequence[Event], actors: Sequence[str], findings: Sequence[Finding] = ()
) -> Timeline:
    """Read ``trace`` (and its ``findings``) into slices and flows."""
    rows = with_findings(trace, findings)
    names = columns(rows, actors)
    end = len(rows)
    slices: list[Slice] = []
    flows: list[Flow] = []
    life: dict[str, int] = {}
    ops: dict[str, list[tuple[str, int]]] = {n: [] for n in names}
    locks: dict[str, list[tuple[str, int, str, str]]] = {n: [] for n in names}
    waits: dict[str, tuple[str, int, str]] = {}
    acquiring: dict[str, str] = {}
    last_release: dict[str, tuple[str, int]] = {}
    held_rows: list[dict[str, tuple[str, ...]]] = []
    op_rows: list[str] = []
    for i, event in enumerate(rows):
        who, kind, obj = event.actor, event.kind, event.obj
        if kind == "start":
            life[who] = i
        elif kind == "done" and who in life:
            slices.append(Slice(who, "actor", who, life.pop(who), i + 1, 0))
        elif kind == "begin":
            ops[who].append((obj, i))
        elif kind == "end" and ops[who]:
            name, start = ops[who].pop()
            slices.append(Slice(who, "operation", name, start, i + 1, len(ops[who])))
        elif kind == "acquire":
            acquiring[who] = event.where
        elif kind == "wait":
            waits[who] = (obj, i, event.detail)
        elif kind == "acquired":
            where = acquiring.get(who, "")
            if who in waits:
                lock, start, detail = waits.pop(who)
                slices.append(Slice(who, "wait", lock, start, i, 0, detail, False, where))
                released = last_release.get(obj)
                if released is not None and released[0] != who and released[1] > start:
                    flows.append(Flow(obj, released[0], released[1], who, i))
            locks[who].append((obj, i, event.detail, where))
        elif kind == "release":
            stack = locks[who]
            for j in range(len(stack) - 1, -1, -1):
                if stack[j][0] == obj:
                    lock, start, detail, where = stack.pop(j)
                    slices.append(Slice(who, "lock", lock, start, i + 1, j, detail, False, where))
                    break
            last_release[obj] = (who, i)
        held_rows.append({n: tuple(entry[0] for entry in locks[n]) for n in names})
        op_rows.append(ops[who][-1][0] if ops.get(who) else who)
    for who, (lock, start, detail) in waits.items():
        where = acquiring.get(who, "")
        slices.append(Slice(who, "wait", lock, start, end, 0, detail, True, where))
    for who, stack in locks.items():
        for depth, (lock, start, detail, where) in enumerate(stack):
            slices.append(Slice(who, "lock", lock, start, end, depth, detail, True, where))
    for who, stack in ops.items():
        for depth, (name, start) in enumerate(stack):
            slices.append(Slice(who, "operation", name, start, end, depth, "", True))
    for who, start in life.items():
        slices.append(Slice(who, "actor", who, start, end, 0, "", True))
    slices.sort(key=lambda s: (s.start, -s.end, names.index(s.actor)))
    return Timeline(
        names, tuple(rows), tuple(slices), tuple(flows), tuple(held_rows), tuple(op_rows)
    )
