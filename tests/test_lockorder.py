"""The lock-order manifest: `lockstep lockorder`, and the shipped manifest of the model."""

from __future__ import annotations

import pytest

from lockstep.scenarios.iommufd import ORDER
from lockstep.tools import lockorder
from lockstep.tools.cli import run
from lockstep.tools.lockorder import ManifestError
from tests.conftest import ROOT

MANIFEST = ROOT / "scenarios" / "lockorder.manifest"
#: The exploration the shipped manifest was made with (its header says the same).
MANIFEST_EXPLORATION = {"strategy": "random", "executions": 10, "faults": True}


def test_the_model_keeps_the_lock_order_of_its_manifest(lockstep):
    """A plugin-driven regression test: any new edge fails, naming it and where it was
    taken. Regenerate with the command in the manifest's header when the order changes on
    purpose."""
    lockstep.assert_lockorder(MANIFEST, *ORDER, **MANIFEST_EXPLORATION)


def test_manifest_header_names_its_exploration():
    header = MANIFEST.read_text().splitlines()[1]
    assert "--strategy random --seed 0 --executions 10 --faults" in header
    assert all(name in header for name in ORDER)


def test_lockorder_prints_sorted_edges_with_their_first_site(capsys):
    assert run(["lockorder", "selftest-device"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if not line.startswith("#")]
    assert lines == sorted(lines)
    assert "&ioas->mutex -> &igroup->lock  # iommufd_hw_pagetable_attach (device.py:" in out
    assert "[idev1: IOMMU_TEST_OP_MOCK_DOMAIN] (selftest-device)" in out
    assert lockorder.parse(out) <= lockorder.load(MANIFEST)


@pytest.mark.parametrize("text", ["A B\n", "A -> \n", "A -> B -> C\n", "A x -> B\n"])
def test_a_bad_manifest_line_is_named(text):
    with pytest.raises(ManifestError, match=r"m\.manifest:2: expected 'CLASS -> CLASS'"):
        lockorder.parse("# header\n" + text, "m.manifest")


def test_comments_and_blank_lines_are_ignored():
    assert lockorder.parse("# x -> y\n\nA -> B  # site\n") == {("A", "B")}


def test_lockorder_takes_the_shared_options_and_writes_a_file(tmp_path, capsys):
    from lockstep.tools.cli import run

    path = tmp_path / "order.manifest"
    args = ["lockorder", "selftest-device", "--faults", "--variant", "v4-detach-unlocked"]
    assert run([*args, "-o", str(path)]) == 0
    text = path.read_text()
    assert "lockstep lockorder --faults --variant v4-detach-unlocked selftest-device" in text
    assert " -> " in text
    assert capsys.readouterr().out == ""
