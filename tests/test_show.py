"""`lockstep show` in every format, `explore --report DIR`, and the text swimlane's colour."""

from __future__ import annotations

import io
import json
import re

import pytest

from lockstep import scenarios
from lockstep.scheduler import replay
from lockstep.tools import swimlane
from lockstep.tools.cli import run
from tests.conftest import require_dot

from .test_perfetto import check_format

ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEADLOCK = "ls1:abba:-:0x2.1x2"
SCHEDULES = {
    "abba": DEADLOCK,
    "aa": "ls1:aa:-:-",
    "rwsem-reader-writer": "ls1:rwsem-reader-writer:-:0x2.1.2.1",
    "replace-vs-destroy": "ls1:replace-vs-destroy:-:0x3.1x3",
    "two-devices-one-group": "ls1:two-devices-one-group:-:0x56.1x21.0x17.1x6.0x2",
}

#: The README's swimlane of the abba deadlock: the plain text must not change.
ABBA_SWIMLANE = """\
 step | t1                  | t2
--------------------------------
    0 | start               |
      | acquire A           |
    1 | acquired A          |
      | acquire B           |
    2 |                     | start
      |                     | acquire B
    3 |                     | acquired B
      | wait B (held by t2) |
      |                     | acquire A
      |                     | !! circular-dependency
      |                     | wait A (held by t1)
      |                     | !! deadlock

held at the end: t1: A; t2: B"""


def replayed(line):
    return replay(scenarios.get(line.split(":")[1]).program, line)


def test_the_plain_swimlane_is_unchanged_and_colour_only_adds_escapes():
    result = replayed(DEADLOCK)
    plain = swimlane.render(result.trace, result.actors, result.findings)
    assert plain == ABBA_SWIMLANE
    coloured = swimlane.render(result.trace, result.actors, result.findings, colour=True)
    assert coloured != plain and ANSI.sub("", coloured) == plain
    held = swimlane.render(result.trace, result.actors, result.findings, held=True, colour=True)
    assert ANSI.sub("", held) == swimlane.render(
        result.trace, result.actors, result.findings, held=True
    )


def test_explore_output_to_a_pipe_has_no_colour(capsys):
    assert run(["explore", "abba"]) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out and out.isascii()


def test_show_text_has_a_held_locks_column_per_actor(capsys):
    assert run(["show", DEADLOCK]) == 1
    out = capsys.readouterr().out
    assert out.isascii() and "\x1b" not in out
    header = next(line for line in out.splitlines() if line.startswith(" step |"))
    assert [c.strip() for c in header.split("|")] == ["step", "t1", "t1 holds", "t2", "t2 holds"]
    last = next(line for line in out.splitlines() if "!! deadlock" in line)
    # t1 already waits for B (not runnable), so the deadlock is found as t2 blocks on A
    assert [c.strip() for c in last.split("|")][1:] == ["", "A", "!! deadlock", "B"]
    assert f"replay: lockstep replay {DEADLOCK}" in out


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@pytest.mark.parametrize("fmt", ["text", "perfetto", "dot", "svg", "html"])
def test_show_writes_every_format(capsys, tmp_path, name, fmt):
    if fmt == "svg":
        require_dot()
    line = SCHEDULES[name]
    target = tmp_path / f"out.{fmt}"
    code = run(["show", line, "--format", fmt, "-o", str(target)])
    assert code == (0 if name == "replace-vs-destroy" else 1)
    assert capsys.readouterr() == ("", "")
    body = target.read_text()
    if fmt == "text":
        assert " holds" in body and line in body
    elif fmt == "perfetto":
        check_format(json.loads(body))
    elif fmt == "dot":
        assert body.startswith("digraph lockgraph {")
    elif fmt == "svg":
        assert "<svg" in body and "</svg>" in body
    else:
        assert body.startswith("<!DOCTYPE html>") and line in body


