"""The two ways into a VFIO device exclude each other per group (drivers/vfio/group.c):
``vfio_device_block_group()`` fails a cdev bind with -EBUSY while the group's file is open,
and ``vfio_group_fops_open()`` fails with -EBUSY while a device of the group is bound
through its cdev. The process keeps the group's file until it closes its files."""

from __future__ import annotations

import tomllib
from pathlib import Path

from lockstep.scenarios.spec import Op, build_program, errno_name
from lockstep.scenarios.toml_scenario import parse
from lockstep.scheduler import explore

OBJECTS = """
[objects]
ioas = ["ioas1"]
groups = { group0 = ["dev1", "dev2"] }
"""


def outcomes(text: str) -> tuple[set[tuple[tuple[str, tuple[str, ...]], ...]], object]:
    """Every execution's return codes per actor after the setup, and the exploration."""
    spec = parse(
        Path("test.toml"), tomllib.loads(f'name = "t"\ndescription = "t"\n{OBJECTS}\n{text}')
    )
    runs: dict[object, dict[str, list[str]]] = {}

    def record(system: object, who: str, op: Op, rc: int) -> None:
        runs.setdefault(system, {}).setdefault(who, []).append(errno_name(rc))

    result = explore(build_program(spec, record), scenario="t")
    assert result.exhausted
    assert result.clean, "\n".join(f.message for f in result.findings)
    seen = {
        tuple(sorted((who, tuple(rcs)) for who, rcs in run.items() if who != "setup"))
        for run in runs.values()
    }
    return seen, result


def test_cdev_bind_in_a_group_opened_through_its_file_is_ebusy() -> None:
    seen, _ = outcomes(
        """
        [[setup]]
        op = "group_open"
        device = "dev1"
        ioas = "ioas1"

        [actors]
        t1 = [
            { op = "bind", device = "dev2", expect = "any" },
            { op = "group_close", device = "dev1" },
            { op = "bind", device = "dev2", expect = "any" },
        ]
        """
    )
    # the group's file stays open after its last device file closes
    assert seen == {(("post", ("ok",)), ("t1", ("EBUSY", "ok", "EBUSY")))}


def test_group_open_with_a_cdev_bound_device_is_ebusy() -> None:
    seen, _ = outcomes(
        """
        [[setup]]
        op = "bind"
        device = "dev2"

        [actors]
        t1 = [
            { op = "group_open", device = "dev1", ioas = "ioas1", expect = "any" },
            { op = "unbind", device = "dev2" },
            { op = "group_open", device = "dev1", ioas = "ioas1", expect = "any" },
        ]
        """
    )
    assert seen == {(("post", ("ok",)), ("t1", ("EBUSY", "ok", "ok")))}


def test_the_paths_race_for_a_group_and_one_wins() -> None:
    """Concurrently, one device opened through the group's file and another bound through
    its cdev: whichever counts first wins, the other gets -EBUSY, and nothing leaks."""
    seen, result = outcomes(
        """
        [actors]
        t1 = [{ op = "group_open", device = "dev1", ioas = "ioas1", expect = "any" }]
        t2 = [{ op = "bind", device = "dev2", expect = "any" }]
        """
    )
    assert seen == {
        (("post", ("ok",)), ("t1", ("ok",)), ("t2", ("EBUSY",))),
        (("post", ("ok",)), ("t1", ("EBUSY",)), ("t2", ("ok",))),
    }
    # t2's group_lock section before t1's first, between t1's two (the file's open and
    # VFIO_GROUP_GET_DEVICE_FD), or after both
    assert result.executions == 3
