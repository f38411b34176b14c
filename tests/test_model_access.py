"""Access objects (actors/access.py and the selftest's access files): what the review of the
model against v6.6 pinned down, as scenarios explored to exhaustion."""

from __future__ import annotations

import tomllib
from pathlib import Path

from lockstep.actors.variant import MERGED, Variant
from lockstep.scenarios.spec import build_program
from lockstep.scenarios.toml_scenario import parse
from lockstep.scheduler import explore

HEAD = """
name = "t"
description = "t"
[objects]
ioas = ["ioas1", "ioas2"]
groups = { group0 = ["dev1"] }
"""


def run(text: str, faults: bool = False, variant: Variant = MERGED):
    spec = parse(Path("t.toml"), tomllib.loads(HEAD + text))
    result = explore(build_program(spec, variant=variant), scenario="t", faults=faults)
    assert result.exhausted
    return result


def test_an_op_holds_the_access_file_a_close_would_release():
    """Each selftest access op holds the file (``fget`` ... ``fput``), so closing it while
    a replace has dropped ``ioas_lock`` for the unmap op releases it only after the replace:
    the access is never destroyed half-moved (the review's false positive)."""
    result = run(
        """
        [[setup]]
        op = "map"
        ioas = "ioas1"
        [[setup]]
        op = "access_create"
        ioas = "ioas1"
        as = "A"
        [actors]
        replace = [
            { op = "access_replace", access = "A", ioas = "ioas2", expect = ["ok", "EBADFD"] },
        ]
        close = [{ op = "access_close", access = "A" }]
        """
    )
    assert result.clean, [f.message for f in result.findings]


def test_a_closed_access_file_is_ebadfd_to_its_ops_and_ebadf_to_close():
    result = run(
        """
        [[setup]]
        op = "access_create"
        ioas = "ioas1"
        as = "A"
        [actors]
        t = [
            { op = "access_close", access = "A" },
            { op = "access_replace", access = "A", ioas = "ioas2", expect = "EBADFD" },
            { op = "access_close", access = "A", expect = "EBADF" },
        ]
        """
    )
    assert result.clean, [f.message for f in result.findings]


FOUR_ACCESSES = """
[[setup]]
op = "access_create"
ioas = "ioas1"
as = "A"
[[setup]]
op = "access_create"
ioas = "ioas1"
as = "B"
[[setup]]
op = "access_create"
ioas = "ioas2"
as = "C"
[[setup]]
op = "access_create"
ioas = "ioas2"
as = "D"
[actors]
t = [{ op = "access_replace", access = "B", ioas = "ioas2", expect = "any" }]
"""


def test_a_failed_xa_alloc_has_already_written_the_access_list_id():
    """``__xa_alloc`` writes ``*id`` before the store that may need a node: when it fails
    (-ENOMEM; ioas2's list has two accesses, so B's id there is 2), v6.6 has overwritten
    B's id on ioas1 (1), and the close erases by the wrong one. No area is on ioas2, so the
    alignment check cannot fail: the xa_alloc is the only way here. Linux 6.8's fix leaves
    it clean."""
    merged = run(FOUR_ACCESSES, faults=True)
    assert {f.title for f in merged.findings} == {
        "invariant: WARNING: iopt_remove_access(ioas1): erased None"
    }
    assert run(FOUR_ACCESSES, faults=True, variant=Variant(fix_access_list_id=True)).clean
