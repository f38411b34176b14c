"""Every format for the historical-bug variants' findings, through the command line.

The variants (``scenarios.variants``, ``--variant``) come with issue 4; until that is
merged this module is skipped, with that reason in pytest's summary. Once both are in, it
checks that ``explore --report`` and ``show`` replay a variant's schedule with its variant
(and its fault option) switched on.
"""

from __future__ import annotations

import json

import pytest

from lockstep.tools.cli import run
from tests.conftest import require_dot

from .test_perfetto import check_format

variants = pytest.importorskip(
    "lockstep.scenarios.variants", reason="model variants arrive with issue 4"
)


@pytest.mark.parametrize("name", ["v5-abort-via-destroy", "shared-destroy-rwsem-class"])
def test_every_format_for_a_variant(capsys, tmp_path, name):
    require_dot()
    variant = variants.get(name)
    folder = tmp_path / "report"
    assert run([*variant.command(), "--json", "--report", str(folder)]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert variant.kind in [f["kind"] for f in findings]
    for n, finding in enumerate(findings, 1):
        stem = folder / f"{n:02d}-{finding['kind']}"
        assert finding["title"].split(":")[0] in stem.with_suffix(".html").read_text()
        check_format(json.loads(stem.with_suffix(".perfetto.json").read_text()))
        assert "<svg" in stem.with_suffix(".svg").read_text()
        assert "!! " + finding["kind"] in stem.with_suffix(".txt").read_text()
        page = tmp_path / f"{n}.html"
        assert run(["show", finding["schedule"], "--format", "html", "-o", str(page)]) == 1
        assert 'data-kind="finding"' in page.read_text()
