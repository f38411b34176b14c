"""Every toy scenario gives exactly its expected findings: kinds and lock classes."""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scheduler import explore, replay

EXPECTED = {
    "abba": {("circular-dependency", ("A", "B")), ("deadlock", ("A", "B"))},
    "abbcca": {("circular-dependency", ("A", "B", "C")), ("deadlock", ("A", "B", "C"))},
    "aa": {("recursive-locking", ("A",))},
    "nested-ok": set(),
    "rwsem-reader-writer": {("circular-dependency", ("A", "B")), ("deadlock", ("A", "B"))},
    "held-at-return": {("held-at-return", ("A",))},
    "bad-unlock": {("bad-unlock", ("A",))},
    "sleep-in-atomic": {("sleep-in-atomic", ("M", "S"))},
}

#: executions of the random walks in the replay test
RANDOM = {"abbcca": 400, "rwsem-reader-writer": 400}


def kinds_and_classes(result):
    return {(f.kind, tuple(sorted(f.classes))) for f in result.findings}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_toy_findings(name):
    scenario = scenarios.get(name)
    result = explore(scenario.program, scenario=name)
    assert result.exhausted
    assert kinds_and_classes(result) == EXPECTED[name]
    assert result.clean == (not EXPECTED[name])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_finding_replays_from_its_line(name):
    scenario = scenarios.get(name)
    result = explore(
        scenario.program,
        strategy="random",
        executions=RANDOM.get(name, 30),
        seed=3,
        scenario=name,
        trace=True,
    )
    for finding in result.findings:
        replayed = replay(scenario.program, finding.schedule)
        same = [f for f in replayed.findings if f.kind == finding.kind]
        assert same and same[0].message == finding.message
        assert replayed.trace == finding.trace


def test_the_registry_lists_every_toy_with_a_description():
    names = {s.name for s in scenarios.all_scenarios()}
    assert set(EXPECTED) <= names
    assert all(s.description for s in scenarios.all_scenarios())
    with pytest.raises(KeyError, match="unknown scenario 'nope'"):
        scenarios.get("nope")
