"""The ``lockstep`` command: list, explore and replay scenarios; show an execution and the
lock graph in other formats.

Exit status: 0 clean, 1 findings, 2 bad input (one line on stderr, never a traceback).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shlex
import shutil
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

import attrs
import click
from rich.console import Console

from lockstep import scenarios
from lockstep.scenarios import toml_scenario, variants
from lockstep.scenarios.registry import Scenario
from lockstep.scheduler import (
    ExploreResult,
    Finding,
    Program,
    ReplayResult,
    Schedule,
    ScheduleError,
    explore,
    replay,
)
from lockstep.scheduler.checkpoint import CheckpointError
from lockstep.scheduler.events import describe
from lockstep.scheduler.explore import is_interrupt
from lockstep.scheduler.minimize import minimize, minimize_findings, preemptions
from lockstep.scheduler.parallel import PARALLEL_STRATEGIES, explore_parallel
from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND, ProgramError
from lockstep.scheduler.schedule import VERSION as SCHEDULE_VERSION
from lockstep.tools import DEFAULT_BUDGET, DEFAULT_OUT, lockgraph, lockorder, report
from lockstep.tools.swimlane import render, use_colour

EXIT_CLEAN, EXIT_FINDINGS, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: The scenario the main command explores when none is named.
DEFAULT_SCENARIO = "replace-vs-destroy"
_FILE_NAME = re.compile(r"^[A-Za-z0-9_.+/-]+$")
#: Schedule options this lockstep reads: step bound, failing fault points, model variant.
_KNOWN_OPTIONS = ("bound", "fail", "sha", "variant")
#: How every schedule line starts.
VERSION_PREFIX = f"{SCHEDULE_VERSION}:"


class BadInput(Exception):
    """Input the user must fix: printed as one line, exit status 2."""


def _scenario(name: str) -> Scenario:
    """A registered scenario by name, or a scenario file (``*.toml``) by path. A file's
    scenario is named by its path, so that its replay line finds the file again."""
    if name.endswith(".toml"):
        from lockstep.scenarios import toml_scenario

        if not _FILE_NAME.match(name):
            raise BadInput(
                f"{name}: a scenario file's path may hold only letters, digits and _ . + / -"
            )
        try:
            scenario = toml_scenario.load(name)
        except toml_scenario.ScenarioError as exc:
            raise BadInput(str(exc)) from None
        return attrs.evolve(scenario, name=name)
    try:
        return scenarios.get(name)
    except KeyError as exc:
        if "." in name:
            return _python_program(name)
        raise BadInput(exc.args[0]) from None


def _python_program(name: str) -> Scenario:
    """A program written with the Python API, by the ``module.function`` name its replay
    lines carry, imported as ``python`` in the current directory would import it."""
    module_name, _, function = name.rpartition(".")
    if not all(part.isidentifier() for part in name.split(".")):
        raise BadInput(f"unknown scenario {name!r}: neither a scenario nor a module.function name")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BadInput(f"{name}: cannot import {module_name} from here ({exc})") from None
    program = getattr(module, function, None)
    if not callable(program):
        raise BadInput(f"{name}: {module_name} has no program function {function!r}")
    return Scenario(name, f"the Python program {name}", program)


def _load_program(name: str, variant: str | None = None) -> Callable[[], Program]:
    """A scenario's program, by name or path, with a variant: what a --jobs worker process
    builds its own program from (programs are closures, which do not pickle)."""
    return _program(_scenario(name), variant)


def _options(step_bound: int) -> list[tuple[str, str]]:
    return [] if step_bound == DEFAULT_STEP_BOUND else [("bound", str(step_bound))]


def _program(scenario: Scenario, variant: str | None) -> Callable[[], Program]:
    """The scenario's program, with the named model variant switched on."""
    if variant is None:
        return scenario.program
    try:
        flags = variants.get(variant).flags
    except KeyError as exc:
        raise BadInput(exc.args[0]) from None
    if scenario.with_variant is None:
        raise BadInput(f"scenario {scenario.name!r} does not run the model: it has no variants")
    return scenario.with_variant(flags)


#: A schedule line read from a file or stdin may be this long (a 1,000,000-step execution
#: is a few MiB at most).
MAX_LINE_BYTES = 64 << 20


