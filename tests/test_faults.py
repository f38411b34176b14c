"""fail_nth fault injection: ``explore(faults=True)`` and ``lockstep explore --faults``."""

from __future__ import annotations

import json

import pytest

from lockstep.scenarios.toml_scenario import digest_option
from lockstep.scheduler import Schedule, ScheduleError, explore, fault_point, replay
from lockstep.scheduler.explore import fail_nths
from lockstep.tools.cli import run

#: Fault points of the selftest-device flow (the kernel's basic_fail_nth/device).
SELFTEST_DEVICE_FAULT_POINTS = 45


def test_selftest_device_is_clean_under_every_fault_point(capsys):
    code = run(["explore", "selftest-device", "--faults", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result["findings"]
    assert result["fault_points"] == SELFTEST_DEVICE_FAULT_POINTS
    # one fault-free execution, one per fault point, and the last round that failed nothing
    assert result["executions"] == SELFTEST_DEVICE_FAULT_POINTS + 1


def test_text_report_says_how_many_fault_points_were_failed(capsys):
    assert run(["explore", "selftest-device", "--faults"]) == 0
    out = capsys.readouterr().out
    assert f"{SELFTEST_DEVICE_FAULT_POINTS} fault points failed in turn" in out


def _two_allocs():
    async def actor():
        if await fault_point("kzalloc", 12):
            raise RuntimeError("unwind missing")
        await fault_point("kzalloc", 12)

    return {"a": actor, "b": actor}


def test_faults_combine_with_interleavings_and_replay_exactly():
    result = explore(_two_allocs, faults=True, scenario="two-allocs")
    assert result.fault_points == 4
    kinds = {f.kind for f in result.findings}
    assert kinds == {"exception"}
    [finding] = result.findings
    schedule = Schedule.parse(finding.schedule)
    assert schedule.option("fail") in {"0_1", "1_1"}
    replayed = replay(_two_allocs, finding.schedule)
    assert [f.title for f in replayed.findings] == [finding.title]
    assert any(e.kind == "fault" for e in replayed.trace)


def test_setup_runs_without_faults():
    from lockstep.scheduler import Program

    def program():
        async def setup():
            assert not await fault_point("setup-alloc", 12)

        async def actor():
            await fault_point("alloc", 12)

        return Program({"a": actor}, setup=setup)

    result = explore(program, faults=True, scenario="setup")
    assert result.clean and result.fault_points == 1


def test_fail_option_is_one_fault_point_or_one_per_execution():
    assert fail_nths(Schedule.parse("ls1:s:fail=1_3:0/1")) == [(1, 3), (1, 3)]
    assert fail_nths(Schedule.parse("ls1:s:fail=0.0_2:0/1")) == [None, (0, 2)]
    assert fail_nths(Schedule.parse("ls1:s:-:0")) == [None]
    for bad in ("1_2.0.0_3", "3", "1_0", "x_1", "1_2_3", "1_" + "9" * 10):
        with pytest.raises(ScheduleError, match="ACTOR_N"):
            fail_nths(Schedule.parse(f"ls1:s:fail={bad}:0/1"))


SAME_IOAS = """
name = "replace-same-ioas"
description = "dev1 replaces its auto hwpt with a user hwpt M on the same IOAS"
[objects]
ioas = ["ioas1"]
groups = { group0 = ["dev1"] }
devices = { dev1 = { hw_msi = true } }
[[setup]]
op = "bind"
device = "dev1"
[[setup]]
op = "attach"
device = "dev1"
pt = "ioas1"
[[setup]]
op = "hwpt_alloc"
dev_id = "dev1"
pt = "ioas1"
as = "M"
[actors]
"idev1" = [{ op = "replace", device = "dev1", pt = "M" }]
"""


def test_a_failed_replace_within_one_ioas_drops_the_devices_reservations(tmp_path, capsys):
    """What faults find in the v6.6 code: iommufd_device_do_replace()'s ``err_unresv``
    removes every device's reserved regions from the *new* hwpt's IOAS even when it is the
    old hwpt's IOAS too (only the enforce is under ``hwpt->ioas != old_hwpt->ioas``). When
    iommu_group_replace_domain() then fails, the group stays on the old hwpt with its
    reserved regions gone from the IOAS."""
    path = tmp_path / "same.toml"
    path.write_text(SAME_IOAS)
    code = run(["explore", str(path), "--faults", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["fault_points"] == 2
    [finding] = result["findings"]
    assert "ioas1 lost the reserved regions of its devices ['dev1']" in finding["message"]
    [(_, digest)] = digest_option(str(path))
    assert finding["schedule"] == f"ls1:{path}:fail=0_2,sha={digest}:-"
    assert run(["replay", finding["schedule"]]) == 1
    assert "FAULT attach_dev" in capsys.readouterr().out


def _unwind_inverts():
    from lockstep.scheduler import LockClass, Mutex

    a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))

    async def actor():
        if await fault_point("kzalloc", 12):
            async with b, a:  # an error unwind that takes the locks the other way round
                pass
        else:
            async with a, b:
                pass

    return {"t": actor}


def test_a_lockdep_report_across_fault_rounds_carries_each_executions_fault():
    result = explore(_unwind_inverts, faults=True, scenario="unwind")
    [finding] = result.findings
    assert finding.kind == "circular-dependency"
    assert finding.schedule == "ls1:unwind:fail=0.0_1:-/-"
    replayed = replay(_unwind_inverts, finding.schedule)
    assert [f.title for f in replayed.findings] == [finding.title]
