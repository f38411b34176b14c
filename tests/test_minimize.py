"""Minimization keeps the finding and never adds preemptions or steps."""

from __future__ import annotations

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
        key = (finding.kind, tuple(sorted(finding.classes)))
        small = minimize(program, finding.schedule, finding=key)
        assert preemptions(program, small) <= preemptions(program, finding.schedule)
        assert key in {(f.kind, tuple(sorted(f.classes))) for f in replay(program, small).findings}


def test_abba_deadlock_needs_one_preemption():
    program = scenarios.get("abba").program
    small = minimize(program, "ls1:abba:-:0x2.1x2", finding=("deadlock", ("A", "B")))
    assert preemptions(program, small) == 1


def test_minimize_command_prints_the_shorter_line(capsys):
    code, out, _ = lockstep(capsys, "minimize", "ls1:abbcca:-:0x2.1x2.2x2")
    assert code == 1
    assert "preemptions -> 0" in out and "minimized: lockstep replay ls1:abbcca:-:" in out


def test_a_schedule_without_findings_cannot_be_minimized():
    program = scenarios.get("nested-ok").program
    with pytest.raises(ScheduleError, match="no finding"):
        minimize(program, "ls1:nested-ok:-:1.0x3")
