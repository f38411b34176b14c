"""The Perfetto (Chrome trace event) JSON obeys the format's rules, and says what happened.

`check_format` encodes the rules of the Trace Event Format that the Perfetto and
chrome://tracing JSON importers rely on: the object form with ``traceEvents``; the fields
each phase needs; ``M`` events naming every track used; ``X`` slices properly nested on each
track (the importers drop slices that overlap without nesting); each flow an ``s`` and one
``f`` with matching ``id``/``name``/``cat``, not going back in time, each end inside a slice
of its own track; instant scopes ``t``/``p``/``g``; strict JSON (no NaN).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

from lockstep import scenarios
from lockstep.scheduler import replay
from lockstep.tools import perfetto

PHASES = {"M", "X", "i", "s", "f"}
META = {"process_name", "thread_name", "process_sort_index", "thread_sort_index"}

SCHEDULES = [
    "ls1:abba:-:0x2.1x2",
    "ls1:abba:-:1x2.0x2",
    "ls1:aa:-:-",
    "ls1:rwsem-reader-writer:-:2.1.0.1.0.1x2.0x3.1",
    "ls1:rwsem-reader-writer:-:0x2.1.2.1",
    "ls1:abbcca:-:0x2.1x2.2x2",
    "ls1:held-at-return:-:-",
    "ls1:replace-vs-destroy:-:0x3.1x3",
    # the race in the merged code: an end-check invariant, and a held lock freed + exception
    "ls1:two-devices-one-group:-:0x56.1x21.0x17.1x10",
    "ls1:two-devices-one-group:-:0x56.1x21.0x17.1x6.0x2",
]


def check_format(document):
    """Assert that ``document`` (parsed JSON) is a valid trace event file."""
    json.loads(json.dumps(document, allow_nan=False))
    assert set(document) <= {"traceEvents", "displayTimeUnit", "otherData", "metadata"}
    assert document.get("displayTimeUnit", "ms") in ("ms", "ns")
    events = document["traceEvents"]
    assert isinstance(events, list) and events
    named = set()
    used = set()
    slices = defaultdict(list)
    flows = defaultdict(list)
    for event in events:
        ph = event["ph"]
        assert ph in PHASES, event
        assert isinstance(event["name"], str) and event["name"], event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        if "args" in event:
            assert isinstance(event["args"], dict), event
        if ph == "M":
            assert event["name"] in META, event
            key = "sort_index" if event["name"].endswith("sort_index") else "name"
            assert key in event["args"], event
            if event["name"] == "thread_name":
                named.add((event["pid"], event["tid"]))
            continue
        ts = event["ts"]
        assert isinstance(ts, int | float) and ts >= 0 and math.isfinite(ts), event
        assert isinstance(event.get("cat", ""), str), event
        used.add((event["pid"], event["tid"]))
        if ph == "X":
            assert isinstance(event["dur"], int | float) and event["dur"] >= 0, event
            slices[(event["pid"], event["tid"])].append((ts, ts + event["dur"], event["name"]))
        elif ph == "i":
            assert event.get("s", "t") in ("t", "p", "g"), event
        else:
            assert "id" in event, event
            flows[event["id"]].append(event)
    assert used - {(1, 0)} <= named, "every track with events has a thread_name"
    for track, pieces in slices.items():
        stack = []
        for start, end, name in sorted(pieces, key=lambda p: (p[0], -p[1])):
            while stack and stack[-1][1] <= start:
                stack.pop()
            assert not stack or end <= stack[-1][1], f"{name} overlaps {stack[-1][2]} on {track}"
            stack.append((start, end, name))
    for ident, pair in flows.items():
        assert sorted(e["ph"] for e in pair) == ["f", "s"], f"flow {ident}: {pair}"
        start, finish = sorted(pair, key=lambda e: e["ph"] == "f")
        assert start["name"] == finish["name"] and start.get("cat") == finish.get("cat")
        assert finish["ts"] >= start["ts"]
        assert finish.get("bp") in (None, "e")
        for end in pair:
            track = slices[(end["pid"], end["tid"])]
            assert any(a <= end["ts"] < b for a, b, _ in track), f"flow end outside a slice: {end}"


def document_for(line):
    scenario = scenarios.get(line.split(":")[1])
    result = replay(scenario.program, line)
    text = perfetto.render(result.trace, result.actors, result.findings, schedule=line)
    return result, json.loads(text)


@pytest.mark.parametrize("line", SCHEDULES)
def test_the_trace_passes_the_format_rules(line):
    _, document = document_for(line)
    check_format(document)
    assert document["otherData"]["schedule"] == line


def test_a_deadlock_shows_each_actor_holding_one_lock_and_waiting_for_the_other():
    _, document = document_for("ls1:abba:-:0x2.1x2")
    events = document["traceEvents"]
    names = {e["args"]["name"]: e["tid"] for e in events if e["name"] == "thread_name"}
    assert set(names) == {"t1", "t2"}
    by = defaultdict(set)
    for e in events:
        if e["ph"] == "X":
            by[e["tid"]].add((e["cat"], e["name"]))
    assert {("lock", "A"), ("wait", "wait B")} <= by[names["t1"]]
    assert {("lock", "B"), ("wait", "wait A")} <= by[names["t2"]]
    [held_b] = [e for e in events if e["ph"] == "X" and e["name"] == "B"]
    assert held_b["args"]["acquired at"].startswith("t2 (toys.py:")
    findings = [e for e in events if e["ph"] == "i" and e["cat"] == "finding"]
    assert {e["name"] for e in findings} == {"!! deadlock", "!! circular-dependency"}


def test_a_release_that_unblocks_a_waiter_is_a_flow_to_its_acquire():
    _, document = document_for("ls1:replace-vs-destroy:-:0x3.1x3")
    events = document["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    starts = [e for e in events if e["ph"] == "s"]
    assert starts, "the destroy waits for the xa_lock the replace holds"
    [start] = starts
    [finish] = [e for e in events if e["ph"] == "f" and e["id"] == start["id"]]
    assert names[start["tid"]].startswith("idev1") and names[finish["tid"]] == "hwpt:M"
    assert start["name"] == "unblock ictx.objects.xa_lock"


def test_locks_released_out_of_order_go_to_an_extra_track_of_their_actor():
    _, document = document_for("ls1:replace-vs-destroy:-:0x3.1x3")
    names = [e["args"]["name"] for e in document["traceEvents"] if e["name"] == "thread_name"]
    assert "setup (2)" in names


def test_the_trace_is_deterministic():
    first = document_for("ls1:rwsem-reader-writer:-:0x2.1.2.1")[1]
    second = document_for("ls1:rwsem-reader-writer:-:0x2.1.2.1")[1]
    assert first == second


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda ev: ev.append({**_slice(ev), "ts": 5, "dur": 1000}), "overlaps"),
        (lambda ev: ev.append({**_slice(ev), "tid": 77}), "thread_name"),
        (lambda ev: ev.remove(next(e for e in ev if e["ph"] == "f")), "flow"),
    ],
)
def test_the_format_check_rejects_what_the_importers_reject(broken, message):
    _, document = document_for("ls1:replace-vs-destroy:-:0x3.1x3")
    broken(document["traceEvents"])
    with pytest.raises(AssertionError, match=message):
        check_format(document)


def _slice(events):
    return next(e for e in events if e["ph"] == "X" and e["cat"] == "lock")
