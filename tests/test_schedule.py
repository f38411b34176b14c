"""The schedule line: printing, parsing, and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.scheduler import Schedule, ScheduleError


def test_format_is_versioned_and_run_length_encoded():
    schedule = Schedule.build("abba", [], [(0, 0, 0, 1, 1, 0)])
    assert str(schedule) == "ls1:abba:-:0x3.1x2.0"


def test_options_are_sorted_and_executions_joined():
    schedule = Schedule.build("s", [("z", "1"), ("bound", "50")], [(), (2,)])
    assert str(schedule) == "ls1:s:bound=50,z=1:-/2"
    assert Schedule.parse(str(schedule)) == schedule
    assert schedule.option("bound") == "50"


@given(
    st.lists(st.lists(st.integers(0, 12), max_size=40), min_size=1, max_size=4),
    st.dictionaries(
        st.sampled_from(["variant", "faults"]),
        st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
    ),
    st.none() | st.integers(40, 10**9 - 1),
)
def test_round_trip(executions, options, bound):
    """Any schedule within its step bound (``bound`` at least its longest execution)."""
    if bound is not None:
        options = {**options, "bound": str(bound)}
    schedule = Schedule.build("replace-vs-alloc", options.items(), executions)
    assert Schedule.parse(str(schedule)) == schedule


def test_choices_beyond_the_step_bound_are_refused():
    assert len(Schedule.parse("ls1:s:bound=5:0x5").executions[0]) == 5
    with pytest.raises(ScheduleError, match="more than 5 choices"):
        Schedule.parse("ls1:s:bound=5:0x6")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed schedule"),
        ("ls1:abba:-", "malformed schedule"),
        ("ls9:abba:-:0", "unsupported schedule version 'ls9'"),
        ("ls1:ab ba:-:0", "bad scenario name"),
        ("ls1:abba:bound:0", "bad option 'bound'"),
        ("ls1:abba:-:0.x", "bad choice 'x'"),
        ("ls1:abba:-:1x0", "bad choice '1x0'"),
        ("ls1:abba:-:", "no execution"),
    ],
)
def test_malformed_schedules_raise_one_clear_error(text, message):
    with pytest.raises(ScheduleError, match=message):
        Schedule.parse(text)
