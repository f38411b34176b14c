"""A named scenario: who does what concurrently."""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from scheduler import Program


@frozen
class Scenario:
    name: str
    description: str
    program: Callable[[], Program]
