"""The `lockstep` command as a user runs it: reports, replay lines, exit status, errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lockstep.tools.cli import run

from .conftest import run_cli

REPLAY = re.compile(r"^replay: lockstep replay (\S+)$", re.M)


def lockstep(capsys, *args):
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def blocks(text):
    """The finding blocks of a report, without their numbered header lines."""
    parts = re.split(r"^=== finding \d+ of \d+: ", text, flags=re.M)[1:]
    return [part.split("\n", 1)[1].rstrip("\n") for part in parts]


def test_explore_abba_reports_the_inversion_and_the_deadlock(capsys):
    code, out, err = lockstep(capsys, "explore", "abba")
    # each finding is also shown on stderr as it is found: its title and replay line
    assert code == 1 and err == (
        "found circular-dependency (A, B): possible circular locking dependency: A -> B -> A\n"
        "  replay: lockstep replay ls1:abba:-:0x5\n"
        "found deadlock (A, B): deadlock: t2 waits for A, t1 waits for B\n"
        "  replay: lockstep replay ls1:abba:-:0x2.1x2\n"
    )
    assert out.startswith("abba: 3 executions (dfs, exhausted), 2 findings")
    assert "WARNING: possible circular locking dependency detected" in out
    assert "the existing dependency chain (in reverse order) is:" in out
    assert "Possible unsafe locking scenario:" in out and "*** DEADLOCK ***" in out
    assert "wait-for cycle:" in out
    assert "t1 waits for (B), held by t2" in out and "t2 waits for (A), held by t1" in out
    assert len(REPLAY.findall(out)) == 2
    assert " step | t1" in out and "!! deadlock" in out


def test_replay_reproduces_each_finding_identically(capsys):
    _, out, _ = lockstep(capsys, "explore", "abba")
    explored = blocks(out)
    for line in REPLAY.findall(out):
        code, replayed, err = lockstep(capsys, "replay", line)
        assert code == 1 and err == ""
        block = next(b for b in explored if f"replay: lockstep replay {line}\n" in b)
        assert block in blocks(replayed)


@pytest.mark.parametrize("seed", range(25))
def test_one_random_execution_reports_the_inversion_for_every_seed(capsys, seed):
    code, out, _ = lockstep(
        capsys,
        "explore",
        "abba",
        "--strategy",
        "random",
        "--executions",
        "1",
        "--seed",
        str(seed),
        "--json",
    )
    result = json.loads(out)
    assert code == 1 and result["executions"] == 1
    assert ["A", "B"] in [
        sorted(f["classes"]) for f in result["findings"] if f["kind"] == "circular-dependency"
    ]


def test_json_output(capsys):
    code, out, _ = lockstep(capsys, "explore", "aa", "--json")
    result = json.loads(out)
    assert code == 1
    assert result["scenario"] == "aa" and result["strategy"] == "dfs"
    assert result["executions"] == 1 and result["exhausted"] is True
    [finding] = result["findings"]
    assert finding["kind"] == "recursive-locking" and finding["classes"] == ["A"]
    assert finding["schedule"] == "ls1:aa:-:-"
    assert "possible recursive locking detected" in finding["message"]


def test_a_clean_scenario_exits_zero(capsys):
    code, out, _ = lockstep(capsys, "explore", "nested-ok")
    assert code == 0
    assert out == "nested-ok: 2 executions (dfs, exhausted), 0 findings\n"


def test_list_shows_every_scenario_with_a_description(capsys):
    code, out, _ = lockstep(capsys, "list")
    assert code == 0
    for name in [
        "abba",
        "abbcca",
        "aa",
        "nested-ok",
        "rwsem-reader-writer",
        "held-at-return",
        "bad-unlock",
        "sleep-in-atomic",
    ]:
        assert re.search(rf"^{name}\s+\S", out, re.M)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", "nope"], "unknown scenario 'nope'"),
        (["explore", "abba", "--strategy", "bfs"], "'bfs' is not one of"),
        (["explore", "abba", "--executions", "0"], "0 is not in the range"),
        (["explore", "abba", "--seed", "x"], "'x' is not a valid integer"),
        (["explore", "no/such/file.toml"], "no/such/file.toml"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["replay", "garbage"], "malformed schedule 'garbage'"),
        (["replay", "ls2:abba:-:0"], "unsupported schedule version"),
        (["replay", "ls1:nope:-:0"], "unknown scenario 'nope'"),
        (["replay", "ls1:abba:-:7"], "choice 1 is actor 7"),
        (["replay", "ls1:abba:-:0x40"], "ended after"),
        (["replay", "ls1:abba:-:-"], "it ends after 0 choices"),
        (["replay", "ls1:abba:color=red:0x5"], "does not know: 'color'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, message):
    code, out, err = lockstep(capsys, *args)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("lockstep: error: ")
    assert message in err


def test_same_seed_gives_byte_identical_output_across_hash_seeds():
    args = ["explore", "abbcca", "--strategy", "random", "--executions", "60", "--seed", "5"]
    first = run_cli(*args, env={"PYTHONHASHSEED": "0"})
    second = run_cli(*args, env={"PYTHONHASHSEED": "4242"})
    assert first.returncode == second.returncode == 1
    assert first.stderr == second.stderr
    assert first.stderr.count("\n  replay: lockstep replay ") == 2
    assert first.stdout == second.stdout
    assert "deadlock" in first.stdout


def test_replay_in_another_process_gives_the_identical_trace(capsys):
    _, out, _ = lockstep(
        capsys,
        "explore",
        "rwsem-reader-writer",
        "--strategy",
        "random",
        "--executions",
        "200",
        "--seed",
        "1",
    )
    line = next(line for line in REPLAY.findall(out) if "." in line.split(":")[-1])
    here = lockstep(capsys, "replay", line)[1]
    there = run_cli("replay", line, env={"PYTHONHASHSEED": "99"})
    assert there.returncode == 1
    assert there.stdout == here


def test_a_users_own_toml_scenario_runs_and_its_replay_line_finds_the_file(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\ndescription = "one device replaces between two IOASes"\n'
        '[objects]\nioas = ["ioas1", "ioas2"]\ngroups = { group0 = ["dev1"] }\n'
        '[[setup]]\nop = "bind"\ndevice = "dev1"\n'
        '[[setup]]\nop = "attach"\ndevice = "dev1"\npt = "ioas1"\n'
        '[actors]\n"idev1" = [{ op = "replace", device = "dev1", pt = "ioas2" }]\n'
    )
    code, out, err = lockstep(capsys, "explore", str(path), "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["scenario"] == str(path)
    code, out, err = lockstep(capsys, "replay", f"ls1:{path}:-:-")
    assert code == 0 and err == ""
    assert "replace" in out


@pytest.mark.parametrize(
    "line",
    [
        "ls1:abba:bound=1.5:0x5",
        "ls1:abba:bound=0:0x5",
        "ls1:abba:-:1x9223372036854775808",
        "ls1:abba:-:" + "1" * 4400,
        "ls1:aa:-:1x100000000",
        "ls1:abba:fail=" + "9" * 30 + ":0x2",
    ],
)
def test_malformed_numbers_are_bad_input(capsys, line):
    """Numbers a schedule line cannot mean are one line and status 2, checked before any
    choice is expanded (``1x100000000`` would be 1.6 GB)."""
    code, out, err = lockstep(capsys, "replay", line)
    assert code == 2 and out == ""
    assert err.startswith("lockstep: error: malformed schedule") and err.count("\n") == 1


def test_an_internal_error_is_status_3_and_one_line(capsys, monkeypatch):
    """A crash of the tool is not a finding (1) nor bad input (2): one line, status 3; the
    traceback only with --debug."""
    import lockstep.tools.cli as cli

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom\nsecond line")

    monkeypatch.setattr(cli, "explore", broken)
    code, out, err = lockstep(capsys, "explore", "abba")
    assert code == 3 and out == ""
    assert err == (
        "lockstep: internal error: ZeroDivisionError: boom second line (a bug in lockstep, "
        "not a finding; --debug prints the traceback)\n"
    )
    code, out, err = lockstep(capsys, "--debug", "explore", "abba")
    assert code == 3 and "Traceback (most recent call last)" in err


def test_ctrl_c_keeps_the_findings_so_far():
    """An interrupt inside an execution ends the exploration with what it found so far."""
    from lockstep.scheduler import LockClass, Mutex, explore

    def program():
        a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))
        runs = program.__dict__.setdefault("runs", [0])
        runs[0] += 1

        async def t1():
            async with a, b:
                pass

        async def t2():
            if runs[0] > 2:
                raise KeyboardInterrupt
            async with b, a:
                pass

        return {"t1": t1, "t2": t2}

    result = explore(program, scenario="interrupted", interruptible=True)
    assert result.interrupted and not result.exhausted
    assert result.executions == 2
    assert "circular-dependency" in {f.kind for f in result.findings}
    # without interruptible, Ctrl-C reaches the caller, as in any Python call
    with pytest.raises(KeyboardInterrupt):
        explore(program, scenario="interrupted")


def test_scenario_files_that_are_not_files(capsys, tmp_path):
    """A FIFO (would block), a link to /dev/zero (would never end), TOML nested 1,000 deep
    (a RecursionError) and a key with a newline: each one line and status 2."""
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.toml"
    zero.symlink_to("/dev/zero")
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    newline = tmp_path / "newline.toml"
    newline.write_text('name = "x"\ndescription = "y"\n[actors]\n"a\\nb" = 1\n')
    expected = {
        fifo: "not a regular file",
        zero: "not a regular file",
        deep: "not valid TOML: nested too deeply",
        newline: "actors.a\\nb: must be a non-empty list of operations",
    }
    for path, message in expected.items():
        code, out, err = lockstep(capsys, "explore", str(path))
        assert code == 2 and out == ""
        assert err == f"lockstep: error: {path}: {message}\n"
    odd = tmp_path / "odd\nname.toml"
    odd.write_text(newline.read_text())
    code, out, err = lockstep(capsys, "explore", str(odd))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "odd\\nname.toml" in err


def test_minimization_has_a_budget_and_can_be_left_out(capsys):
    """``--no-minimize`` prints the lines as found; ``--minimize-seconds`` bounds the search
    (abbcca's lines minimize to shorter ones when it may search)."""
    code, out, _ = lockstep(capsys, "explore", "abbcca", "--no-minimize")
    assert code == 1 and "minimized:" not in out
    code, out, _ = lockstep(capsys, "explore", "abbcca", "--minimize-seconds", "0")
    assert code == 1 and "minimized:" not in out
    code, out, _ = lockstep(capsys, "explore", "abbcca")
    assert code == 1 and "minimized:" in out


def test_a_schedule_line_from_a_file_or_stdin(capsys, tmp_path, monkeypatch):
    """A line too long for an argument is read from a file, or from stdin with ``-``."""
    import io

    line = "ls1:abba:-:0x2.1x2"
    path = tmp_path / "line.txt"
    path.write_text(line + "\n")
    code, out, _ = lockstep(capsys, "replay", str(path))
    assert code == 1 and out.startswith("abba: replayed 1 execution, 2 findings")
    monkeypatch.setattr("sys.stdin", io.StringIO(line + "\n"))
    code, out, _ = lockstep(capsys, "show", "-", "--format", "text")
    assert code == 1 and "acquire A" in out
    code, out, _ = lockstep(capsys, "minimize", str(path))
    assert code == 1 and "ls1:abba:" in out
    monkeypatch.setattr("sys.stdin", io.StringIO(line + "\n"))
    code, out, _ = lockstep(capsys, "minimize", "-")
    assert code == 1 and "ls1:abba:" in out


def test_long_runs_can_be_bounded_and_watched(capsys):
    """--max-time and -x stop early and say why; --jsonl prints each finding as a JSON line
    as it is found, then one summary object; random and pct summaries name the seed."""
    code, out, _ = lockstep(capsys, "explore", "map-vs-attach", "--max-time", "0", "--no-minimize")
    assert code == 0
    assert out.startswith("map-vs-attach: 1 execution (dfs, not exhausted, stopped after 0 s)")
    code, out, err = lockstep(capsys, "explore", "abbcca", "-x", "--jsonl", "--no-minimize")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and err == ""
    assert [line.get("kind") for line in lines[:-1]] == ["circular-dependency"]
    summary = lines[-1]["summary"]
    assert summary["stopped"] == "stopped at the first finding" and not summary["exhausted"]
    assert summary["executions"] == 1 and summary["seed"] == 0
    code, out, _ = lockstep(
        capsys, "explore", "abba", "--strategy", "pct", "--seed", "7", "--executions", "5"
    )
    assert out.startswith("abba: 5 executions (pct, seed 7)")


def test_list_wraps_descriptions_to_the_terminal(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "90")
    code, out, _ = lockstep(capsys, "list")
    assert code == 0
    assert max(len(line) for line in out.splitlines()) <= 90
    assert "replace-vs-destroy" in out


def test_what_the_users_program_gets_wrong_is_bad_input_or_a_finding(capsys, tmp_path, monkeypatch):
    """A factory that returns an int is the user's mistake (status 2, one line); an actor
    raising GeneratorExit or a BaseException of its own is a finding, never a crash."""
    (tmp_path / "prog_int.py").write_text("def program():\n    return 3\n")
    (tmp_path / "prog_base.py").write_text(
        "class Mine(BaseException):\n    pass\n\n\n"
        "def program():\n"
        "    async def a():\n        raise GeneratorExit()\n\n"
        "    async def b():\n        raise Mine('custom')\n\n"
        "    return {'a': a, 'b': b}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = lockstep(capsys, "explore", "prog_int.program")
    assert code == 2 and out == ""
    assert err == (
        "lockstep: error: a program callable must return a Program or a mapping of actor "
        "names to async functions, not int\n"
    )
    code, out, err = lockstep(capsys, "explore", "prog_base.program", "--json")
    assert code == 1 and err == ""
    titles = {f["title"] for f in json.loads(out)["findings"]}
    assert titles == {"exception in a: GeneratorExit: ", "exception in b: Mine: custom"}


def test_a_checkpoint_that_cannot_be_written_is_bad_input(capsys, tmp_path):
    code, out, err = lockstep(
        capsys, "explore", "abba", "--checkpoint", str(tmp_path / "missing" / "c.json")
    )
    assert code == 2 and out == ""
    assert err == (
        f"lockstep: error: {tmp_path}/missing/c.json: cannot write the checkpoint: "
        "No such file or directory\n"
    )


def _started(args: list[str], ready) -> subprocess.Popen[str]:
    """``lockstep ARGS`` in its own process, once ``ready()`` says it is under way."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockstep.tools.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready(proc) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    return proc


def test_ctrl_c_on_the_command_line_is_status_130_with_a_resume_command(tmp_path):
    """SIGINT in a single-process explore: the findings so far, the command that resumes
    from the checkpoint, and status 130, without a traceback."""
    checkpoint = tmp_path / "c.json"
    args = ["explore", "two-devices-one-group", "--checkpoint", str(checkpoint)]
    args += ["--no-minimize"]
    proc = _started(args, lambda _: checkpoint.exists())
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert re.search(r"interrupted after [\d,]+ executions", err + out)
    assert f"resume: lockstep explore two-devices-one-group --checkpoint {checkpoint}" in err


def test_a_killed_jobs_worker_is_one_line_and_not_a_finding():
    """SIGKILL of a --jobs worker: one line that says a worker died and its share is lost,
    status 3 (not 1, which means findings)."""

    def workers(proc: subprocess.Popen[str]) -> list[int]:
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == proc.pid:
                children.append(int(stat.parent.name))
        return children

    args = ["explore", "two-devices-one-group", "--jobs", "2", "--strategy", "random"]
    proc = _started([*args, "--executions", "10000000"], lambda p: len(workers(p)) >= 2)
    os.kill(workers(proc)[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3
    assert err.count("\n") == 1 and "a --jobs worker process died" in err
    assert "share of the work is lost" in err and "Traceback" not in err


def test_ctrl_c_while_minimizing_still_prints_the_report(capsys, monkeypatch):
    """Ctrl-C once the exploration is done, while the lines are minimized: the report is
    printed with the lines as found, one line says so, and the status is 130."""

    def interrupted(*_, **__):
        raise KeyboardInterrupt

    monkeypatch.setattr("lockstep.tools.cli.minimize_findings", interrupted)
    code, out, err = lockstep(capsys, "explore", "abba")
    assert code == 130
    assert "=== finding 1 of 2" in out and "minimized:" not in out
    assert err.endswith("lockstep: interrupted while minimizing: the lines are as found\n")


def test_ctrl_c_stops_lockorder_with_status_130():
    """Every other command that explores gets the KeyboardInterrupt: lockorder stops with
    status 130 instead of printing a manifest of a cut-short exploration."""
    args = ["lockorder", "two-devices-one-group", "map-vs-attach", "--faults"]
    proc = _started(args, lambda _: True)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert out == "" and "Traceback" not in err


def test_a_findings_folder_with_a_broken_file_is_bad_input(capsys, tmp_path):
    meta = '{"signature": ["invariant", [], "x"], "variant": null, "fail_nth": null}'
    (tmp_path / "broken.toml").write_text(f"# lockstep-fuzz: {meta}\nname = 3\n")
    code, out, err = lockstep(capsys, "explore", str(tmp_path))
    assert code == 2 and out == ""
    assert err == f"lockstep: error: {tmp_path}/broken.toml: description: missing\n"
