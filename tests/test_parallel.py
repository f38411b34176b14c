"""--jobs: the same executions, so the same findings, as one process."""

from __future__ import annotations

import pytest

import scenarios
from scheduler import explore
from scheduler.parallel import explore_parallel
from tests.test_cli import lockstep


def load(name):
    return scenarios.get(name).program


def keys(result):
    return {(f.kind, tuple(sorted(f.classes))) for f in result.findings}


@pytest.mark.parametrize("strategy", ["random", "pct"])
@pytest.mark.parametrize("name", ["abbcca", "two-devices-one-group"])
def test_jobs_find_what_one_process_finds(strategy, name):
    plain = explore(load(name), strategy=strategy, executions=120, seed=4, scenario=name)
    shared = explore_parallel(load, name, jobs=2, strategy=strategy, executions=120, seed=4)
    assert shared.executions == plain.executions == 120
    assert keys(shared) == keys(plain)
    assert {f.key for f in shared.findings} == {f.key for f in plain.findings}


def test_jobs_with_dfs_is_bad_input(capsys):
    code, _, err = lockstep(capsys, "explore", "abba", "--jobs", "2")
    assert code == 2 and "--strategy dfs runs in one process" in err


def test_jobs_on_the_command_line(capsys):
    code, out, _ = lockstep(
        capsys, "explore", "abba", "--strategy", "random", "--jobs", "2", "--executions", "40"
    )
    assert code == 1 and out.startswith("abba: 40 executions (random, random), 2 findings")
