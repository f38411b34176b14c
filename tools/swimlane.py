"""The text swimlane: a column per actor, a row per trace event, and who holds what.

The plain text is the contract (tests and the determinism checks compare it byte for byte,
and it goes into logs and CI output), so colour is only ever added on top of it: the same
characters, with ANSI styles, and only when writing to a terminal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.text import Text

from lockstep.scheduler import Event, Finding
from lockstep.tools.timeline import with_findings

_WIDTH = 32
#: the actor name of a program's setup
SETUP = "setup"


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
    if kind == "setup":
        return f"[setup: {obj}, --full]"
    return kind


def collapse_setup(trace: Sequence[Event]) -> list[Event]:
    """``trace`` with the setup's events (it runs alone, before the actors) as one event
    that counts them; its findings stay as they are."""
    setup = [e for e in trace if e.actor == SETUP and e.kind != "finding"]
    taken = [e.obj for e in setup if e.kind == "acquired"]
    for e in setup:
        if e.kind == "release" and e.obj in taken:
            taken.remove(e.obj)
    if len(setup) <= 1 or taken:
        return list(trace)
    summary = Event(setup[0].step, SETUP, "setup", f"{len(setup)} events", "")
    out: list[Event] = []
    for event in trace:
        if event.actor != SETUP or event.kind == "finding":
            out.append(event)
        elif event is setup[0]:
            out.append(summary)
    return out


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width``: broken at a space in the second half of a
    line, else at the width (a lock name is never cut short: it goes on, next line)."""
    lines = []
    while len(text) > width:
        cut = text.rfind(" ", 0, width + 1)
        if cut < width // 2:
            cut = width
        lines.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*lines, text]


#: The rich style of each event kind (on a terminal only).
_STYLES = {
    "acquire": "cyan",
    "acquired": "bold green",
    "wait": "bold yellow",
    "release": "blue",
    "trylock-failed": "yellow",
    "point": "dim",
    "fault": "bold magenta",
    "finding": "bold white on red",
    "begin": "bold",
    "end": "bold",
    "start": "dim",
    "done": "dim",
}


def use_colour(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal that wants colour (rich decides: a tty, not
    ``NO_COLOR``; ``FORCE_COLOR`` forces it)."""
    console = Console(file=stream)
    return console.is_terminal and not console.no_color and console.color_system is not None


def render(
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding] = (),
    width: int = _WIDTH,
    *,
    held: bool = False,
    colour: bool = False,
    full: bool = False,
) -> str:
    """The swimlane of ``trace``, each finding marked where it was reported, and the locks
    each actor holds at the end.

    Plain ASCII unless ``colour`` (ANSI escapes through rich, for a terminal); the text is
    the same either way. With ``held``, each actor's column is followed by the locks it holds
    after each row. The setup, which runs alone before the race, is one row unless ``full``.
    """
    trace = with_findings(trace, findings)
    if not full:
        trace = collapse_setup(trace)
    columns = list(dict.fromkeys([*actors, *(e.actor for e in trace)]))
    col = {name: i for i, name in enumerate(columns)}
    holding: dict[str, list[str]] = {name: [] for name in columns}
    held_rows: list[dict[str, str]] = []
    for event in trace:
        if event.kind == "acquired":
            holding[event.actor].append(event.obj)
        elif event.kind == "release" and event.obj in holding[event.actor]:
            holding[event.actor].remove(event.obj)
        held_rows.append({name: ", ".join(locks) for name, locks in holding.items()})
    names: list[str] = []
    for name in columns:
        names += [name, f"{name} holds"] if held else [name]
    sizes = []
    for name in columns:
        sizes.append(
            min(width, max([len(name)] + [len(describe(e)) for e in trace if e.actor == name]))
        )
        if held:
            sizes.append(min(width, max([len(name) + 6] + [len(row[name]) for row in held_rows])))
    header = " step | " + " | ".join(n.ljust(s) for n, s in zip(names, sizes, strict=True))
    lines: list[list[tuple[str, str]]] = [
        [(header.rstrip(), "bold")],
        [("-" * len(header.rstrip()), "")],
    ]
    last_step = None
    per = 2 if held else 1
    for event, row in zip(trace, held_rows, strict=True):
        texts: list[list[str]] = [[""] for _ in sizes]
        styles = [""] * len(sizes)
        at = col[event.actor] * per
        texts[at], styles[at] = _wrap(describe(event), sizes[at]), _STYLES.get(event.kind, "")
        if held:
            for name in columns:
                i = col[name] * per + 1
                texts[i], styles[i] = _wrap(row[name], sizes[i]), "dim"
        step = f"{event.step:5d}" if event.step != last_step else "     "
        last_step = event.step
        for n in range(max(len(t) for t in texts)):
            line: list[tuple[str, str]] = [(f"{step if not n else '     '} | ", "dim")]
            for i, (text, size) in enumerate(zip(texts, sizes, strict=True)):
                line += [(" | ", "dim")] if i else []
                line.append(((text[n] if n < len(text) else "").ljust(size), styles[i]))
            lines.append(_rstrip(line))
    lines.append([])
    lines.append(
        [
            (
                "held at the end: "
                + "; ".join(
                    f"{name}: {', '.join(locks) if locks else '-'}"
                    for name, locks in holding.items()
                ),
                "",
            )
        ]
    )
    if not colour:
        return "\n".join("".join(text for text, _ in line) for line in lines)
    return _ansi(lines)


def _rstrip(line: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``line`` without trailing spaces, as the plain text has always been."""
    text = "".join(t for t, _ in line).rstrip()
    out: list[tuple[str, str]] = []
    length = 0
    for piece, style in line:
        keep = piece[: max(0, len(text) - length)]
        length += len(piece)
        if keep:
            out.append((keep, style))
    return out


def _ansi(lines: list[list[tuple[str, str]]]) -> str:
    """The styled lines as text with ANSI escapes."""
    console = Console(force_terminal=True, color_system="standard", width=10_000)
    text = Text()
    for n, line in enumerate(lines):
        if n:
            text.append("\n")
        for piece, style in line:
            text.append(piece, style or None)
    with console.capture() as captured:
        console.print(text, end="", soft_wrap=True, highlight=False)
    return captured.get()
