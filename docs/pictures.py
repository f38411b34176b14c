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

from tests.browser import chromium  # noqa: E402
from tools.cli import run  # noqa: E402

DOCS = ROOT / "docs"
DEADLOCK = "ls1:abba:-:0x2.1x3"


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        report = folder / "abba.html"
        run(["show", DEADLOCK, "--format", "html", "-o", str(report)])
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
            for name in graphs:
                page.goto((folder / f"{name}.svg").as_uri())
                page.locator("svg").screenshot(path=str(DOCS / f"{name}.png"))
            page.close()


if __name__ == "__main__":
    main()
