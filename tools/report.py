"""Every picture of one execution in every format, and the report directory of an
exploration (``lockstep explore --report DIR``).

A picture needs the execution a schedule replays (trace, actors, findings) and a lock graph:
for ``lockstep show`` the graph its own executions built; for a report, the exploration's
whole graph with the finding's cycle in red, which shows where the inversion sits among all
the orders the scenario takes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from lockstep.scheduler import ExploreResult, Finding, ReplayResult
from lockstep.tools import html_report, lockgraph, perfetto, swimlane
from lockstep.tools.lockgraph import LockGraph

FORMATS = ("text", "perfetto", "dot", "svg", "html")
SUFFIX = {
    "text": ".txt",
    "perfetto": ".perfetto.json",
    "dot": ".dot",
    "svg": ".svg",
    "html": ".html",
}


@frozen
class Picture:
    """What every format draws: one replayed execution and a lock graph."""

    scenario: str
    schedule: str
    replayed: ReplayResult
    graph: LockGraph
    findings: tuple[Finding, ...]

    @classmethod
    def of_replay(cls, scenario: str, replayed: ReplayResult) -> Picture:
        graph = LockGraph.of(replayed.edges, replayed.counts, replayed.findings)
        return cls(scenario, replayed.schedule, replayed, graph, replayed.findings)


def text(picture: Picture, *, colour: bool = False, full: bool = False) -> str:
    """The findings, the replay line and the swimlane with each actor's held locks."""
    count = len(picture.findings)
    lines = [f"{picture.scenario}: {count} finding{'s' if count != 1 else ''}", ""]
    for n, finding in enumerate(picture.findings, 1):
        lines += [f"=== finding {n} of {count}: {finding.kind} ===", finding.message, ""]
    lines += [f"replay: lockstep replay {picture.schedule}", ""]
    lines.append(
        swimlane.render(
            picture.replayed.trace,
            picture.replayed.actors,
            picture.replayed.findings,
            held=True,
            colour=colour,
            full=full,
        )
    )
    return "\n".join(lines) + "\n"


def render(fmt: str, picture: Picture, *, colour: bool = False, full: bool = False) -> str:
    """``picture`` in ``fmt``, one of `FORMATS`; the setup is collapsed to one row in the
    text and HTML swimlanes unless ``full`` (Perfetto always has it all)."""
    replayed = picture.replayed
    title = f"{picture.scenario}: {picture.schedule}"
    if fmt == "text":
        return text(picture, colour=colour, full=full)
    if fmt == "perfetto":
        return perfetto.render(
            replayed.trace,
            replayed.actors,
            replayed.findings,
            schedule=picture.schedule,
            title=title,
        )
    if fmt == "dot":
        return lockgraph.dot_source(picture.graph, picture.scenario)
    if fmt == "svg":
        return lockgraph.svg(picture.graph, picture.scenario)
    if fmt == "html":
        return html_report.render(
            scenario=picture.scenario,
            schedule=picture.schedule,
            trace=replayed.trace,
            actors=replayed.actors,
            findings=picture.findings,
            graph=picture.graph,
            marks=replayed.findings,
            full=full,
        )
    raise ValueError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


@frozen
class Written:
    """What `write_report` wrote, and whether it had to leave the SVGs out (no ``dot``)."""

    files: tuple[Path, ...]
    svg_skipped: bool


def write_report(
    directory: Path, result: ExploreResult, replays: Sequence[ReplayResult], *, full: bool = False
) -> Written:
    """Write every format for every finding into ``directory``, plus the exploration's lock
    graph (``lockgraph.dot``/``.svg``) and an ``index.html``. Without Graphviz's ``dot`` the
    SVGs are left out and everything else is written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    skipped = False
    entries: list[tuple[Finding, str]] = []
    for n, (finding, replayed) in enumerate(zip(result.findings, replays, strict=True), 1):
        graph = LockGraph.of(result.edges, result.counts, [finding])
        picture = Picture(result.scenario, finding.schedule, replayed, graph, (finding,))
        stem = f"{n:02d}-{finding.kind}"
        for fmt in FORMATS:
            path = directory / (stem + SUFFIX[fmt])
            try:
                body = render(fmt, picture, full=full)
            except lockgraph.graphviz.ExecutableNotFound:
                skipped = True
                continue
            path.write_text(body, encoding="utf-8")
            written.append(path)
        entries.append((finding, stem))
    whole = LockGraph.of(result.edges, result.counts, result.findings)
    for fmt, body in (
        ("dot", lambda: lockgraph.dot_source(whole, result.scenario)),
        ("svg", lambda: lockgraph.svg(whole, result.scenario)),
    ):
        path = directory / ("lockgraph" + SUFFIX[fmt])
        try:
            path.write_text(body(), encoding="utf-8")
        except lockgraph.graphviz.ExecutableNotFound:
            skipped = True
            continue
        written.append(path)
    index = directory / "index.html"
    index.write_text(_index(result, entries), encoding="utf-8")
    written.append(index)
    return Written(tuple(written), skipped)


def _index(result: ExploreResult, entries: list[tuple[Finding, str]]) -> str:
    count = len(entries)
    items = "".join(
        f"<li><b>{html.escape(f.kind)}</b>: {html.escape(f.title)}<br>"
        + " ".join(
            f'<a href="{stem}{SUFFIX[fmt]}">{fmt}</a>'
            for fmt in ("html", "text", "perfetto", "svg", "dot")
        )
        + f"<br><code>lockstep replay {html.escape(f.schedule)}</code>"
        + (
            f"<br>minimized: <code>lockstep replay {html.escape(f.minimized)}</code>"
            if f.minimized
            else ""
        )
        + "</li>"
        for f, stem in entries
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>lockstep report: {html.escape(result.scenario)}</title></head><body>"
        f"<h1>lockstep report: {html.escape(result.scenario)}</h1>"
        f"<p>{result.executions} executions ({html.escape(result.strategy)}), "
        f"{count} finding{'s' if count != 1 else ''}. "
        'Lock graph of the exploration: <a href="lockgraph.svg">svg</a> '
        '<a href="lockgraph.dot">dot</a>. Open a .perfetto.json in the Perfetto UI.</p>'
        f"<ol>{items}</ol></body></html>\n"
    )
