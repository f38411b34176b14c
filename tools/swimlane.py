"""The text swimlane: a column per actor, a row per trace event, and who holds what."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler import Event, Finding

_WIDTH = 30


def describe(event: Event) -> str:
    """One event as a short phrase, e.g. ``acquire &ioas->mutex`` or ``!! deadlock``."""
    kind, obj, detail = event.kind, event.obj, event.detail
    if kind == "acquire":
        mode = "" if detail == "write" else f" ({detail})"
        return f"acquire {obj}{mode}"
    if kind == "acquired":
        return f"acquired {obj}" + ("" if detail.startswith("write") else " (read)")
    if kind == "wait":
        return f"wait {obj} ({detail})"
    if kind == "release":
        return f"release {obj}" + (" (read)" if detail else "")
    if kind == "trylock-failed":
        return f"trylock {obj} failed"
    if kind == "point":
        return f"{detail} {obj}"
    if kind == "fault":
        return f"FAULT {obj} {detail}"
    if kind == "finding":
        return f"!! {obj}"
    if kind == "begin":
        return f"> {obj}"
    if kind == "end":
        return f"< {obj}"
    return kind


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _with_findings(trace: Sequence[Event], findings: Sequence[Finding]) -> list[Event]:
    """The trace with a ``!! kind`` row where each finding was reported."""
    rows = list(trace)
    placed = sorted(
        (f for f in findings if f.position is not None),
        key=lambda f: f.position or 0,
        reverse=True,
    )
    for finding in placed:
        at = finding.position or 0
        step = rows[at - 1].step if at else 0
        rows.insert(at, Event(step, finding.actor, "finding", finding.kind))
    return rows


def render(
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding] = (),
    width: int = _WIDTH,
) -> str:
    """The swimlane of ``trace`` as plain ASCII, each finding marked where it was reported,
    and the locks each actor holds at the end."""
    trace = _with_findings(trace, findings)
    columns = list(actors) + [e.actor for e in trace if e.actor not in actors]
    columns = list(dict.fromkeys(columns))
    col = {name: i for i, name in enumerate(columns)}
    sizes = [
        min(width, max([len(name)] + [len(describe(e)) for e in trace if e.actor == name]))
        for name in columns
    ]
    header = " step | " + " | ".join(n.ljust(s) for n, s in zip(columns, sizes, strict=True))
    lines = [header.rstrip(), "-" * len(header.rstrip())]
    last_step = None
    held: dict[str, list[str]] = {name: [] for name in columns}
    for event in trace:
        cells = [" " * s for s in sizes]
        cells[col[event.actor]] = _fit(describe(event), sizes[col[event.actor]]).ljust(
            sizes[col[event.actor]]
        )
        step = f"{event.step:5d}" if event.step != last_step else "     "
        last_step = event.step
        lines.append(f"{step} | " + " | ".join(cells).rstrip())
        if event.kind == "acquired":
            held[event.actor].append(event.obj)
        elif event.kind == "release" and event.obj in held[event.actor]:
            held[event.actor].remove(event.obj)
    lines.append("")
    lines.append(
        "held at the end: "
        + "; ".join(f"{name}: {', '.join(locks) if locks else '-'}" for name, locks in held.items())
    )
    return "\n".join(lines)
