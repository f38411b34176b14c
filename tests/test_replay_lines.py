"""Replay lines travel: a Python program's line names it ``module.function`` and the CLI
imports it; a scenario file's line carries the file's path as given and a digest of its
content, and a changed file is one clear error."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

from lockstep.scheduler import explore
from tests.conftest import ROOT, run_cli

MODULE = """
from lockstep import LockClass, Mutex


def nested_ok():  # the name of a shipped toy, on purpose
    a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))

    async def t1():
        async with a:
            async with b:
                pass

    async def t2():
        async with b:
            async with a:
                pass

    return {"t1": t1, "t2": t2}
"""


def lockstep_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``lockstep ARGS`` run in ``folder``, as a user there runs it."""
    return run_cli(*args, env={"PYTHONPATH": ""}, cwd=folder)


def test_a_python_program_is_named_by_module_and_replayed_by_the_cli(tmp_path, monkeypatch):
    (tmp_path / "mymodel.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import mymodel

    result = explore(mymodel.nested_ok, strategy="dfs")
    lines = [f.schedule for f in result.findings]
    assert lines and all(line.startswith("ls1:mymodel.nested_ok:") for line in lines)
    done = lockstep_in(tmp_path, "replay", lines[-1])
    assert done.returncode == 1, done.stderr
    assert "deadlock" in done.stdout or "circular" in done.stdout
    # not the toy nested-ok, which is clean
    assert "finding" in done.stdout


def test_a_python_program_that_cannot_be_imported_is_one_line(tmp_path):
    done = lockstep_in(tmp_path, "replay", "ls1:nosuchmodule.program:-:0x2")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "cannot import nosuchmodule" in done.stderr


def test_a_scenario_files_line_checks_the_file_it_was_made_from(tmp_path):
    source = ROOT / "scenarios" / "iommufd" / "replace-vs-replace-one-group.toml"
    shutil.copy(source, tmp_path / "mine.toml")
    found = lockstep_in(tmp_path, "explore", "mine.toml", "--json", "--no-minimize")
    assert found.returncode == 1, found.stderr
    line = json.loads(found.stdout)["findings"][0]["schedule"]
    assert re.match(r"ls1:mine\.toml:(.*,)?sha=[0-9a-f]{12}[,:]", line), line
    assert lockstep_in(tmp_path, "replay", line).returncode == 1
    path = tmp_path / "mine.toml"
    # comments and layout are not the scenario: the line still replays
    path.write_text("# a comment\n" + path.read_text() + "\n\n# edited\n")
    assert lockstep_in(tmp_path, "replay", line).returncode == 1
    # what it says is: the line is refused
    text = path.read_text()
    path.write_text(text.replace('name = "replace-vs-replace-one-group"', 'name = "mine"'))
    done = lockstep_in(tmp_path, "replay", line)
    assert done.returncode == 2
    assert "mine.toml has changed since this line was made" in done.stderr
