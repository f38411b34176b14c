"""The post part (a Lincheck scenario's): it runs alone after the actors and before the end
check, sees what they left, and takes no part in the interleavings."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from lockstep.scenarios.spec import build_program
from lockstep.scenarios.toml_scenario import ScenarioError, load_spec
from lockstep.scheduler import InvariantViolation, Program, explore, fault_point, point
from lockstep.scheduler.access import shared


@shared
@attrs.define(slots=False, eq=False)
class Pair:
    a: int = 0
    b: int = 0


def program_with(post_check: bool):
    def program() -> Program:
        pair = Pair()

        async def t1():
            pair.a = 1
            await point()

        async def t2():
            pair.b = pair.a + 1
            await fault_point("kzalloc", 12)

        async def post():
            await point()
            if post_check and (pair.a, pair.b) == (1, 2):
                raise InvariantViolation("t2 ran after t1")

        return Program({"t1": t1, "t2": t2}, post=post)

    return program


def test_the_post_part_adds_no_interleavings_and_sees_every_outcome():
    quiet = explore(program_with(False), strategy="dfs", trace=True)
    assert quiet.clean and quiet.exhausted
    found = explore(program_with(True), strategy="dfs", trace=True)
    assert found.executions == quiet.executions
    [finding] = found.findings
    assert finding.kind == "invariant" and finding.actor == "post"
    assert [e.actor for e in finding.trace][-1] == "post"


def test_the_post_part_is_fault_free():
    faults = explore(program_with(False), strategy="dfs", faults=True)
    # t2's one fault point is failed in turn; the post part's point is no fault point
    assert faults.fault_points == 1


SCENARIO = """
name = "replace-then-teardown"
description = "a replace races a destroy; the post part tears down what is left"

[objects]
ioas = ["ioas1", "ioas2"]
groups = {{ g = ["dev1"] }}

[[setup]]
op = "bind"
device = "dev1"

[[setup]]
op = "attach"
device = "dev1"
pt = "ioas1"

[actors]
"idev1" = [{{ op = "replace", device = "dev1", pt = "ioas2", expect = ["ok", "ENOENT"] }}]
"ioas2" = [{{ op = "destroy", id = "ioas2", expect = ["ok", "EBUSY"] }}]
{post}
"""

TEARDOWN = """
[[post]]
op = "detach"
device = "dev1"

[[post]]
op = "unbind"
device = "dev1"

[[post]]
op = "destroy"
id = "ioas1"
"""


def test_a_scenario_file_has_a_post_part(tmp_path: Path):
    path = tmp_path / "teardown.toml"
    path.write_text(SCENARIO.format(post=TEARDOWN))
    spec = load_spec(path)
    assert [op.op for op in spec.post] == ["detach", "unbind", "destroy"]
    outcomes = []

    def observe(system, who, op, rc):
        if who == "post":
            outcomes.append((op.op, rc))

    result = explore(build_program(spec, observe), scenario=spec.name)
    assert result.clean, [f.title for f in result.findings]
    assert ("unbind", 0) in outcomes and ("destroy", 0) in outcomes


def test_post_is_not_an_actor_name(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.format(post="").replace('"ioas2" = [', '"post" = ['))
    with pytest.raises(ScenarioError, match=r"actors\.post"):
        load_spec(path)


def _post_ops(tmp_path: Path, post: str, top: str = "") -> list[tuple[str, int]]:
    """The post part's operations and results in every execution of SCENARIO with ``post``
    (and the top-level keys ``top``)."""
    path = tmp_path / "s.toml"
    path.write_text(top + SCENARIO.format(post=post))
    spec = load_spec(path)
    outcomes: list[tuple[str, int]] = []

    def observe(system, who, op, rc):
        if who == "post":
            outcomes.append((op.op, rc))
        if op.op == "close":
            assert system.ictx.objects == {} and system.ictx.groups == {}

    result = explore(build_program(spec, observe), scenario=spec.name)
    assert result.clean, [f.title for f in result.findings]
    return outcomes


def test_every_scenario_ends_by_closing_its_files(tmp_path: Path):
    """``close`` runs last, once, whether the file writes it or not; ``close = false`` leaves
    everything open."""
    default = _post_ops(tmp_path, TEARDOWN)
    assert set(default[3::4]) == {("close", 0)} and len(default) % 4 == 0
    written = _post_ops(tmp_path, TEARDOWN + '\n[[post]]\nop = "close"\n')
    assert written == default
    without = _post_ops(tmp_path, TEARDOWN, top="close = false\n")
    assert "close" not in {op for op, _ in without}
    closing_only = _post_ops(tmp_path, "")
    assert set(closing_only) == {("close", 0)}


def test_close_is_only_the_post_parts_last_operation(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text(SCENARIO.format(post='[[post]]\nop = "close"\n' + TEARDOWN))
    with pytest.raises(ScenarioError, match=r"post\[0\]: close can only be"):
        load_spec(path)
    path.write_text(
        SCENARIO.format(post="").replace('{ op = "destroy", id = "ioas2"', '{ op = "close"')
    )
    with pytest.raises(ScenarioError, match=r"actors\.ioas2\[0\]: close can only be"):
        load_spec(path)
