"""The shipped iommufd scenarios: the TOML files beside this module, in scenarios/iommufd/.

They are ordinary scenario files (see `scenarios.toml_scenario`), loaded once at import, so a
user's own file and a shipped one run the same way.
"""

from __future__ import annotations

from pathlib import Path

from lockstep.scenarios.registry import Scenario
from lockstep.scenarios.toml_scenario import load

#: Where the shipped scenario files live.
DIRECTORY = Path(__file__).with_name("iommufd")

#: In the order a reader should meet them: the sequential selftest flow first.
ORDER = (
    "selftest-device",
    "replace-vs-destroy",
    "attach-vs-destroy-ioas",
    "dma-owner-vs-bind",
    "replace-vs-alloc",
    "map-vs-attach",
    "two-devices-one-group",
    "two-devices-one-dev-set",
    "two-devices-one-vfio-group",
    "replace-vs-replace-one-group",
    "auto-domain-vs-auto-domain",
    "destroy-vs-unbind",
    "access-pin-vs-unmap",
    "access-replace-two-accesses",
    "copy-vs-unmap",
)

SCENARIOS: list[Scenario] = [load(DIRECTORY / f"{name}.toml") for name in ORDER]
