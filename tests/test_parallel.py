"""--jobs: the same findings as one process (random and pct: the same executions; dfs: the
same traces, split by prefixes)."""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scenarios import variants
from lockstep.scheduler import dpor, dpor_split, explore, replay
from lockstep.scheduler.parallel import explore_parallel, in_process
from lockstep.scheduler.traces import canonical
from tests.test_cli import lockstep
from tests.test_lockdep import race


def load(name, variant=None):
    scenario = scenarios.get(name)
    if variant is None:
        return scenario.program
    return scenario.with_variant(variants.get(variant).flags)


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


def test_jobs_with_naive_dfs_or_a_dfs_cap_is_bad_input(capsys):
    code, _, err = lockstep(capsys, "explore", "abba", "--strategy", "naive-dfs", "--jobs", "2")
    assert code == 2 and "--strategy naive-dfs runs in one process" in err
    code, _, err = lockstep(capsys, "explore", "abba", "--jobs", "2", "--executions", "5")
    assert code == 2 and "leave out --executions" in err
    code, _, err = lockstep(capsys, "explore", "abba", "--jobs", "2", "--checkpoint", "x")
    assert code == 2 and "leave out --jobs" in err


def explored_traces(monkeypatch):
    """Record the trace of every execution any DPOR (coordinator or task) analyses."""
    seen = set()
    races = dpor.Dpor._races

    def recording(self, length):
        seen.add(canonical([(node.actor, node.fp) for node in self.stack[:length]]))
        return races(self, length)

    monkeypatch.setattr(dpor.Dpor, "_races", recording)
    return seen


#: where an rwsem's queue makes a planned reversal impossible, DPOR replans it
#: (`dpor._DporRun._replan`): one redundant execution, taken at different times by the split
REPLANS = {"rwsem-reader-writer"}


@pytest.mark.parametrize(
    ("name", "cuts"),
    [
        ("abba", range(1, 16)),
        ("abbcca", range(1, 22)),
        ("rwsem-reader-writer", range(1, 30, 2)),
        ("replace-vs-destroy", range(1, 60, 4)),
        ("attach-vs-destroy-ioas", range(1, 60, 4)),
        ("auto-domain-vs-auto-domain", range(5, 60, 5)),
        ("replace-vs-alloc", range(10, 70, 15)),
    ],
)
def test_split_dfs_explores_the_traces_one_process_explores_once_at_every_cut(
    monkeypatch, name, cuts
):
    """At every cut depth, from 1 to past the longest execution: exactly the traces DPOR
    explores in one process (which test_dpor checks against the brute-force count), as many
    times: nothing lost to the split, nothing explored twice."""
    plain = explored_traces(monkeypatch)
    one = explore(load(name), scenario=name)
    every = set(plain)
    for split in cuts:
        seen = explored_traces(monkeypatch)
        result = explore_parallel(
            load, name, jobs=1, strategy="dfs", split=split, engine=in_process()
        )
        assert (split, seen) == (split, every)
        if name in REPLANS:
            assert result.executions >= len(every)
        else:
            assert (split, result.executions) == (split, one.executions)


def test_late_tasks_keep_the_split_complete(monkeypatch):
    """With no summaries past a task's root, a late sequence is explored again from the
    last node known, with the sleep set it had: more executions, every trace still there."""
    name = "auto-domain-vs-auto-domain"
    late = []
    original = dpor_split.Splitter._late_task

    def counting(self, *args):
        late.append(args)
        return original(self, *args)

    monkeypatch.setattr(dpor_split, "SUMMARY_DEPTH", 1)
    monkeypatch.setattr(dpor_split.Splitter, "_late_task", counting)
    plain = explored_traces(monkeypatch)
    explore(load(name), scenario=name)
    every = set(plain)
    seen = explored_traces(monkeypatch)
    result = explore_parallel(load, name, jobs=1, strategy="dfs", split=30, engine=in_process())
    assert late, "no late task at this cut: the test does not test them"
    assert seen == every
    assert result.executions >= len(every)


DFS_SCENARIOS = [
    "abba",
    "abbcca",
    "aa",
    "rwsem-reader-writer",
    "held-at-return",
    "sleep-in-atomic",
    "selftest-device",
    "replace-vs-destroy",
    "attach-vs-destroy-ioas",
    "dma-owner-vs-bind",
    "replace-vs-alloc",
    "destroy-vs-unbind",
    "auto-domain-vs-auto-domain",
]