def _schedule_text(argument: str) -> str:
    """The schedule line an argument stands for: the line itself, ``-`` for stdin, or the
    path of a file holding it (a line over 128 KiB cannot be an argument)."""
    if argument == "-":
        try:
            text = sys.stdin.read(MAX_LINE_BYTES + 1)
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"cannot read a schedule line from stdin: {exc}") from None
    elif argument.startswith(VERSION_PREFIX) or not _is_file(argument):
        return argument
    else:
        path = Path(argument)
        if path.stat().st_size > MAX_LINE_BYTES:
            raise BadInput(f"{argument}: larger than {MAX_LINE_BYTES:,} bytes")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"{argument}: cannot read a schedule line from it: {exc}") from None
    if len(text) > MAX_LINE_BYTES:
        raise BadInput(f"schedule longer than {MAX_LINE_BYTES:,} bytes")
    return text.strip()


def _is_dir(argument: str) -> bool:
    try:
        return Path(argument).is_dir()
    except (OSError, ValueError):
        return False


def _explore_saved(folder: Path, variant: str | None, as_json: bool) -> None:
    """``explore`` of a findings folder: its saved findings replayed as the next ``fuzz``
    replays them first; status 1 while one still reproduces, 0 once all are fixed."""
    from lockstep.tools import fuzz as fuzzing

    campaign = fuzzing.Campaign(out=folder, variant=variant)
    campaign.replay_saved()
    if not campaign.saved:
        raise BadInput(f"{folder}: a folder, but no scenario file lockstep fuzz saved in it")
    if as_json:
        click.echo(json.dumps({"saved": [s.to_json() for s in campaign.saved]}, indent=2))
    else:
        for entry in campaign.saved:
            state = "reproduces" if entry.reproduces else "FIXED: no longer reproduces"
            click.echo(f"saved {entry.path}: {fuzzing.describe(entry.signature)}: {state}")
    sys.exit(EXIT_FINDINGS if any(s.reproduces for s in campaign.saved) else EXIT_CLEAN)


def _is_file(argument: str) -> bool:
    """Whether ``argument`` names a regular file; False for what cannot be a path at all
    (a name too long for the file system, a NUL byte)."""
    try:
        return Path(argument).is_file()
    except (OSError, ValueError):
        return False


def _step_bound(schedule: Schedule) -> int:
    unknown = [key for key, _ in schedule.options if key not in _KNOWN_OPTIONS]
    if unknown:
        raise BadInput(f"schedule has an option this lockstep does not know: {unknown[0]!r}")
    bound = schedule.option("bound")
    return DEFAULT_STEP_BOUND if bound is None else int(bound)  # checked by Schedule.parse


def _replay_schedule(parsed: Schedule) -> ReplayResult:
    """Replay a parsed schedule line with everything its options say: the one place
    ``replay``, ``show`` and ``explore --report`` turn a schedule into an execution."""
    return replay(_schedule_program(parsed), parsed, step_bound=_step_bound(parsed))


def _schedule_program(parsed: Schedule) -> Callable[[], Program]:
    """The program a schedule line names: its scenario, with its variant switched on. A
    scenario file must still be the file the line was made from (its ``sha`` option)."""
    scenario = _scenario(parsed.scenario)
    made_from = parsed.option("sha")
    if made_from is not None:
        now = dict(toml_scenario.digest_option(parsed.scenario)).get("sha")
        if now != made_from:
            raise BadInput(
                f"{parsed.scenario} has changed since this line was made (sha {made_from}, "
                f"now {now}): the line replays only the file it was made from"
            )
    return _program(scenario, parsed.option("variant"))


def _finding_text(
    index: int, total: int, finding: Finding, shown: ReplayResult, full: bool = False
) -> str:
    classes = ", ".join(finding.classes)
    replay_lines = [f"replay: lockstep replay {finding.schedule}"]
    if finding.minimized:
        replay_lines.append(f"minimized: lockstep replay {finding.minimized}")
    return "\n".join(
        [
            f"=== finding {index} of {total}: {finding.kind}"
            + (f" ({classes})" if classes else "")
            + " ===",
            finding.message,
            *([f"entry: {finding.entry}"] if finding.entry else []),
            "",
            *replay_lines,
            "",
            render(
                shown.trace,
                shown.actors,
                shown.findings,
                colour=use_colour(sys.stdout),
                full=full,
            ),
            "",
        ]
    )


