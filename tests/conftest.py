"""Shared helpers for the tests: run the CLI in-process or in a fresh interpreter."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """``lockstep ARGS`` in a separate process, as a user runs it (in ``cwd``)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lockstep.tools.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=300,
        check=False,
    )


@pytest.fixture
def cli():
    return run_cli


def require_dot() -> None:
    """Skip, naming why, on a machine without Graphviz's ``dot`` (in CI, where .ci/run
    installs it and sets CI=true, go on and fail instead)."""
    if shutil.which("dot") is None and os.environ.get("CI") != "true":
        pytest.skip("needs graphviz's dot (apt-get install graphviz)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A test that draws with graphviz on a machine without ``dot`` is skipped, naming why;
    in CI (.ci/run installs graphviz) it stays an error."""
    import graphviz

    outcome = yield
    excinfo = outcome.excinfo
    if (
        excinfo is not None
        and issubclass(excinfo[0], graphviz.ExecutableNotFound)
        and os.environ.get("CI") != "true"
    ):
        outcome.force_exception(
            pytest.skip.Exception(
                "needs graphviz's dot (apt-get install graphviz)", _use_item_location=True
            )
        )
