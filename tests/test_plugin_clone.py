"""From a fresh clone, a separate small project installs iommufd-lockstep into its own venv
and writes and runs lock-order tests with the plugin.

It also checks that the installed distribution adds one import package, ``lockstep``, and
nothing else. Marked ``clone`` and slow (about 15 s: a git clone, a venv, a wheel build and
a pytest run in it); deselect with ``-m "not clone"``. It tests the committed HEAD, as a
clone does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

PROJECT_TEST = """
import pytest

def test_replace_vs_destroy_is_clean(lockstep):
    lockstep.assert_clean("replace-vs-destroy", strategy="random", executions=20)

def test_my_scenario_file_is_clean(lockstep):
    lockstep.assert_clean("attach.toml")

def test_lock_order_is_unchanged(lockstep):
    lockstep.assert_lockorder("lockorder.manifest", "selftest-device", faults=True)

@pytest.mark.xfail(strict=True, raises=AssertionError)
def test_the_b5_variant_is_reported(lockstep):
    lockstep.assert_clean("selftest-device", variant="shared-destroy-rwsem-class")
"""

SCENARIO = """
name = "attach"
description = "one device attaches to an IOAS with a mapped page"
[objects]
ioas = ["ioas1"]
maps = { ioas1 = 1 }
groups = { group0 = ["dev1"] }
[[setup]]
op = "bind"
device = "dev1"
[actors]
"idev1" = [{ op = "attach", device = "dev1", pt = "ioas1" }]
"""


#: older versions of dependencies a user's project may pin (inside the declared ranges)
OLDER = ["rich==13.7.1", "click==8.1.7"]
#: the top-level names the installed distribution put into site-packages
TOP_LEVEL = """
import importlib.metadata as m
names = {f.parts[0] for f in m.files("iommufd-lockstep")}
print(*sorted(n for n in names if not n.startswith("..") and not n.endswith(".dist-info")))
"""
#: whether the layout's folder names are importable as top-level packages
STRAYS = """
import importlib.util as u
print(*[n for n in ("scheduler", "actors", "scenarios", "tools") if u.find_spec(n)])
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.clone
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_separate_project_writes_and_runs_lock_order_tests(tmp_path: Path) -> None:
    clone, venv, project = tmp_path / "clone", tmp_path / "venv", tmp_path / "project"
    _run(["git", "clone", "-q", str(ROOT), str(clone)], tmp_path)
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path)
    python, lockstep = venv / "bin" / "python", venv / "bin" / "lockstep"
    _run([str(python), "-m", "pip", "install", "-q", str(clone), "pytest-trio"], tmp_path)
    # one import package: `lockstep`, and nothing else in site-packages
    assert _run([str(python), "-c", TOP_LEVEL], tmp_path).stdout.split() == ["lockstep"]
    assert _run([str(python), "-c", STRAYS], tmp_path).stdout.split() == []
    api = "import lockstep; print(lockstep.explore.__module__)"
    assert _run([str(python), "-c", api], tmp_path).stdout.strip() == "lockstep.scheduler.explore"
    # a project that pins older rich and click still gets a working lockstep
    _run([str(python), "-m", "pip", "install", "-q", *OLDER], tmp_path)
    explored = _run([str(lockstep), "explore", "replace-vs-destroy", "--no-minimize"], tmp_path)
    assert "0 findings" in explored.stdout

    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\ntestpaths = ["."]\n')
    (project / "attach.toml").write_text(SCENARIO)
    (project / "test_locks.py").write_text(textwrap.dedent(PROJECT_TEST))
    manifest = _run([str(lockstep), "lockorder", "--faults", "selftest-device"], project)
    (project / "lockorder.manifest").write_text(manifest.stdout)

    done = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project)
    assert "3 passed, 1 xfailed" in done.stdout
    # the installed copy runs, not this checkout
    where = _run([str(python), "-c", "import lockstep; print(lockstep.__file__)"], project)
    assert str(venv) in where.stdout