def _explore_text(
    result: ExploreResult, shown: Sequence[ReplayResult], seed: int = 0, full: bool = False
) -> str:
    state = "exhausted" if result.exhausted else "not exhausted"
    if result.preemption_bound is not None:
        state += f", at most {result.preemption_bound} preemptions"
    if result.strategy in ("random", "pct"):
        state = f"seed {seed}"
    if result.stopped:
        state += f", {result.stopped}"
    if result.fault_points is not None:
        state += f", {result.fault_points} fault points failed in turn"
    count = len(result.findings)
    lines = [
        f"{result.scenario}: {result.executions} execution"
        f"{'s' if result.executions != 1 else ''} ({result.strategy}, {state}), "
        f"{count} finding{'s' if count != 1 else ''}",
        "",
    ]
    for i, (finding, replayed) in enumerate(zip(result.findings, shown, strict=True), 1):
        lines.append(_finding_text(i, count, finding, replayed, full))
    return "\n".join(lines).rstrip() + "\n"


@contextlib.contextmanager
def _progress(total: int | None, *, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr (executions, findings, rate; a bar and an estimate
    when the number of executions is known), only on a terminal: never in a pipe, a file
    or with --json, so logs and JSON stay clean."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("exploring"),
        BarColumn() if total else TextColumn(""),
        MofNCompleteColumn() if total else TextColumn("{task.completed} executions"),
        TextColumn("{task.fields[findings]} findings"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ]
    if total:
        columns.append(TimeRemainingColumn())
    start = time.monotonic()
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("explore", total=total, findings=0, rate="")
        shown = [0]

        def update(count: int, findings: int) -> None:
            if count - shown[0] < 50 and count != total:
                return
            shown[0] = count
            elapsed = time.monotonic() - start
            rate = f"{count / elapsed:,.0f}/s" if elapsed > 0 else ""
            bar.update(task, completed=count, findings=findings, rate=rate)

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="iommufd-lockstep", prog_name="lockstep")
@click.option("--debug", is_flag=True, help="On an internal error, print its traceback.")
def main(debug: bool) -> None:
    """Explore interleavings of lock-using actors and report deadlocks and lockdep splats.

    Exit status: 0 clean, 1 findings, 2 bad input, 3 an internal error of lockstep, 130
    interrupted."""


@main.command("list")
def list_command() -> None:
    """The scenarios, one a line, with what each exercises (wrapped to the terminal)."""
    entries = scenarios.all_scenarios()
    width = max(len(s.name) for s in entries)
    for scenario in entries:
        click.echo(_entry(scenario.name, width, scenario.description))
    click.echo("\nvariants (lockstep explore SCENARIO --variant NAME):")
    width = max(len(v.name) for v in variants.VARIANTS)
    for variant in variants.VARIANTS:
        click.echo(_entry(variant.name, width, f"{variant.bug}: {variant.description}"))


def _entry(name: str, width: int, text: str) -> str:
    """``name`` padded to ``width``, then ``text`` wrapped to the terminal's width (100
    columns into a pipe), continued under itself."""
    columns = shutil.get_terminal_size((100, 24)).columns
    indent = " " * (width + 2)
    return textwrap.fill(
        text,
        max(columns, width + 40),
        initial_indent=name.ljust(width) + "  ",
        subsequent_indent=indent,
        break_on_hyphens=False,
    )


# Options explore, lockgraph and lockorder share, defined once.
_STRATEGY = click.option(
    "--strategy",
    type=click.Choice(["dfs", "naive-dfs", "random", "pct"]),
    default="dfs",
    show_default=True,
    help="dfs: exhaustive, one execution per Mazurkiewicz trace (optimal DPOR); naive-dfs: "
    "every interleaving; random: seeded random walks; pct: seeded PCT (bug depth 3, or "
    "explore's --depth).",
)
_EXECUTIONS = click.option(
    "--executions",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many executions (random, pct: 100 unless given).",
)
_SEED = click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of --strategy random and pct."
)
_VARIANT = click.option(
    "--variant",
    default=None,
    metavar="NAME",
    help="Run the model with a historical bug switched on (see `lockstep list`).",
)
_FAULTS = click.option(
    "--faults",
    is_flag=True,
    help="Also fail each actor's 1st, 2nd, ... fault point in turn (fail_nth).",
)
_OUTPUT = click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to FILE instead of stdout.",
)

F = TypeVar("F", bound=Callable[..., Any])


def _listing_options(command: F) -> F:
    """The options of lockgraph and lockorder: explore's exploration options, and -o."""
    for option in reversed((_STRATEGY, _EXECUTIONS, _SEED, _FAULTS, _VARIANT, _OUTPUT)):
        command = option(command)
    return command