def test_explore_report_writes_every_format_for_every_finding(capsys, tmp_path):
    require_dot()
    target = tmp_path / "report"
    assert run(["explore", "abba", "--report", str(target), "--json"]) == 1
    out, err = capsys.readouterr()
    findings = json.loads(out)["findings"]
    assert err == f"lockstep: wrote {5 * len(findings) + 3} files into {target}\n"
    names = sorted(p.name for p in target.iterdir())
    for n, finding in enumerate(findings, 1):
        stem = f"{n:02d}-{finding['kind']}"
        for suffix in (".txt", ".perfetto.json", ".dot", ".svg", ".html"):
            assert stem + suffix in names
        page = (target / f"{stem}.html").read_text()
        assert finding["schedule"] in page
        assert 'data-kind="finding"' in page, "the swimlane marks where it was found"
        perfetto_doc = json.loads((target / f"{stem}.perfetto.json").read_text())
        check_format(perfetto_doc)
        assert any(e.get("cat") == "finding" for e in perfetto_doc["traceEvents"])
    assert {"index.html", "lockgraph.dot", "lockgraph.svg"} <= set(names)


def test_show_rejects_a_bad_schedule_in_one_line(capsys):
    assert run(["show", "garbage", "--format", "html"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("lockstep: error: malformed schedule")


def test_colour_only_for_a_terminal_that_wants_it(monkeypatch):
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert not swimlane.use_colour(io.StringIO()), "a file or pipe gets plain text"
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert swimlane.use_colour(io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not swimlane.use_colour(io.StringIO())


def test_lockgraph_table_on_a_terminal_marks_the_cycle_in_red():
    from rich.console import Console

    from lockstep.tools import lockgraph
    from lockstep.tools.lockgraph import LockGraph

    result = replayed(DEADLOCK)
    graph = LockGraph.of(result.edges, result.counts, result.findings)
    console = Console(force_terminal=True, color_system="standard", width=100)
    with console.capture() as captured:
        console.print(lockgraph.table_rich(graph))
    text = captured.get()
    assert "\x1b[1;31m" in text and "A -> B" in ANSI.sub("", text)


def test_minimized_lines_are_in_the_report_pages_and_the_json(capsys, tmp_path):
    target = tmp_path / "report"
    args = ["explore", "abbcca", "--strategy", "random", "--seed", "1", "--executions", "50"]
    assert run([*args, "--report", str(target), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    shrunk = [f for f in findings if f["minimized"] != f["schedule"]]
    assert shrunk, "random walks' lines are longer than the minimized ones"
    index = (target / "index.html").read_text()
    for n, finding in enumerate(findings, 1):
        page = (target / f"{n:02d}-{finding['kind']}.html").read_text()
        if finding in shrunk:
            assert "minimized: <code" in page and finding["minimized"] in page
            assert finding["minimized"] in index


LONG = "ls1:replace-vs-replace-one-group:-:0x10.1x21.0x25"


def test_the_setup_is_one_row_unless_full(capsys):
    assert run(["replay", LONG]) == 1
    short = capsys.readouterr().out
    assert run(["replay", LONG, "--full"]) == 1
    full = capsys.readouterr().out
    rows = [line for line in short.splitlines() if line.startswith("    0 | ")]
    assert len(rows) == 1 and "[setup: " in rows[0] and "events, --full]" in rows[0]
    assert "[setup: " not in full
    assert len(full.splitlines()) > len(short.splitlines()) + 100


def test_long_names_wrap_and_are_never_cut(capsys):
    assert run(["replay", LONG, "--full"]) == 1
    out = capsys.readouterr().out
    assert "..." not in out
    assert "ioas1.destroy_rwsem" in out


def test_the_html_report_opens_on_the_race_not_the_setup(capsys):
    assert run(["show", LONG, "--format", "html"]) == 1
    short = capsys.readouterr().out
    assert run(["show", LONG, "--format", "html", "--full"]) == 1
    full = capsys.readouterr().out
    assert "events, --full]" in short and "events, --full]" not in full
    assert short.count('<g class="ev"') + 100 < full.count('<g class="ev"')


def test_report_without_dot_writes_the_rest_and_says_so(capsys, tmp_path, monkeypatch):
    import graphviz

    from lockstep.tools import lockgraph

    def no_dot(*args, **kwargs):
        raise graphviz.ExecutableNotFound(["dot"])

    monkeypatch.setattr(lockgraph, "svg", no_dot)
    target = tmp_path / "report"
    assert run(["explore", "abba", "--report", str(target), "--json"]) == 1
    err = capsys.readouterr().err
    assert "the SVGs were skipped" in err and "apt-get install graphviz" in err
    names = {p.name for p in target.iterdir()}
    assert not any(name.endswith(".svg") for name in names)
    assert {"index.html", "lockgraph.dot", "01-circular-dependency.html"} <= names
    assert "01-circular-dependency.perfetto.json" in names
