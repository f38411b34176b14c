"""The lock-class graph: the table, DOT and SVG, and the reported cycle drawn in red."""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from lockstep import scenarios
from lockstep.scheduler import explore
from lockstep.tools import lockgraph
from lockstep.tools.cli import run
from lockstep.tools.lockgraph import RED, LockGraph

SVG = "{http://www.w3.org/2000/svg}"


def graph_of(name, **kwargs):
    scenario = scenarios.get(name)
    result = explore(scenario.program, scenario=name, **kwargs)
    return result, LockGraph.of(result.edges, result.counts, result.findings)


def red_edges(svg_text):
    """The (tail, head) node ids of the edges drawn in red in Graphviz's SVG."""
    root = ET.fromstring(svg_text)
    red = set()
    for group in root.iter(f"{SVG}g"):
        if group.get("class") != "edge":
            continue
        title = group.find(f"{SVG}title").text
        path = next(group.iter(f"{SVG}path"), None)
        if path is not None and path.get("stroke") == RED:
            red.add(tuple(title.split("->")))
    return red


def test_abba_table_has_both_orders_with_their_counts_and_first_sites():
    result, graph = graph_of("abba")
    rows = lockgraph.table(graph)
    assert [(e, red) for e, _, _, red in rows] == [("A -> B", True), ("B -> A", True)]
    assert all(int(n) == result.executions for _, n, _, _ in rows), "taken in every execution"
    assert rows[0][2].startswith("t1 (toys.py:") and rows[1][2].startswith("t2 (toys.py:")
    text = lockgraph.table_text(graph)
    assert text.splitlines()[0].split() == ["edge", "|", "times", "seen", "|", "first", "site"]
    assert "* A -> B" in text and "* in a reported circular dependency" in text


def test_the_svg_draws_the_reported_cycle_in_red():
    _, graph = graph_of("abba")
    dot = lockgraph.dot_source(graph, "abba")
    assert dot.startswith("digraph lockgraph {")
    assert re.search(r'c0 -> c1 \[label="t1 \(toys\.py:\d+\)\\n\[t1\]\\nseen \d+x"', dot)
    svg = lockgraph.svg(graph, "abba")
    assert red_edges(svg) == {("c0", "c1"), ("c1", "c0")}


def test_only_the_cycle_is_red_among_other_edges():
    _, graph = graph_of("abbcca", strategy="random", executions=50, seed=1)
    assert {(e.prev, e.next) for e in graph.edges} == {("A", "B"), ("B", "C"), ("C", "A")}
    ids = {name: f"c{i}" for i, name in enumerate(graph.classes())}
    svg = lockgraph.svg(graph, "abbcca")
    cycle = {(ids[a], ids[b]) for a, b in graph.cycle_edges()}
    assert red_edges(svg) == cycle and len(cycle) == 3


def test_recursive_locking_is_a_red_self_loop():
    _, graph = graph_of("aa")
    assert graph.edges == ()
    assert red_edges(lockgraph.svg(graph, "aa")) == {("c0", "c0")}


def test_a_clean_iommufd_scenario_has_model_sites_and_nothing_red():
    _, graph = graph_of("replace-vs-destroy", strategy="random", executions=5, seed=1)
    rows = lockgraph.table(graph)
    assert ("&ioas->mutex -> &igroup->lock", True) not in [(e, r) for e, _, _, r in rows]
    assert any(e == "&ioas->mutex -> &igroup->lock" for e, *_ in rows)
    assert all(re.search(r"\(\w+\.py:\d+\)", site) for _, _, site, _ in rows)
    assert red_edges(lockgraph.svg(graph, "replace-vs-destroy")) == set()


def test_merge_keeps_the_first_edge_and_adds_the_counts():
    _, abba = graph_of("abba", strategy="random", executions=3, seed=1)
    _, again = graph_of("abba", strategy="random", executions=4, seed=2)
    merged = lockgraph.merge([abba, again])
    assert [(e.prev, e.next) for e in merged.edges] == [(e.prev, e.next) for e in abba.edges]
    assert sorted((e.prev, e.next) for e in merged.edges) == [("A", "B"), ("B", "A")]
    assert merged.counts[("A", "B")] == 7


def test_lockgraph_command_table_dot_and_svg(capsys, tmp_path):
    if shutil.which("dot") is None and os.environ.get("CI") != "true":
        pytest.skip("needs graphviz's dot (apt-get install graphviz)")
    code = run(["lockgraph", "abba", "rwsem-reader-writer", "--strategy", "random"])
    out = capsys.readouterr().out
    assert code == 1 and "* A -> B" in out and "first site" in out
    assert run(["lockgraph", "abba", "--format", "dot"]) == 1
    assert capsys.readouterr().out.startswith("digraph lockgraph {")
    target = tmp_path / "g.svg"
    assert run(["lockgraph", "nested-ok", "--format", "svg", "-o", str(target)]) == 0
    assert "<svg" in target.read_text()


def test_lockgraph_takes_the_shared_options(capsys):
    from lockstep.tools.cli import run

    args = ["lockgraph", "replace-vs-destroy", "--strategy", "pct", "--executions", "5"]
    # with faults, replace-vs-destroy shows the err_unresv unwind: exit 1, by its findings
    assert run([*args, "--faults", "--seed", "3"]) == 1
    assert "-> &ioas->mutex" in capsys.readouterr().out