_FULL = click.option(
    "--full",
    is_flag=True,
    help="Show every event of the setup in the swimlanes (one row by default).",
)


@main.command("explore")
@click.argument("scenario", default=DEFAULT_SCENARIO)
@_STRATEGY
@_EXECUTIONS
@_SEED
@click.option(
    "--depth",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="pct: the bug depth aimed at (d-1 priority change points).",
)
@click.option(
    "--step-bound",
    type=click.IntRange(min=1),
    default=DEFAULT_STEP_BOUND,
    show_default=True,
    help="Steps after which an execution is a livelock finding.",
)
@_VARIANT
@_FAULTS
@click.option(
    "--preemption-bound",
    type=click.IntRange(min=0),
    default=None,
    help="dfs/naive-dfs: only executions with at most this many preemptions (CHESS, loom).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Share the exploration out over this many processes, with the same findings "
    "(dfs: by disjoint prefixes; random, pct: by seeds).",
)
@click.option(
    "--dask-scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the shared-out work on this Dask distributed cluster (tcp://host:port).",
)
@click.option(
    "--checkpoint",
    type=click.Path(dir_okay=False),
    default=None,
    help="Save the exploration's state to FILE as it goes, and resume from it if it exists.",
)
@click.option(
    "--max-time",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Stop after this long (the result says it is not exhausted, and why).",
)
@click.option("-x", "--stop-on-first", is_flag=True, help="Stop after the first finding.")
@click.option(
    "--jsonl",
    is_flag=True,
    help="One JSON object per finding on stdout as it is found, then a summary object.",
)
@click.option(
    "--minimize-seconds",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Time to spend minimizing each finding's replay line (0 or --no-minimize: none).",
)
@click.option("--no-minimize", is_flag=True, help="Print the replay lines as found.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of text.")
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write every format (text, perfetto, dot, svg, html) for every finding into DIR.",
)
@_FULL
def explore_command(
    scenario: str,
    strategy: str,
    executions: int | None,
    seed: int,
    depth: int,
    step_bound: int,
    variant: str | None,
    faults: bool,
    preemption_bound: int | None,
    jobs: int,
    dask_scheduler: str | None,
    checkpoint: str | None,
    max_time: float | None,
    stop_on_first: bool,
    jsonl: bool,
    minimize_seconds: float,
    no_minimize: bool,
    as_json: bool,
    report_dir: Path | None,
    full: bool,
) -> None:
    """Explore SCENARIO (a name from `lockstep list`, or a .toml file; default
    replace-vs-destroy). A folder `lockstep fuzz` wrote: explore each scenario file it saved
    (for this --variant) and say which findings still reproduce."""
    if _is_dir(scenario):
        _explore_saved(Path(scenario), variant, as_json)
    chosen = _scenario(scenario)
    program = _program(chosen, variant)
    options = _options(step_bound) + ([("variant", variant)] if variant else [])
    options += toml_scenario.digest_option(chosen.name)
    terminal = sys.stdout.isatty() and sys.stderr.isatty()
    if as_json and jsonl:
        raise BadInput("--json and --jsonl: choose one")

    def found_now(finding: Finding) -> None:
        """A finding as soon as it is found: a JSON line, or its header on stderr."""
        if jsonl:
            click.echo(json.dumps(finding.to_json()))
            sys.stdout.flush()
        elif not as_json:
            classes = f" ({', '.join(finding.classes)})" if finding.classes else ""
            if terminal:
                click.echo("\r\033[K", nl=False, err=True)
            click.echo(
                f"found {finding.kind}{classes}: {finding.title}\n"
                f"  replay: lockstep replay {finding.schedule}",
                err=True,
            )

    if jobs > 1 or dask_scheduler is not None:
        if max_time is not None or stop_on_first or jsonl:
            raise BadInput("--max-time, --stop-on-first and --jsonl run in one process")
        if strategy not in PARALLEL_STRATEGIES:
            raise BadInput(
                f"--jobs and --dask-scheduler share out {', '.join(PARALLEL_STRATEGIES)} "
                f"explorations; --strategy {strategy} runs in one process"
            )
        if checkpoint:
            raise BadInput("--checkpoint runs in one process: leave out --jobs")
        if strategy == "dfs" and executions is not None:
            raise BadInput("--jobs with dfs explores to exhaustion: leave out --executions")
        with _progress(executions, enabled=terminal and not as_json) as progress:
            result = explore_parallel(
                _load_program,
                chosen.name,
                jobs=jobs,
                strategy=strategy,
                variant=variant,
                executions=executions,
                seed=seed,
                depth=depth,
                step_bound=step_bound,
                options=options,
                preemption_bound=preemption_bound,
                faults=faults,
                dask_scheduler=dask_scheduler,
                progress=progress,
            )
    else:
        with _progress(executions, enabled=terminal and not (as_json or jsonl)) as progress:
            result = explore(
                program,
                strategy=strategy,
                executions=executions,
                seed=seed,
                step_bound=step_bound,
                scenario=chosen.name,
                options=options,
                faults=faults,
                preemption_bound=preemption_bound,
                depth=depth,
                progress=progress,
                checkpoint=checkpoint,
                max_seconds=max_time,
                stop_on_first=stop_on_first,
                on_finding=found_now,
                on_resume=lambda n: click.echo(
                    f"lockstep: resumed at execution {n} from {checkpoint}", err=True
                ),
                interruptible=True,
            )
    cut_short = False
    if not no_minimize and minimize_seconds > 0 and result.findings and not result.interrupted:

        def minimizing(index: int, count: int) -> None:
            if terminal and not as_json:
                click.echo(
                    f"\r\033[Kminimizing finding {index} of {count} (at most "
                    f"{minimize_seconds:g} s each; Ctrl-C prints the lines as found)",
                    nl=False,
                    err=True,
                )

        try:
            result = minimize_findings(
                program,
                result,
                seconds=minimize_seconds,
                step_bound=step_bound,
                progress=minimizing,
            )
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            cut_short = True
        if terminal and not as_json:
            click.echo("\r\033[K", nl=False, err=True)
    if jsonl:
        summary = {k: v for k, v in result.to_json().items() if k != "findings"}
        summary["seed"] = seed
        summary["minimized"] = [f.minimized or f.schedule for f in result.findings]
        click.echo(json.dumps({"summary": summary}))
    elif as_json:
        report = result.to_json()
        for entry, finding in zip(report["findings"], result.findings, strict=True):  # type: ignore[arg-type]
            entry["minimized"] = finding.minimized or finding.schedule
        click.echo(json.dumps(report, indent=2))
    else:
        shown = [replay(program, f.schedule, step_bound=step_bound) for f in result.findings]
        click.echo(_explore_text(result, shown, seed, full), nl=False)
    if report_dir is not None:
        replays = [_replay_schedule(Schedule.parse(f.schedule)) for f in result.findings]
        _write_report(report_dir, result, replays, full)
    if cut_short:
        click.echo("lockstep: interrupted while minimizing: the lines are as found", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if result.interrupted:
        resume = f"; resume: {shlex.join(['lockstep', *sys.argv[1:]])}" if checkpoint else ""
        click.echo(
            f"lockstep: interrupted after {result.executions} executions, "
            f"{len(result.findings)} findings so far{resume}",
            err=True,
        )
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


def _write_report(
    directory: Path, result: ExploreResult, shown: Sequence[ReplayResult], full: bool = False
) -> None:
    try:
        written = report.write_report(directory, result, shown, full=full)
    except OSError as exc:
        raise BadInput(f"cannot write the report into {directory}: {exc}") from None
    skipped = f"; the SVGs were skipped: {_NO_DOT}" if written.svg_skipped else ""
    click.echo(f"lockstep: wrote {len(written.files)} files into {directory}{skipped}", err=True)


@main.command("lockorder")
@click.argument("names", nargs=-1, required=True, metavar="SCENARIO...")
@_listing_options
def lockorder_command(
    names: tuple[str, ...],
    strategy: str,
    executions: int | None,
    seed: int,
    faults: bool,
    variant: str | None,
    output: Path | None,
) -> None:
    """Print the lock-class edges seen exploring SCENARIO..., sorted, one `A -> B` a line
    with where it was first taken: a lock-order manifest (see tools/lockorder.py)."""
    results = _explore_each(names, strategy, executions, seed, faults, variant)
    flags = [f"--strategy {strategy}", f"--seed {seed}"] if strategy != "dfs" else []
    flags += [f"--executions {executions}"] if executions else []
    flags += ["--faults"] if faults else []
    flags += [f"--variant {variant}"] if variant else []
    command = " ".join(["lockstep lockorder", *flags, *names])
    _emit(lockorder.render(lockorder.collect(results), lockorder.header(command)), output)


def _explore_each(
    names: Sequence[str],
    strategy: str,
    executions: int | None,
    seed: int,
    faults: bool,
    variant: str | None,
) -> list[ExploreResult]:
    """One exploration of each scenario named, as lockgraph and lockorder run them."""
    results = []
    for name in names:
        chosen = _scenario(name)
        results.append(
            explore(
                _program(chosen, variant),
                strategy=strategy,
                executions=executions,
                seed=seed,
                faults=faults,
                scenario=chosen.name,
                options=[("variant", variant)] if variant else [],
            )
        )
    return results


@main.command("replay")
@click.argument("schedule")
@_FULL
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of text.")
def replay_command(schedule: str, full: bool, as_json: bool) -> None:
    """Replay SCHEDULE (a line printed by explore) exactly, and show its findings."""
    parsed = Schedule.parse(_schedule_text(schedule))
    result = _replay_schedule(parsed)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "scenario": parsed.scenario,
                    "schedule": result.schedule,
                    "findings": [f.to_json() for f in result.findings],
                },
                indent=2,
            )
        )
    else:
        count = len(result.findings)
        lines = [
            f"{parsed.scenario}: replayed {len(parsed.executions)} execution"
            f"{'s' if len(parsed.executions) != 1 else ''}, "
            f"{count} finding{'s' if count != 1 else ''}",
            "",
        ]
        for i, finding in enumerate(result.findings, 1):
            lines.append(_finding_text(i, count, finding, result, full))
        if not result.findings:
            lines += [render(result.trace, result.actors, result.findings, full=full), ""]
        click.echo("\n".join(lines).rstrip() + "\n", nl=False)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


