"""The lock-class dependency graph of an exploration (or a replay), as a table, DOT and SVG.

An edge A -> B says "B was taken while A was held", as lockdep records it; it is labelled
with where that first happened (the site of the B acquisition) and how often it was taken.
The cycle a circular-dependency finding reports is drawn in red, so the picture says at a
glance which two (or more) code paths disagree on the order. A recursive-locking finding is
a red self-loop on its class, and the classes of a deadlock's wait-for cycle are filled red.

DOT is built with the ``graphviz`` package (it quotes names like ``&ioas->mutex``); SVG
comes from Graphviz's ``dot`` program, which must be on PATH (Debian package graphviz).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import graphviz
from attrs import field, frozen
from rich.table import Table

from lockstep.scheduler import Finding
from lockstep.scheduler.lockdep import Edge

RED = "#d62728"


@frozen
class LockGraph:
    """Edges in the order lockdep first saw them, their counts, and what to draw in red."""

    edges: tuple[Edge, ...]
    counts: Mapping[tuple[str, str], int] = field(factory=dict, eq=False)
    findings: tuple[Finding, ...] = ()

    @classmethod
    def of(
        cls,
        edges: Iterable[Edge],
        counts: Mapping[tuple[str, str], int] | None = None,
        findings: Iterable[Finding] = (),
    ) -> LockGraph:
        return cls(tuple(edges), dict(counts or {}), tuple(findings))

    def classes(self) -> list[str]:
        """Every class in the graph or in a finding, in first-seen order."""
        names: list[str] = []
        for edge in self.edges:
            names += [edge.prev, edge.next]
        for finding in self.findings:
            names += finding.classes
        return list(dict.fromkeys(names))

    def cycle_edges(self) -> set[tuple[str, str]]:
        """The edges of every reported circular dependency."""
        red: set[tuple[str, str]] = set()
        for finding in self.findings:
            if finding.kind == "circular-dependency" and finding.classes:
                cycle = finding.classes
                red |= {(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))}
        return red

    def recursive(self) -> set[str]:
        return {c for f in self.findings if f.kind == "recursive-locking" for c in f.classes}

    def deadlocked(self) -> set[str]:
        return {c for f in self.findings if f.kind == "deadlock" for c in f.classes}

    def count(self, edge: Edge) -> int:
        return self.counts.get((edge.prev, edge.next), 0)


def site_text(edge: Edge) -> str:
    """The first acquisition site of an edge: where ``next`` was taken while ``prev`` was held."""
    site = edge.next_site
    return "?" if site is None else str(site)


def _site_label(edge: Edge) -> str:
    """The site on two short lines (code, then actor and operation) for a narrow label."""
    site = edge.next_site
    if site is None:
        return "?"
    who = site.actor if site.operation == site.actor else f"{site.actor}: {site.operation}"
    return f"{site.where}\n[{who}]"


def table(graph: LockGraph) -> list[tuple[str, str, str, bool]]:
    """Rows of (edge, times seen, first site, in a reported cycle)."""
    red = graph.cycle_edges()
    return [
        (
            f"{edge.prev} -> {edge.next}",
            str(graph.count(edge)),
            site_text(edge),
            (edge.prev, edge.next) in red,
        )
        for edge in graph.edges
    ]


def table_text(graph: LockGraph) -> str:
    """The table as plain ASCII, cycle edges marked with ``*``."""
    rows = [(("* " if red else "  ") + e, n, s) for e, n, s, red in table(graph)]
    heads = ("  edge", "times seen", "first site")
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(3)]
    lines = [
        " | ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip(),
        "-+-".join("-" * w for w in widths),
    ]
    for e, n, s in rows:
        lines.append(f"{e.ljust(widths[0])} | {n.rjust(widths[1])} | {s}")
    if any(red for *_, red in table(graph)):
        lines += ["", "* in a reported circular dependency"]
    if not rows:
        lines.append("(no dependency edges)")
    return "\n".join(lines) + "\n"


def table_rich(graph: LockGraph) -> Table:
    """The table for a terminal: the cycle's edges in red."""
    out = Table("edge", "times seen", "first site", title="lock classes", title_justify="left")
    out.columns[1].justify = "right"
    for edge, seen, site, red in table(graph):
        out.add_row(edge, seen, site, style="bold red" if red else None)
    return out


def digraph(graph: LockGraph, title: str = "lock classes") -> graphviz.Digraph:
    """The graph for Graphviz: a box per class, an edge per dependency, the cycle in red."""
    dot = graphviz.Digraph(
        "lockgraph",
        graph_attr={
            "label": title,
            "labelloc": "t",
            "fontname": "Helvetica",
            "rankdir": "TB",
            "bgcolor": "white",
            "nodesep": "0.9",
            "ranksep": "0.8",
            "pad": "0.3",
        },
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "#f4f4f4"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10", "color": "#555555"},
    )
    dot.node_attr["fontname"] = "Helvetica"
    ids = {name: f"c{i}" for i, name in enumerate(graph.classes())}
    red, recursive, deadlocked = graph.cycle_edges(), graph.recursive(), graph.deadlocked()
    on_cycle = {name for pair in red for name in pair}
    for name, ident in ids.items():
        attrs = {"label": _escape(name), "tooltip": _escape(name)}
        if name in on_cycle or name in recursive:
            attrs.update(color=RED, penwidth="2", fontcolor=RED)
        if name in deadlocked:
            attrs.update(fillcolor="#fbd5d5")
        dot.node(ident, **attrs)
    for edge in graph.edges:
        seen = graph.count(edge)
        label = _site_label(edge) + (f"\nseen {seen}x" if seen else "")
        tooltip = (
            f"{edge.prev} -> {edge.next}: {edge.next} taken at {site_text(edge)} "
            f"while holding {edge.prev}, taken at "
            f"{'?' if edge.prev_site is None else edge.prev_site}"
        )
        attrs = {"label": _escape(label), "tooltip": _escape(tooltip)}
        if (edge.prev, edge.next) in red:
            attrs.update(color=RED, fontcolor=RED, penwidth="2.5")
        dot.edge(ids[edge.prev], ids[edge.next], **attrs)
    for name in sorted(recursive):
        dot.edge(
            ids[name],
            ids[name],
            label="recursive locking",
            color=RED,
            fontcolor=RED,
            style="dashed",
            penwidth="2",
        )
    return dot


def _escape(text: str) -> str:
    """A label for DOT: backslashes and newlines as Graphviz reads them in a quoted string."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def dot_source(graph: LockGraph, title: str = "lock classes") -> str:
    return digraph(graph, title).source


def svg(graph: LockGraph, title: str = "lock classes") -> str:
    """The graph drawn by ``dot -Tsvg``; raises `graphviz.ExecutableNotFound` without it."""
    return digraph(graph, title).pipe(format="svg", encoding="utf-8")


def merge(graphs: Iterable[LockGraph]) -> LockGraph:
    """One graph of several explorations: the first edge seen of each pair, counts added."""
    edges: dict[tuple[str, str], Edge] = {}
    counts: dict[tuple[str, str], int] = {}
    findings: list[Finding] = []
    for graph in graphs:
        for edge in graph.edges:
            edges.setdefault((edge.prev, edge.next), edge)
        for pair, n in graph.counts.items():
            counts[pair] = counts.get(pair, 0) + n
        findings += graph.findings
    return LockGraph.of(edges.values(), counts, findings)
