"""A named scenario: who does what concurrently."""

from __future__ import annotations

from collections.abc import Callable

from attrs import frozen

from lockstep.actors.variant import Variant
from lockstep.scheduler import Program


@frozen
class Scenario:
    name: str
    description: str
    program: Callable[[], Program]
    #: The program with a model variant switched on; None for scenarios without the model.
    with_variant: Callable[[Variant], Callable[[], Program]] | None = None