_NO_DOT = "Graphviz's dot is not installed (Debian: apt-get install graphviz)"


@main.command("show")
@click.argument("schedule")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(report.FORMATS),
    default="text",
    show_default=True,
    help="text: swimlane with held locks; perfetto: Chrome trace event JSON; dot/svg: the "
    "lock graph; html: a self-contained report.",
)
@_OUTPUT
@_FULL
def show_command(schedule: str, fmt: str, output: Path | None, full: bool) -> None:
    """Replay SCHEDULE and draw the execution (and its lock graph) in one format."""
    parsed = Schedule.parse(_schedule_text(schedule))
    result = _replay_schedule(parsed)
    picture = report.Picture.of_replay(parsed.scenario, result)
    colour = output is None and fmt == "text" and use_colour(sys.stdout)
    try:
        body = report.render(fmt, picture, colour=colour, full=full)
    except lockgraph.graphviz.ExecutableNotFound:
        raise BadInput(_NO_DOT) from None
    _emit(body, output)
    sys.exit(EXIT_FINDINGS if result.findings else EXIT_CLEAN)


@main.command("lockgraph")
@click.argument("scenario_names", metavar="SCENARIO...", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "dot", "svg"]),
    default="table",
    show_default=True,
    help="table: edge, times seen, first site; dot/svg: the graph, reported cycles in red.",
)
@_listing_options
def lockgraph_command(
    scenario_names: tuple[str, ...],
    fmt: str,
    strategy: str,
    executions: int | None,
    seed: int,
    faults: bool,
    variant: str | None,
    output: Path | None,
) -> None:
    """Explore each SCENARIO and show the lock-class graph they build together, as lockdep
    builds one graph over a boot running all of them."""
    results = _explore_each(scenario_names, strategy, executions, seed, faults, variant)
    graphs = [lockgraph.LockGraph.of(r.edges, r.counts, r.findings) for r in results]
    graph = lockgraph.merge(graphs)
    title = " + ".join(scenario_names)
    try:
        if fmt == "table" and output is None and use_colour(sys.stdout):
            Console().print(lockgraph.table_rich(graph))
            sys.exit(EXIT_FINDINGS if graph.findings else EXIT_CLEAN)
        if fmt == "table":
            body = lockgraph.table_text(graph)
        elif fmt == "dot":
            body = lockgraph.dot_source(graph, title)
        else:
            body = lockgraph.svg(graph, title)
    except lockgraph.graphviz.ExecutableNotFound:
        raise BadInput(_NO_DOT) from None
    _emit(body, output)
    sys.exit(EXIT_FINDINGS if graph.findings else EXIT_CLEAN)


