"""The scenario registry: every named scenario the CLI and the tests can run."""

from __future__ import annotations

from lockstep.scenarios import iommufd, toys
from lockstep.scenarios.registry import Scenario

_MODULES = [toys, iommufd]


def all_scenarios() -> list[Scenario]:
    return [scenario for module in _MODULES for scenario in module.SCENARIOS]


def get(name: str) -> Scenario:
    """The scenario called ``name``; `KeyError` with the known names if there is none."""
    for scenario in all_scenarios():
        if scenario.name == name:
            return scenario
    known = ", ".join(s.name for s in all_scenarios())
    raise KeyError(f"unknown scenario {name!r} (known: {known})")


__all__ = ["Scenario", "all_scenarios", "get"]
