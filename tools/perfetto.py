"""An execution as Chrome trace event JSON, for the Perfetto UI (ui.perfetto.dev) or
chrome://tracing.

One process per execution, one track (``tid``) per actor, named with ``M`` events. Every
interval of `tools.timeline` becomes a complete (``X``) slice: the actor's life, its
operations, each lock held, each wait. Flow arrows (``s`` -> ``f``) go from a release to the
acquire it unblocked; faults, trylock failures, shared-state accesses and findings are
instant (``i``) events.

Time is logical: row ``i`` of the timeline starts at ``i * TICK`` microseconds, so slices
have their order and nesting, not durations. The JSON importers require the ``X`` slices of
one track to nest properly; a lock released out of order (or held across an operation's end)
does not nest, so such a slice goes onto an extra track of the same actor (``t1 (2)``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from lockstep.scheduler import Event, Finding
from lockstep.tools.timeline import Slice, Timeline, build

#: Logical microseconds per timeline row.
TICK = 10
PID = 1
#: tid of an actor's extra track n (n >= 1): actor's tid + n * EXTRA.
EXTRA = 1000


def _tracks(timeline: Timeline) -> dict[Slice, int]:
    """A track number (0 = the actor's own) for each slice, so that each track nests."""
    placed: dict[Slice, int] = {}
    stacks: dict[str, list[list[Slice]]] = {}
    for piece in timeline.slices:
        tracks = stacks.setdefault(piece.actor, [])
        for number, stack in enumerate([*tracks, []]):
            while stack and stack[-1].end <= piece.start:
                stack.pop()
            if not stack or stack[-1].end >= piece.end:
                if number == len(tracks):
                    tracks.append(stack)
                stack.append(piece)
                placed[piece] = number
                break
    return placed


def _slice_name(piece: Slice) -> str:
    if piece.kind == "lock":
        return piece.name + ("" if piece.detail.startswith("write") else " (read)")
    if piece.kind == "wait":
        return f"wait {piece.name}"
    return piece.name


def _instant(event: Event) -> tuple[str, str] | None:
    """The name and category of an instant event for ``event``, or None."""
    if event.kind == "fault":
        return f"FAULT {event.obj} {event.detail}", "fault"
    if event.kind == "finding":
        return f"!! {event.obj}", "finding"
    if event.kind == "trylock-failed":
        return f"trylock {event.obj} failed", "lock"
    if event.kind == "point":
        return f"{event.detail} {event.obj}", "point"
    return None


def trace_events(
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding] = (),
    *,
    title: str = "lockstep",
) -> list[dict[str, object]]:
    """The trace event list of one execution."""
    timeline = build(trace, actors, findings)
    tid = {name: i + 1 for i, name in enumerate(timeline.actors)}
    track = _tracks(timeline)
    events: list[dict[str, object]] = [
        {"ph": "M", "pid": PID, "tid": 0, "name": "process_name", "args": {"name": title}}
    ]
    extra = {(piece.actor, n) for piece, n in track.items() if n}
    for name in timeline.actors:
        events.append(_meta(tid[name], "thread_name", {"name": name}))
        events.append(_meta(tid[name], "thread_sort_index", {"sort_index": tid[name] * 10}))
    for name, n in sorted(extra, key=lambda e: (tid[e[0]], e[1])):
        number = tid[name] + n * EXTRA
        events.append(_meta(number, "thread_name", {"name": f"{name} ({n + 1})"}))
        events.append(_meta(number, "thread_sort_index", {"sort_index": tid[name] * 10 + n}))
    timed: list[dict[str, object]] = []
    for piece in timeline.slices:
        number = tid[piece.actor] + track[piece] * EXTRA
        args: dict[str, object] = {"rows": f"{piece.start}..{piece.end}"}
        if piece.kind in ("lock", "wait"):
            args["lock"] = piece.name
        if piece.detail:
            args["mode" if piece.kind == "lock" else "state"] = piece.detail
        if piece.where:
            args["acquired at"] = piece.where
        if piece.open:
            args["open at the end"] = True
        timed.append(
            {
                "ph": "X",
                "name": _slice_name(piece),
                "cat": piece.kind,
                "pid": PID,
                "tid": number,
                "ts": piece.start * TICK,
                "dur": (piece.end - piece.start) * TICK,
                "args": args,
            }
        )
    ending: dict[tuple[str, str, int], int] = {}
    starting: dict[tuple[str, str, int], int] = {}
    for piece in timeline.slices:
        if piece.kind == "lock":
            number = tid[piece.actor] + track[piece] * EXTRA
            ending[(piece.actor, piece.name, piece.end)] = number
            starting[(piece.actor, piece.name, piece.start)] = number
    for n, flow in enumerate(timeline.flows, 1):
        src = ending.get((flow.src, flow.lock, flow.source + 1), tid[flow.src])
        dst = starting.get((flow.dst, flow.lock, flow.target), tid[flow.dst])
        common = {"name": f"unblock {flow.lock}", "cat": "flow", "id": n, "pid": PID}
        timed.append({"ph": "s", **common, "tid": src, "ts": flow.source * TICK + TICK // 2})
        timed.append(
            {"ph": "f", "bp": "e", **common, "tid": dst, "ts": flow.target * TICK + TICK // 2}
        )
    for row, event in enumerate(timeline.rows):
        instant = _instant(event)
        if instant is None:
            continue
        name, cat = instant
        on_track = event.actor in tid
        timed.append(
            {
                "ph": "i",
                "name": name,
                "cat": cat,
                "pid": PID,
                "tid": tid[event.actor] if on_track else 0,
                "ts": row * TICK + TICK // 2,
                "s": "t" if on_track else "g",
                "args": {"step": event.step, **({"detail": event.detail} if event.detail else {})},
            }
        )
    timed.sort(key=lambda e: (e["ts"], -int(str(e.get("dur", 0)))))
    return events + timed


def _meta(tid: int, name: str, args: dict[str, object]) -> dict[str, object]:
    return {"ph": "M", "pid": PID, "tid": tid, "name": name, "args": args}


def render(
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding] = (),
    *,
    schedule: str = "",
    title: str = "lockstep",
) -> str:
    """The Chrome trace event JSON document (object form) of one execution."""
    document = {
        "traceEvents": trace_events(trace, actors, findings, title=title),
        "displayTimeUnit": "ns",
        "otherData": {"schedule": schedule, "time": f"logical: {TICK} us per trace event"},
    }
    return json.dumps(document, indent=None, separators=(",", ":")) + "\n"