def _emit(body: str, output: Path | None) -> None:
    if output is None:
        click.echo(body, nl=not body.endswith("\n"))
        return
    try:
        output.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"cannot write {output}: {exc}") from None


@main.command("minimize")
@click.argument("schedule")
@click.option(
    "--finding",
    "which",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Which finding of the line to keep, numbered as `lockstep replay` lists them.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of text.")
def minimize_command(schedule: str, which: int, as_json: bool) -> None:
    """Shrink SCHEDULE to the fewest preemptions, then the fewest steps, keeping one of its
    findings (by its signature: kind, lock classes, and the site or invariant that fired);
    print the shorter replay line."""
    parsed = Schedule.parse(_schedule_text(schedule))
    program = _schedule_program(parsed)
    bound = _step_bound(parsed)
    shown = replay(program, parsed, step_bound=bound).findings
    if not shown:
        raise BadInput("the schedule shows no finding: nothing to minimize")
    if which > len(shown):
        raise BadInput(
            f"the schedule shows {len(shown)} finding(s): --finding takes 1..{len(shown)}"
        )
    kept = shown[which - 1].signature
    small = minimize(program, parsed, finding=kept, step_bound=bound)
    before, after = preemptions(program, parsed, bound), preemptions(program, small, bound)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "schedule": str(parsed),
                    "minimized": str(small),
                    "preemptions": [before, after],
                    "finding": {"kind": kept[0], "classes": list(kept[1]), "site": kept[2]},
                },
                indent=2,
            )
        )
    else:
        click.echo(f"{parsed.scenario}: {before} preemptions -> {after}, keeping {describe(kept)}")
        click.echo(f"minimized: lockstep replay {small}")
    sys.exit(EXIT_FINDINGS)


