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


@pytest.fixture(scope="module")
def dask_cluster():
    """A two-worker Dask cluster of processes on loopback."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("strategy", ["random", "pct"])
def test_dask_finds_what_one_process_finds(dask_cluster, strategy):
    from tools.cli import _load_program

    name = "abbcca"
    plain = explore(load(name), strategy=strategy, executions=120, seed=4, scenario=name)
    shared = explore_parallel(
        _load_program,
        name,
        jobs=1,
        strategy=strategy,
        executions=120,
        seed=4,
        dask_scheduler=dask_cluster,
    )
    assert shared.executions == plain.executions == 120
    assert {f.key for f in shared.findings} == {f.key for f in plain.findings}


def test_dask_on_the_command_line(capsys, dask_cluster):
    code, out, _ = lockstep(
        capsys,
        "explore",
        "abba",
        "--strategy",
        "random",
        "--executions",
        "40",
        "--dask-scheduler",
        dask_cluster,
    )
    assert code == 1 and out.startswith("abba: 40 executions (random, random), 2 findings")
