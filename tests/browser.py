"""Headless chromium for the tests: Debian's /usr/bin/chromium driven by playwright.

playwright's own browser download needs the network, so it is pointed at the system
chromium instead, with the switches that keep chromium off the network (no component
updates, no background requests, no QUIC) and a fresh profile each time. CI installs
chromium (.ci/debian-packages), so there a missing browser is an error; on a machine
without it the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import BrowserContext, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium(width: int = 1100, height: int = 800) -> Iterator[BrowserContext]:
    """A headless chromium context with a fresh profile."""
    path = shutil.which("chromium") or CHROMIUM
    if not os.path.exists(path) and os.environ.get("CI") != "true":
        pytest.skip("needs Debian's chromium (apt-get install chromium; .ci/run installs it)")
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=path,
            headless=True,
            args=ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()
