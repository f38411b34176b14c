"""Make the pictures in docs/ that the README shows: the HTML report of the abba deadlock
and lock graphs as SVG, each screenshotted in headless chromium.

Run from the repository root: ``python docs/pictures.py`` (needs the test extra and
Debian's chromium and graphviz, as the tests do).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lockstep.tools.cli import run  # noqa: E402
from tests.browser import chromium  # noqa: E402

DOCS = ROOT / "docs"
DEADLOCK = "ls1:abba:-:0x2.1x3"
#: The race in the merged code that two-devices-one-group finds (README): a lock freed held.
RACE = (
    "ls1:two-devices-one-group:-:0x2.1.0.1x3.0x5.1.0x4.1.0x3.1.0x3.1x3.0x3.1.0.1x2.0.1.0x2"
    ".1x3.0x2.1.0x4.1x4.0x4.1.0x5.1x2.0.1.0x4.1.0.1.0"
)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        report = folder / "abba.html"
        run(["show", DEADLOCK, "--format", "html", "-o", str(report)])
        race = folder / "race.html"
        run(["show", RACE, "--format", "html", "-o", str(race)])
        graphs = {
            "lockgraph-abba": ["abba", "rwsem-reader-writer"],
            "lockgraph-iommufd": ["replace-vs-destroy", "--strategy", "random"],
        }
        for name, args in graphs.items():
            run(["lockgraph", *args, "--format", "svg", "-o", str(folder / f"{name}.svg")])
        with chromium(width=1000, height=900) as browser:
            page = browser.new_page()
            page.goto(report.as_uri())
            page.hover(".ev[data-kind=wait] >> nth=0")
            page.screenshot(path=str(DOCS / "report-abba.png"), full_page=True)
            page.set_viewport_size({"width": 1300, "height": 900})
            page.goto(race.as_uri())
            page.evaluate("document.getElementById('details').scrollIntoView()")
            page.locator(".lane").evaluate("e => e.scrollTop = e.scrollHeight")
            page.locator(".ev[data-kind=finding] >> nth=0").hover()
            page.screenshot(path=str(DOCS / "race-swimlane.png"))
            for name in graphs:
                page.goto((folder / f"{name}.svg").as_uri())
                page.locator("svg").screenshot(path=str(DOCS / f"{name}.png"))
            page.close()


if __name__ == "__main__":
    main()