@main.command("fuzz")
@click.option(
    "--max-time",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Seconds to fuzz for (a finding being shrunk is finished first, up to 2 minutes).",
)
@click.option(
    "--scenarios",
    "max_scenarios",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after drawing this many scenarios.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search.")
@click.option(
    "--faults",
    is_flag=True,
    help="Draw, with each scenario, the fault point that fails (an actor's fail_nth).",
)
@click.option(
    "--variant",
    default=None,
    metavar="NAME",
    help="Fuzz the model with a historical bug switched on (see `lockstep list`).",
)
@click.option(
    "--budget",
    type=click.IntRange(min=1),
    default=DEFAULT_BUDGET,
    show_default=True,
    help="dfs executions per scenario (then as many random walks if dfs did not exhaust).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="Folder of found scenarios: written here, and replayed first by the next fuzz.",
)
@click.option("-x", "--stop-on-first", is_flag=True, help="Stop once one new finding is written.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run this many independent searches in processes (each its own seed stream); "
    "their findings are merged and deduplicated by signature when they end.",
)
@click.option(
    "--dask-scheduler",
    default=None,
    metavar="ADDRESS",
    help="Run the searches on this Dask distributed cluster (tcp://host:port).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout instead of text.")
def fuzz_command(
    max_time: float,
    max_scenarios: int | None,
    seed: int,
    faults: bool,
    variant: str | None,
    budget: int,
    out: Path,
    stop_on_first: bool,
    jobs: int,
    dask_scheduler: str | None,
    as_json: bool,
) -> None:
    """Draw scenarios from the model's operations, explore each, and shrink every new
    finding to a small scenario file in OUT with its replay line."""
    # Hypothesis is imported only here: every other command starts without it
    from lockstep.scenarios import generate
    from lockstep.tools import fuzz as fuzzing

    if variant is not None:
        try:
            variants.get(variant)
        except KeyError as exc:
            raise BadInput(exc.args[0]) from None
    terminal = sys.stderr.isatty() and not as_json

    def saved(entry: fuzzing.Saved) -> None:
        if not as_json:
            state = "reproduces" if entry.reproduces else "FIXED: no longer reproduces"
            click.echo(f"saved {entry.path}: {fuzzing.describe(entry.signature)}: {state}")

    def found(entry: fuzzing.Found) -> None:
        if as_json:
            return
        if terminal:
            click.echo("\r\033[K", nl=False, err=True)
        actors, ops, objects, setup = generate.size(entry.spec)
        click.echo(
            f"found {fuzzing.describe(entry.signature)}\n"
            f"  after {entry.found_after:.1f} s ({entry.scenarios} scenarios), shrunk in "
            f"{entry.shrink_seconds:.1f} s to {actors} actors, {ops} operations, "
            f"{objects} objects, {setup} setup steps\n"
            f"  {entry.path}\n  {entry.explore_command}"
            + (f"\n  lockstep replay '{entry.replay}'" if entry.replay else "")
        )

    started = time.monotonic()

    def progress(scenarios: int, executions: int, findings: int) -> None:
        if terminal:
            rate = executions / max(time.monotonic() - started, 1e-9)
            click.echo(
                f"\r\033[K{scenarios} scenarios, {rate:,.0f} executions/s, {findings} found",
                nl=False,
                err=True,
            )

    campaign = fuzzing.Campaign(
        seed=seed,
        max_time=max_time,
        max_scenarios=max_scenarios,
        faults=faults,
        variant=variant,
        budget=budget,
        out=out,
        stop_on_first=stop_on_first,
        on_saved=saved,
        on_found=None if as_json else found,
        on_progress=progress,
    )
    interrupted = False
    try:
        if jobs > 1 or dask_scheduler is not None:
            fuzzing.fuzz_parallel(campaign, jobs, dask_scheduler)
        else:
            campaign.run()
    except KeyboardInterrupt:
        interrupted = True
    if terminal:
        click.echo("\r\033[K", nl=False, err=True)
    reproduced = [s for s in campaign.saved if s.reproduces]
    if as_json:
        click.echo(
            json.dumps(
                {
                    "seed": seed,
                    "variant": variant,
                    "faults": faults,
                    "scenarios": campaign.scenarios,
                    "executions": campaign.executions,
                    "seconds": round(time.monotonic() - started, 1),
                    "interrupted": interrupted,
                    "saved": [s.to_json() for s in campaign.saved],
                    "found": [f.to_json() for f in campaign.found],
                },
                indent=2,
            )
        )
    else:
        click.echo(
            f"fuzz --seed {seed}: {campaign.scenarios} scenarios, {campaign.executions:,} "
            f"executions in {time.monotonic() - started:.0f} s; {len(campaign.found)} new "
            f"findings, {len(reproduced)} of {len(campaign.saved)} saved ones reproduce"
            + (" (interrupted)" if interrupted else "")
        )
    if interrupted:
        sys.exit(130)
    sys.exit(EXIT_FINDINGS if campaign.found or reproduced else EXIT_CLEAN)


def _one_line(text: str) -> str:
    """``text`` on one line: a newline in a key or a path is shown as ``\\n``."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every bad input is one line on stderr and exit status 2, an
    internal error one line and status 3 (the traceback only with ``--debug``)."""
    args = list(argv) if argv is not None else sys.argv[1:]
    argv_debug = "--debug" in args[:1]
    try:
        main.main(
            args=args,
            prog_name="lockstep",
            standalone_mode=False,
        )
    except SystemExit as exc:
        return int(exc.code or 0)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return EXIT_BAD_INPUT
    except click.UsageError as exc:
        click.echo(f"lockstep: error: {exc.format_message()}", err=True)
        return EXIT_BAD_INPUT
    except (
        BadInput,
        ScheduleError,
        CheckpointError,
        ProgramError,
        toml_scenario.ScenarioError,
    ) as exc:
        click.echo(f"lockstep: error: {_one_line(str(exc))}", err=True)
        return EXIT_BAD_INPUT
    except click.exceptions.Abort:
        click.echo("lockstep: interrupted", err=True)
        return EXIT_INTERRUPTED
    except BrokenProcessPool:
        click.echo(
            "lockstep: a --jobs worker process died (killed, or out of memory): its share of "
            "the work is lost and the run is incomplete; no result is printed",
            err=True,
        )
        return EXIT_INTERNAL
    except BaseException as exc:
        if is_interrupt(exc):
            click.echo("lockstep: interrupted", err=True)
            return EXIT_INTERRUPTED
        if not isinstance(exc, Exception):
            raise
        if argv_debug:
            traceback.print_exception(exc)
        message = " ".join(str(exc).split())[:200]
        click.echo(
            f"lockstep: internal error: {type(exc).__name__}: {message} (a bug in lockstep, "
            "not a finding; --debug prints the traceback)",
            err=True,
        )
        return EXIT_INTERNAL
    return EXIT_CLEAN


def entry() -> None:
    sys.exit(run())


if __name__ == "__main__":
    entry()
