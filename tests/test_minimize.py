"""Minimization keeps the finding and never adds preemptions or steps."""

from __future__ import annotations

import json

import pytest

from lockstep import scenarios
from lockstep.scheduler import explore, replay
from lockstep.scheduler.minimize import minimize, preemptions
from lockstep.scheduler.schedule import ScheduleError
from tests.test_cli import lockstep


@pytest.mark.parametrize("name", ["abba", "abbcca", "rwsem-reader-writer"])
def test_minimized_schedules_show_the_same_finding_with_fewer_preemptions(name):
    program = scenarios.get(name).program
    result = explore(program, strategy="random", executions=200, seed=1, scenario=name)
    assert result.findings
    for finding in result.findings:
        small = minimize(program, finding.schedule, finding=finding.signature)
        assert preemptions(program, small) <= preemptions(program, finding.schedule)
        assert finding.signature in {f.signature for f in replay(program, small).findings}


def test_abba_deadlock_needs_one_preemption():
    program = scenarios.get("abba").program
    line = "ls1:abba:-:0x2.1x2"
    deadlock = next(f for f in replay(program, line).findings if f.kind == "deadlock")
    small = minimize(program, line, finding=deadlock.signature)
    assert preemptions(program, small) == 1


def test_each_invariant_of_a_line_is_minimized_to_itself():
    """Two end-check invariants of one kind and no classes: each minimized line still shows
    the invariant it was minimized for, never only the other one."""
    name = "replace-vs-replace-one-group"
    program = scenarios.get(name).program
    result = explore(program, scenario=name)
    invariants = [f for f in result.findings if f.kind == "invariant"]
    assert len({f.signature for f in invariants}) == 2
    for finding in invariants:
        small = minimize(program, finding.schedule, finding=finding.signature, seconds=30)
        assert finding.signature in {f.signature for f in replay(program, small).findings}


def test_minimize_command_keeps_the_finding_chosen(capsys):
    line = "ls1:abbcca:-:0x2.1x2.2x2"
    kinds = [f.kind for f in replay(scenarios.get("abbcca").program, line).findings]
    assert kinds == ["circular-dependency", "deadlock"]
    code, out, _ = lockstep(capsys, "minimize", line, "--finding", "2", "--json")
    assert code == 1
    small = json.loads(out)
    assert small["finding"]["kind"] == "deadlock"
    shown = replay(scenarios.get("abbcca").program, small["minimized"]).findings
    assert "deadlock" in {f.kind for f in shown}


def test_minimize_command_refuses_a_finding_the_line_does_not_show(capsys):
    code, _, err = lockstep(capsys, "minimize", "ls1:abbcca:-:0x2.1x2.2x2", "--finding", "3")
    assert code == 2
    assert "--finding takes 1..2" in err


def test_minimize_command_prints_the_shorter_line(capsys):
    code, out, _ = lockstep(capsys, "minimize", "ls1:abbcca:-:0x2.1x2.2x2")
    assert code == 1
    assert "preemptions -> 0" in out and "minimized: lockstep replay ls1:abbcca:-:" in out


def test_a_schedule_without_findings_cannot_be_minimized():
    program = scenarios.get("nested-ok").program
    with pytest.raises(ScheduleError, match="no finding"):
        minimize(program, "ls1:nested-ok:-:1.0x3")
