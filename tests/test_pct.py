"""PCT: seeded, reproducible, and it finds shallow bugs within its budget."""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scheduler import explore, replay
from lockstep.scheduler.pct import Pct


def test_pct_is_reproducible_from_its_seed():
    program = scenarios.get("abbcca").program
    one = explore(program, strategy="pct", seed=5, executions=50, scenario="abbcca")
    two = explore(program, strategy="pct", seed=5, executions=50, scenario="abbcca")
    assert [f.schedule for f in one.findings] == [f.schedule for f in two.findings]


@pytest.mark.parametrize("name", ["abba", "abbcca", "rwsem-reader-writer"])
def test_pct_finds_the_deadlock_and_it_replays(name):
    program = scenarios.get(name).program
    result = explore(program, strategy="pct", depth=3, seed=1, executions=400, scenario=name)
    deadlocks = [f for f in result.findings if f.kind == "deadlock"]
    assert deadlocks
    assert "deadlock" in {f.kind for f in replay(program, deadlocks[0].schedule).findings}


def test_pct_depth_one_runs_by_priority_only():
    """Depth 1: no change points, so an execution runs actors to completion by priority."""
    program = scenarios.get("abba").program
    result = explore(program, strategy="pct", depth=1, seed=0, executions=30, scenario="abba")
    assert {f.kind for f in result.findings} == {"circular-dependency"}
    with pytest.raises(ValueError):
        Pct(0, 0)


@pytest.mark.parametrize(("name", "depth"), [("abba", 2), ("abbcca", 3)])
def test_pct_hit_rate_is_at_least_the_papers_bound(name, depth):
    """Per execution, PCT finds a depth-d bug with probability >= 1/(n*k^(d-1))."""
    from lockstep.scheduler.runtime import Execution

    program = scenarios.get(name).program
    strategy, runs, hits, actors = Pct(7, depth), 1000, 0, 0
    for _ in range(runs):
        ex = Execution(program, strategy.next_chooser(), lockdep=None)
        ex.run()
        actors = len(ex.actors)
        hits += any(f.kind == "deadlock" for f in ex.findings)
    assert hits / runs >= 1 / (actors * strategy.k ** (depth - 1))


def test_pct_hit_rate_on_the_finalize_after_unlock_race():
    """B4 needs one preemption at the right place: a depth-2 bug for PCT."""
    from lockstep.scenarios import variants
    from lockstep.scheduler.runtime import Execution

    scenario = scenarios.get("auto-domain-vs-auto-domain")
    program = scenario.with_variant(variants.get("finalize-after-unlock").flags)
    strategy, runs, hits, actors = Pct(7, 2), 300, 0, 0
    for _ in range(runs):
        ex = Execution(program, strategy.next_chooser(), lockdep=None)
        ex.run()
        actors = len(ex.actors)
        hits += any(f.kind == "invariant" for f in ex.findings)
    assert hits / runs >= 1 / (actors * strategy.k)