@pytest.mark.parametrize("name", DFS_SCENARIOS)
def test_dfs_jobs_find_what_one_process_finds(name):
    plain = explore(load(name), scenario=name)
    shared = explore_parallel(load, name, jobs=2, strategy="dfs")
    assert shared.exhausted
    assert shared.executions == plain.executions
    assert keys(shared) == keys(plain)


@pytest.mark.parametrize("variant", [v.name for v in variants.VARIANTS])
def test_dfs_jobs_catch_every_variant(variant):
    """Each historical bug, explored with --jobs 2 as the variants test explores it in one
    process: the same findings, and each finding's line replays it."""
    chosen = variants.get(variant)
    name, faults, options = chosen.scenario, chosen.faults, [("variant", variant)]
    program = load(name, variant)
    plain = explore(program, scenario=name, options=options, faults=faults)
    shared = explore_parallel(
        load, name, jobs=2, strategy="dfs", variant=variant, options=options, faults=faults
    )
    assert shared.executions == plain.executions
    assert keys(shared) == keys(plain) and shared.findings
    for finding in shared.findings:
        replayed = replay(program, finding.schedule)
        assert finding.key in {f.key for f in replayed.findings}


def test_dfs_jobs_are_deterministic():
    """Results are taken in the order tasks were shipped: the same executions and replay
    lines whichever worker is faster."""
    runs = [explore_parallel(load, "abbcca", jobs=2, strategy="dfs", split=s) for s in (4, 4)]
    assert runs[0].executions == runs[1].executions
    assert [f.schedule for f in runs[0].findings] == [f.schedule for f in runs[1].findings]


def load_race(name, variant=None):
    return race


def test_an_inversion_split_between_workers_is_reported_from_the_merged_graph():
    """Random shares: execution 0 in one worker takes A then B, execution 1 in the other
    B then A. Neither worker's graph has a cycle; the merged one does, and its report's
    line replays both executions into one graph."""
    seed = next(
        s
        for s in range(100)
        if len({e.prev for e in explore(race, strategy="random", executions=2, seed=s).edges}) == 2
        and not explore(race, strategy="random", executions=1, seed=s).findings
    )
    shared = explore_parallel(load_race, "race", jobs=2, strategy="random", executions=2, seed=seed)
    assert keys(shared) == {("circular-dependency", ("A", "B"))}
    finding = shared.findings[0]
    assert finding.schedule.count("/") == 1
    assert [f.key for f in replay(race, finding.schedule).findings] == [finding.key]


def test_jobs_on_the_command_line(capsys):
    code, out, _ = lockstep(
        capsys, "explore", "abba", "--strategy", "random", "--jobs", "2", "--executions", "40"
    )
    assert code == 1 and out.startswith("abba: 40 executions (random, seed 0), 2 findings")


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
    from lockstep.tools.cli import _load_program

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


def test_dask_dfs_finds_what_one_process_finds(dask_cluster):
    from lockstep.tools.cli import _load_program

    name = "abbcca"
    plain = explore(load(name), scenario=name)
    shared = explore_parallel(
        _load_program, name, jobs=1, strategy="dfs", dask_scheduler=dask_cluster
    )
    assert shared.executions == plain.executions == 7
    assert keys(shared) == keys(plain)


def test_dfs_jobs_on_the_command_line(capsys):
    code, out, _ = lockstep(capsys, "explore", "abbcca", "--jobs", "2")
    assert code == 1 and out.startswith("abbcca: 7 executions (dfs, exhausted), 2 findings")
    code, out, _ = lockstep(
        capsys,
        "explore",
        "auto-domain-vs-auto-domain",
        "--jobs",
        "2",
        "--variant",
        "finalize-after-unlock",
    )
    assert code == 1 and "88 executions (dfs, exhausted)" in out


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
    assert code == 1 and out.startswith("abba: 40 executions (random, seed 0), 2 findings")


@pytest.mark.parametrize("bound", [0, 1, 2])
def test_dfs_jobs_with_a_preemption_bound_find_what_one_process_finds(bound):
    """Bounded, the split adds a few conservative branches one process would not (they are
    planned at different times), never fewer."""
    for name in ("abbcca", "replace-vs-alloc"):
        plain = explore(load(name), scenario=name, preemption_bound=bound)
        for split in (3, 10, 25):
            shared = explore_parallel(
                load,
                name,
                jobs=1,
                strategy="dfs",
                split=split,
                preemption_bound=bound,
                engine=in_process(),
            )
            assert keys(shared) >= keys(plain)
            assert shared.executions >= plain.executions
