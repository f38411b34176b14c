"""A self-contained HTML report: the findings, the swimlane of the execution as SVG with
details on hover, the lock-class graph, and each replay line with a copy button.

Self-contained means one file that a user can attach to a bug report or open from a CI
artifact offline: the styles and the few lines of script are inline, the lock graph is
Graphviz's SVG inlined, and nothing is fetched from the network (a test loads it in headless
chromium and checks that no request leaves the file).

The swimlane reads the trace through `tools.timeline`, as the Perfetto trace does: a
column per actor, a row per event, a coloured bar beside the column for each lock held
(nested bars side by side), a hatched bar while an actor waits, an arrow from each release to
the acquire it unblocked, and a red band where a finding was reported.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import graphviz

from lockstep.scheduler import Event, Finding
from lockstep.tools import lockgraph
from lockstep.tools.lockgraph import LockGraph
from lockstep.tools.swimlane import collapse_setup, describe
from lockstep.tools.timeline import Timeline, build, with_findings

ROW = 18
HEAD = 28
STEP_WIDTH = 48
BAR = 7
CHAR = 7.3
PALETTE = (
    "#1f77b4",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#17becf",
    "#bcbd22",
    "#e377c2",
    "#7f7f7f",
    "#ff7f0e",
    "#393b79",
)

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.15em; margin: 1.4em 0 .5em; }
.summary { color: #555; }
.finding { border: 1px solid #e0b4b4; border-left: 6px solid #d62728; border-radius: 4px;
  padding: .6em 1em; margin: .8em 0; background: #fff8f8; }
.finding h3 { margin: 0 0 .4em; font-size: 1.05em; }
.kind { background: #d62728; color: white; border-radius: 3px; padding: 0 .4em;
  font-size: .85em; margin-right: .4em; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: 12px; }
.replay { display: flex; gap: .5em; align-items: center; margin: .4em 0; }
.replay code { background: #eef; padding: .2em .4em; border-radius: 3px; font-size: 13px; }
button { cursor: pointer; }
.lane { overflow: auto; border: 1px solid #ddd; max-height: 80vh; }
.lane text { font: 12px monospace; }
.lanehead { position: sticky; top: 0; z-index: 1; line-height: 0; }
.lane svg { display: block; }
.ev:hover rect.hit { fill: #ffeb3b55; }
#details { position: sticky; top: 0; background: #fffbe6; border: 1px solid #e6d98c;
  padding: .4em .7em; font: 12px monospace; white-space: pre-wrap; height: 6em;
  overflow: auto;
  z-index: 1; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: .2em .6em; text-align: left; }
tr.cycle td { color: #d62728; font-weight: bold; }
.graph svg { max-width: 100%; height: auto; }
"""

_SCRIPT = """
function lockstepCopy(button) {
  var text = document.getElementById(button.dataset.target).textContent;
  function done(ok) { button.textContent = ok ? "Copied" : "Select and copy"; }
  function fallback() {
    var range = document.createRange();
    range.selectNodeContents(document.getElementById(button.dataset.target));
    var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    done(ok);
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
  } else {
    fallback();
  }
}
document.addEventListener("DOMContentLoaded", function () {
  var details = document.getElementById("details");
  document.querySelectorAll(".ev").forEach(function (row) {
    row.addEventListener("mouseenter", function () {
      details.textContent = row.dataset.detail;
    });
  });
  document.querySelectorAll("button[data-target]").forEach(function (button) {
    button.addEventListener("click", function () { lockstepCopy(button); });
  });
});
"""


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _colours(timeline: Timeline) -> dict[str, str]:
    names = [s.name for s in timeline.slices if s.kind in ("lock", "wait")]
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _row_detail(timeline: Timeline, row: int, event: Event) -> str:
    """What a hover shows for a row: the event, its actor's operation, who holds what."""
    lines = [
        f"step {event.step}, {event.actor or 'end check'}: {describe(event)}",
        f"operation: {timeline.operation[row]}",
    ]
    if event.where:
        lines.append(f"at: {event.where}")
    if event.kind == "finding" and event.detail:
        lines.append(event.detail)
    held = timeline.held[row]
    lines.append("held: " + "; ".join(f"{a}: {', '.join(held[a]) or '-'}" for a in timeline.actors))
    return "\n".join(lines)


