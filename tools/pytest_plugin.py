"""The pytest plugin: lock-order regression tests in a few lines.

Registered through the ``pytest11`` entry point (``lockstep = "lockstep.tools.pytest_plugin"``), so
any project that installs iommufd-lockstep has it; do not also list it in a conftest's
``pytest_plugins``, which would register it twice. It gives the ``lockstep`` fixture::

    def test_replace_vs_destroy_is_clean(lockstep):
        lockstep.assert_clean("replace-vs-destroy")

    def test_my_program_is_clean(lockstep):
        lockstep.assert_clean(my_program)           # a callable returning a Program

    def test_lock_order_did_not_change(lockstep):
        lockstep.assert_lockorder("lockorder.manifest", "selftest-device", faults=True)

    def test_generated_scenarios_are_clean(lockstep):
        lockstep.fuzz(max_time=60, seed=0)          # lockstep fuzz, failing on a finding

A target is a registered scenario name, a scenario file (``*.toml``) or a program callable.
On a finding the assertion message is each finding's report, its replay line, a minimized
line when a shorter one shows the same finding (`MINIMIZE_SECONDS` each), and the swimlane
of its execution; on a new lock-order edge, the edge and where it was taken.

Command-line options set the exploration for every test that does not set it itself:
``--lockstep-strategy``, ``--lockstep-executions``, ``--lockstep-seed``.

pytest-trio: an exploration runs in a ``trio.run`` of its own, which cannot nest in a
running trio loop; called from an async (trio) test, the fixture runs the exploration in a
worker thread and blocks the test until it is done.
"""

from __future__ import annotations

import concurrent.futures
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from lockstep.scheduler import ExploreResult, explore, replay
from lockstep.scheduler.explore import ProgramFn
from lockstep.scheduler.minimize import minimize_findings
from lockstep.scheduler.strategies import STRATEGIES
from lockstep.tools import lockorder
from lockstep.tools.swimlane import render

Target = str | Path | ProgramFn


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lockstep", "iommufd-lockstep explorations")
    group.addoption(
        "--lockstep-strategy",
        choices=STRATEGIES,
        default=None,
        help="strategy of lockstep explorations (default: dfs)",
    )
    group.addoption(
        "--lockstep-executions",
        type=int,
        default=None,
        help="executions per lockstep exploration (default: dfs to exhaustion, random 100)",
    )
    group.addoption(
        "--lockstep-seed", type=int, default=None, help="seed of random explorations (0)"
    )
    group.addoption(
        "--lockstep-update-manifest",
        action="store_true",
        default=False,
        help="assert_lockorder writes its manifest (creates or refreshes it) instead of "
        "checking it",
    )
    group.addoption(
        "--lockstep-stale",
        choices=STALE_CHOICES,
        default="warn",
        help="what an edge the manifest lists but no exhaustive exploration takes is: a "
        "warning (default), a failure, or nothing",
    )


@attrs.frozen
class _Resolved:
    #: None for a user's program: `explore` names it after the function.
    name: str | None
    program: ProgramFn


def _resolve(target: Target, variant: str | None) -> _Resolved:
    """A scenario name, a ``.toml`` path or a program callable, as a named program."""
    if callable(target):
        if variant is not None:
            raise ValueError("a variant applies to the shipped model, not to your own program")
        return _Resolved(None, target)
    # Imported on use: pytest loads this plugin in every session of a project that has
    # lockstep installed; only a test that explores a shipped scenario needs them.
    from lockstep import scenarios
    from lockstep.scenarios import toml_scenario, variants

    text = str(target)
    if text.endswith(".toml"):
        scenario = attrs.evolve(toml_scenario.load(text), name=text)
    else:
        scenario = scenarios.get(text)
    if variant is None:
        return _Resolved(scenario.name, scenario.program)
    if scenario.with_variant is None:
        raise ValueError(f"scenario {scenario.name!r} has no model variants")
    return _Resolved(scenario.name, scenario.with_variant(variants.get(variant).flags))


