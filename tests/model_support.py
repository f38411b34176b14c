"""Helpers for the model tests: run a sequential iommufd script under the scheduler."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import attrs

from lockstep.actors import invariants
from lockstep.actors.system import System
from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.scenarios.spec import Op, build_program, errno_name
from lockstep.scenarios.toml_scenario import load_spec
from lockstep.scheduler import ExploreResult, Program, explore


def run_script(script: Callable[[System], Awaitable[None]]) -> System:
    """Run ``script`` as the only actor, check the end invariants, and fail the test on any
    finding; returns the final machine for further asserts."""
    systems: list[System] = []

    def program() -> Program:
        system = System()
        systems.append(system)

        async def actor() -> None:
            await script(system)

        return Program({"t1": actor}, check=lambda: invariants.check(system))

    result = explore(program, scenario="model-test")
    assert result.exhausted and result.executions == 1
    assert result.clean, "\n".join(f.message for f in result.findings)
    return systems[-1]


#: dfs of this does not exhaust in seconds (see tests/test_model_scenarios.py): the lock-order
#: test takes its first executions, the scenario test seeded random walks.
CAPPED = {"two-devices-one-group": 300}


@attrs.frozen
class Explored:
    """An exploration and the outcomes it reached: per execution, each actor's return codes."""

    result: ExploreResult
    outcomes: frozenset[tuple[tuple[str, tuple[str, ...]], ...]]


@functools.cache
def explored(name: str) -> Explored:
    """The dfs exploration of a shipped scenario (capped for the big ones), once per session."""
    runs: dict[System, dict[str, list[str]]] = {}

    def record(system: System, who: str, op: Op, rc: int) -> None:
        runs.setdefault(system, {}).setdefault(who, []).append(errno_name(rc))

    program = build_program(load_spec(DIRECTORY / f"{name}.toml"), record)
    result = explore(program, executions=CAPPED.get(name), scenario=name)
    outcomes = frozenset(
        tuple(sorted((who, tuple(rcs)) for who, rcs in run.items() if who != "setup"))
        for run in runs.values()
    )
    return Explored(result, outcomes)