def swimlane_svg(
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding] = (),
    *,
    full: bool = False,
) -> str:
    """The swimlane as inline SVG: a header of actor names (it stays in view while the lane
    scrolls) and the lane itself; the setup is one row unless ``full``."""
    rows = with_findings(trace, findings)
    timeline = build(rows if full else collapse_setup(rows), actors)
    colours = _colours(timeline)
    depth = {a: 0 for a in timeline.actors}
    lane: dict[object, int] = {}
    for piece in timeline.slices:
        if piece.kind == "lock":
            lane[piece] = piece.depth
        elif piece.kind == "wait":
            lane[piece] = len(timeline.held[piece.start][piece.actor])
        else:
            continue
        depth[piece.actor] = max(depth[piece.actor], lane[piece] + 1)
    widths = {}
    for name in timeline.actors:
        texts = [len(describe(e)) for e in timeline.rows if e.actor == name] + [len(name)]
        widths[name] = int(BAR * (depth[name] + 1) + 12 + CHAR * max(texts))
    left: dict[str, int] = {}
    x = STEP_WIDTH
    for name in timeline.actors:
        left[name] = x
        x += widths[name] + 10
    width, height = x, ROW * len(timeline.rows) + 8

    def y(row: int) -> int:
        return 4 + ROW * row

    head = [
        '<div class="lanehead">',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEAD}" '
        f'viewBox="0 0 {width} {HEAD}" aria-label="actors">',
        f'<rect width="{width}" height="{HEAD}" fill="white"/>',
        '<text x="4" y="18" font-weight="bold">step</text>',
    ]
    for i, name in enumerate(timeline.actors):
        shade = "#e8eef7" if i % 2 == 0 else "#f3f3f3"
        head.append(
            f'<rect x="{left[name] - 5}" y="0" width="{widths[name] + 10}" height="{HEAD}" '
            f'fill="{shade}"/>'
        )
        head.append(f'<text x="{left[name]}" y="18" font-weight="bold">{_esc(name)}</text>')
    head += ["</svg>", "</div>"]
    out = [
        *head,
        f'<svg class="swimlane" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="swimlane">',
        "<defs>",
        '<pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="2" height="4" fill="#ff7f0e"/></pattern>',
        '<marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" '
        'fill="#6a3d9a"/></marker>',
        "</defs>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, name in enumerate(timeline.actors):
        shade = "#f7f9fc" if i % 2 == 0 else "#ffffff"
        out.append(
            f'<rect x="{left[name] - 5}" y="0" width="{widths[name] + 10}" height="{height}" '
            f'fill="{shade}"/>'
        )
    for row, event in enumerate(timeline.rows):
        if event.kind == "finding":
            out.append(f'<rect x="0" y="{y(row)}" width="{width}" height="{ROW}" fill="#fbd5d5"/>')
    for piece in timeline.slices:
        if piece.kind not in ("lock", "wait"):
            continue
        bx = left[piece.actor] + BAR * lane[piece]
        fill = colours[piece.name] if piece.kind == "lock" else "url(#hatch)"
        top, size = y(piece.start) + 3, ROW * (piece.end - piece.start) - 6
        label = (
            f"{piece.actor} holds {piece.name} ({piece.detail or 'write'})"
            if piece.kind == "lock"
            else f"{piece.actor} waits for {piece.name} ({piece.detail})"
        ) + (f", taken at {piece.where}" if piece.where else "")
        out.append(
            f'<rect class="{piece.kind}" x="{bx}" y="{top}" width="{BAR - 2}" '
            f'height="{max(size, 4)}" rx="2" fill="{fill}"><title>{_esc(label)}</title></rect>'
        )
    last_step = None
    for row, event in enumerate(timeline.rows):
        name = event.actor if event.actor in left else timeline.actors[0]
        tx = left[name] + BAR * (depth[name] + 1) + 4
        colour = "#d62728" if event.kind in ("finding", "fault") else "#222"
        weight = ' font-weight="bold"' if event.kind in ("finding", "wait", "fault") else ""
        detail = _row_detail(timeline, row, event)
        step = ""
        if event.step != last_step:
            step = f'<text x="4" y="{y(row) + 13}" fill="#888">{event.step}</text>'
            last_step = event.step
        out.append(
            f'<g class="ev" data-row="{row}" data-kind="{_esc(event.kind)}" '
            f'data-detail="{_esc(detail)}"><title>{_esc(detail)}</title>'
            f'<rect class="hit" x="0" y="{y(row)}" width="{width}" height="{ROW}" '
            f'fill="transparent"/>{step}'
            f'<text x="{tx}" y="{y(row) + 13}" fill="{colour}"{weight}>'
            f"{_esc(describe(event))}</text></g>"
        )
    for flow in timeline.flows:
        x1 = left[flow.src] + BAR * (depth[flow.src] + 1)
        x2 = left[flow.dst] - 2
        y1, y2 = y(flow.source) + ROW // 2, y(flow.target) + ROW // 2
        if x2 < x1:
            x1, x2 = left[flow.src] - 2, left[flow.dst] + BAR * (depth[flow.dst] + 1)
        mid = (x1 + x2) / 2
        out.append(
            f'<path class="flow" d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" '
            f'stroke="#6a3d9a" stroke-width="1.5" marker-end="url(#arrow)">'
            f"<title>{_esc(f'{flow.src} releases {flow.lock}: {flow.dst} acquires it')}"
            "</title></path>"
        )
    out.append("</svg>")
    return "\n".join(out)


def graph_svg(graph: LockGraph, title: str) -> str:
    """Graphviz's SVG of the lock graph, ready to inline (no XML prolog or doctype)."""
    try:
        text = lockgraph.svg(graph, title)
    except graphviz.ExecutableNotFound:
        return "<p>(Graphviz's <code>dot</code> is not installed: no picture.)</p>"
    return re.sub(r"^.*?(?=<svg)", "", text, count=1, flags=re.S)


def _graph_table(graph: LockGraph) -> str:
    rows = lockgraph.table(graph)
    if not rows:
        return "<p>No dependency edges were recorded.</p>"
    body = "".join(
        f"<tr{' class=cycle' if red else ''}><td>{_esc(edge)}</td><td>{_esc(count)}</td>"
        f"<td>{_esc(site)}</td></tr>"
        for edge, count, site, red in rows
    )
    return (
        "<table><thead><tr><th>edge</th><th>times seen</th><th>first site</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _finding_html(n: int, finding: Finding) -> str:
    ident = f"replay-{n}"
    return (
        f'<section class="finding" id="finding-{n}"><h3><span class="kind">'
        f"{_esc(finding.kind)}</span>{_esc(finding.title)}</h3>"
        f'<div class="replay"><code id="{ident}">lockstep replay {_esc(finding.schedule)}</code>'
        f'<button type="button" data-target="{ident}">Copy</button></div>'
        + (
            f'<div class="replay">minimized: <code id="{ident}-min">lockstep replay '
            f"{_esc(finding.minimized)}</code>"
            f'<button type="button" data-target="{ident}-min">Copy</button></div>'
            if finding.minimized
            else ""
        )
        + f"<details{' open' if n == 1 else ''}><summary>report</summary>"
        f"<pre>{_esc(finding.message)}</pre></details>"
        "</section>"
    )


def render(
    *,
    scenario: str,
    schedule: str,
    trace: Sequence[Event],
    actors: Sequence[str],
    findings: Sequence[Finding],
    graph: LockGraph,
    summary: str = "",
    marks: Sequence[Finding] | None = None,
    full: bool = False,
) -> str:
    """The whole report for one execution (the one ``schedule`` replays). ``marks`` are the
    findings to place in the swimlane (they need the replay's trace positions); by default
    ``findings``."""
    if findings:
        parts = [_finding_html(n, f) for n, f in enumerate(findings, 1)]
    else:
        parts = [
            '<div class="replay"><code id="replay-0">lockstep replay '
            f'{_esc(schedule)}</code><button type="button" data-target="replay-0">Copy'
            "</button></div><p>No finding in this execution.</p>"
        ]
    lane = swimlane_svg(trace, actors, findings if marks is None else marks, full=full)
    count = len(findings)
    summary = summary or f"{count} finding{'s' if count != 1 else ''} in this execution"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>lockstep: {_esc(scenario)}</title>",
            f"<style>{_STYLE}</style>",
            f"<script>{_SCRIPT}</script>",
            "</head><body>",
            f"<h1>lockstep: {_esc(scenario)}</h1>",
            f'<p class="summary">{_esc(summary)}</p>',
            '<h2 id="findings">Findings</h2>',
            *parts,
            '<h2 id="swimlane">Interleaving</h2>',
            "<p>One column per actor, one row per event; bars beside a column are the locks "
            "that actor holds (hatched: waiting), arrows go from a release to the acquire it "
            "unblocked. Hover a row for details.</p>",
            '<div id="details">hover a row of the swimlane</div>',
            f'<div class="lane">{lane}</div>',
            '<h2 id="lockgraph">Lock classes</h2>',
            "<p>An edge A &rarr; B: B was taken while A was held, labelled with where that "
            "first happened; a reported cycle is red.</p>",
            f'<div class="graph">{graph_svg(graph, scenario)}</div>',
            _graph_table(graph),
            "</body></html>",
            "",
        ]
    )