def _outside_trio(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` here, or in a worker thread when a trio loop runs in this thread."""
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return fn()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def report(result: ExploreResult, program: ProgramFn) -> str:
    """Every finding of ``result``: its report, its replay line and its swimlane."""
    count = len(result.findings)
    lines = [
        f"{result.scenario}: {result.executions} execution"
        f"{'s' if result.executions != 1 else ''} ({result.strategy}), "
        f"{count} finding{'s' if count != 1 else ''}",
        "",
    ]
    for i, finding in enumerate(result.findings, 1):
        shown = replay(program, finding.schedule)
        classes = f" ({', '.join(finding.classes)})" if finding.classes else ""
        lines += [
            f"=== finding {i} of {count}: {finding.kind}{classes} ===",
            finding.message,
            "",
            f"replay: lockstep replay {finding.schedule}",
            *([f"minimized: lockstep replay {finding.minimized}"] if finding.minimized else []),
            "",
            render(shown.trace, shown.actors, shown.findings),
            "",
        ]
    return "\n".join(lines)


#: Seconds a failing assertion spends minimizing each finding's replay line.
MINIMIZE_SECONDS = 10.0


class LockstepFailure(AssertionError):
    """A lockstep assertion failed: the message is the whole report."""


class StaleLockOrderWarning(UserWarning):
    """A manifest lists an edge no exhaustive exploration takes any more."""


#: what ``--lockstep-stale`` can make of a stale manifest edge
STALE_CHOICES = ("warn", "fail", "ignore")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Under pytest-trio a failure arrives wrapped in an ExceptionGroup: unwrap a lone
    `LockstepFailure`, so that its report is the first thing shown."""
    try:
        return (yield)
    except BaseExceptionGroup as group:
        inner = _lone_failure(group)
        if inner is None:
            raise
        raise inner from None


def _lone_failure(group: BaseExceptionGroup) -> LockstepFailure | None:
    while len(group.exceptions) == 1:
        only = group.exceptions[0]
        if isinstance(only, LockstepFailure):
            return only
        if not isinstance(only, BaseExceptionGroup):
            return None
        group = only
    return None


@attrs.define
class Lockstep:
    """What the ``lockstep`` fixture gives a test: explore, and assert clean or in order."""

    strategy: str | None = None
    executions: int | None = None
    seed: int | None = None
    #: a folder of the test's own, for what fuzz writes
    tmp: Path = Path(".lockstep")
    #: the folder of the test file: a relative manifest path is found there
    here: Path = Path(".")
    #: write manifests instead of checking them (``--lockstep-update-manifest``)
    update_manifest: bool = False
    #: what a stale manifest edge is (``--lockstep-stale``)
    stale: str = "warn"

    def explore(
        self,
        target: Target,
        *,
        variant: str | None = None,
        faults: bool = False,
        strategy: str | None = None,
        executions: int | None = None,
        seed: int | None = None,
    ) -> ExploreResult:
        """Explore ``target``; arguments given here win over the command-line options."""
        resolved = _resolve(target, variant)
        options = [("variant", variant)] if variant else []
        if resolved.name is not None:
            from lockstep.scenarios.toml_scenario import digest_option

            options += digest_option(resolved.name)
        return _outside_trio(
            lambda: explore(
                resolved.program,
                strategy=strategy or self.strategy or "dfs",
                executions=executions if executions is not None else self.executions,
                seed=seed if seed is not None else (self.seed or 0),
                scenario=resolved.name,
                options=options,
                faults=faults,
            )
        )

    def assert_clean(self, target: Target, **kwargs: Any) -> ExploreResult:
        """Explore ``target`` and fail with the full report if anything was found."""
        __tracebackhide__ = True
        result = self.explore(target, **kwargs)
        if result.findings:
            program = _resolve(target, kwargs.get("variant")).program
            shrunk = _outside_trio(
                lambda: minimize_findings(program, result, seconds=MINIMIZE_SECONDS)
            )
            raise LockstepFailure(_outside_trio(lambda: report(shrunk, program)))
        return result

    def fuzz(
        self,
        *,
        max_time: float = 60.0,
        seed: int = 0,
        faults: bool = False,
        variant: str | None = None,
        out: str | Path | None = None,
    ) -> None:
        """Run ``lockstep fuzz`` and fail with each shrunk scenario file and its replay
        line if it finds anything (or a saved finding in ``out`` still reproduces)."""
        __tracebackhide__ = True
        from lockstep.tools import fuzz

        folder = Path(out) if out is not None else Path(self.tmp) / "lockstep-findings"
        campaign = fuzz.Campaign(
            seed=seed,
            max_time=max_time,
            faults=faults,
            variant=variant,
            out=folder,
            stop_on_first=True,
        )
        _outside_trio(campaign.run)
        failures = [(f.path, f.replay) for f in campaign.found]
        failures += [(s.path, "") for s in campaign.saved if s.reproduces]
        if failures:
            lines = [f"lockstep fuzz --seed {seed}: {len(failures)} finding(s)"]
            for path, replay_line in failures:
                lines += ["", f"--- {path}", path.read_text(encoding="utf-8").rstrip()]
                if replay_line:
                    lines.append(f"replay: lockstep replay '{replay_line}'")
            raise LockstepFailure("\n".join(lines))

    def assert_lockorder(self, manifest: str | Path, *targets: Target, **kwargs: Any) -> None:
        """Explore ``targets`` and fail on any lock-class edge ``manifest`` does not list;
        an edge it lists that no exploration took is stale (``--lockstep-stale``). With
        ``--lockstep-update-manifest``, write the manifest from the explorations instead."""
        __tracebackhide__ = True
        path = Path(manifest)
        if not path.is_absolute():
            path = self.here / path
        names = " ".join(str(t) for t in targets if isinstance(t, str | Path))
        command = f"lockstep lockorder{' --faults' if kwargs.get('faults') else ''} {names}"
        if not path.is_file() and not self.update_manifest:
            raise LockstepFailure(
                f"no lock-order manifest at {path}; write one with: {command} > {path}, "
                "or run pytest with --lockstep-update-manifest"
            )
        results = [self.explore(target, **kwargs) for target in targets]
        edges = lockorder.collect(results)
        if self.update_manifest:
            text = lockorder.render(edges, lockorder.header(command))
            path.write_text(text, encoding="utf-8")
            return
        allowed = lockorder.load(path)
        new = lockorder.new_edges(edges, allowed)
        if new:
            lines = [f"{len(new)} lock-order edge(s) not in {manifest}:"]
            lines += [
                f"  {edge.prev} -> {edge.next}, first taken at {edge.site} in {edge.scenario}"
                for edge in new
            ]
            lines += ["", "if the new order is intended, add these lines to the manifest:"]
            lines += [edge.line() for edge in new]
            lines += ["(or run pytest with --lockstep-update-manifest)"]
            raise LockstepFailure("\n".join(lines))
        stale = lockorder.stale_edges(edges, allowed)
        if stale and self.stale != "ignore" and all(r.exhausted for r in results):
            text = (
                f"{len(stale)} lock-order edge(s) in {manifest} that no exploration took: "
                + "; ".join(f"{a} -> {b}" for a, b in stale)
                + " (refresh it with --lockstep-update-manifest)"
            )
            if self.stale == "fail":
                raise LockstepFailure(text)
            warnings.warn(StaleLockOrderWarning(text), stacklevel=2)


@pytest.fixture
def lockstep(request: pytest.FixtureRequest) -> Lockstep:
    """Explore scenarios or programs and assert they are clean or keep their lock order."""
    config = request.config
    return Lockstep(
        strategy=config.getoption("--lockstep-strategy"),
        executions=config.getoption("--lockstep-executions"),
        seed=config.getoption("--lockstep-seed"),
        tmp=request.getfixturevalue("tmp_path"),
        here=request.path.parent,
        update_manifest=config.getoption("--lockstep-update-manifest"),
        stale=config.getoption("--lockstep-stale"),
    )


__all__ = ["Lockstep", "LockstepFailure", "StaleLockOrderWarning", "lockstep", "report"]
