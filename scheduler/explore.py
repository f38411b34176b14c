"""Exploration: run a program execution after execution under a strategy, and collect the
distinct findings, each with the schedule line that replays it.

One `Lockdep` lives for the whole exploration. Each distinct finding is reported once (as
lockdep reports once), from the first execution that showed it; distinct means a distinct
signature (`events.signature`: kind, classes, and the site or invariant that fired, object
numbers left out), so one bug met on hwpt4 and again on hwpt5 is one finding. A lockdep
report may need edges that earlier executions recorded; the explorer therefore keeps the
choices of every execution that added an edge to the graph, and the finding's schedule
carries those it needs, in order, before its own execution.

Fault injection (``faults=True``) works as the kernel's fail_nth, which counts per task:
the exploration runs once with no fault, then again for each actor with its 1st fault point
failing, its 2nd, and so on, each time with a fresh strategy, for every point some
fault-free execution of that actor reached (`next_fault`). An execution that reaches an
actor's n-th point can only have the fault-free prefix of one already run, so the rounds
cover every fault point of every explored interleaving. Counting per actor keeps fault
points independent: which one fails does not depend on how the actors interleave, so a
round is no larger than the fault-free exploration. The fault choice is the schedule option
``fail``: ``A_N`` (actor ``A``'s ``N``-th fault point) for every execution of the line, or
one per execution joined by ``.`` (0: no fault) when a lockdep report needs executions of
several rounds.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Generator, Iterable, Mapping

from attrs import field, frozen

from lockstep.scheduler import checkpoint as checkpoints
from lockstep.scheduler.events import Event, Fault, Finding, Signature
from lockstep.scheduler.lockdep import Edge, Lockdep
from lockstep.scheduler.runtime import (
    DEFAULT_STEP_BOUND,
    ActorFn,
    Chooser,
    Execution,
    Program,
    RawFinding,
    run_all,
)
from lockstep.scheduler.schedule import Schedule, ScheduleError
from lockstep.scheduler.snapshot import SetupSnapshot
from lockstep.scheduler.strategies import Replay, Strategy, make_strategy

ProgramFn = Callable[[], Program | Mapping[str, ActorFn]]
#: One execution as a schedule line holds it: its choices, and its failing fault point
#: (None: none).
Contribution = tuple[tuple[int, ...], Fault | None]

#: Executions a random exploration runs when no limit is given.
DEFAULT_RANDOM_EXECUTIONS = 100


@frozen
class ExploreResult:
    scenario: str
    strategy: str
    executions: int
    exhausted: bool
    findings: tuple[Finding, ...]
    edges: tuple[Edge, ...]
    #: how often each edge (prev, next) was taken over the exploration.
    counts: Mapping[tuple[str, str], int] = field(factory=dict, eq=False, kw_only=True)
    #: the choices and fault choice of each execution that added an edge, by its index
    #: (``Edge.execution``): what a lockdep report needing that edge replays.
    contributors: Mapping[int, Contribution] = field(factory=dict, eq=False, kw_only=True)
    #: With faults: how many fault points the exploration failed, one at a time (fail_nth).
    fault_points: int | None = field(default=None, kw_only=True)
    #: the most fault points each actor (by index) reached in an execution with no fault
    #: injected
    reached: Mapping[int, int] = field(factory=dict, kw_only=True, eq=False)
    preemption_bound: int | None = field(default=None, kw_only=True)
    #: stopped by Ctrl-C (KeyboardInterrupt) after ``executions``: the findings so far
    interrupted: bool = field(default=False, kw_only=True, eq=False)
    #: why the exploration stopped early on purpose (``max_seconds``, ``stop_on_first``)
    stopped: str = field(default="", kw_only=True, eq=False)

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "executions": self.executions,
            "exhausted": self.exhausted,
            "preemption_bound": self.preemption_bound,
            "interrupted": self.interrupted,
            "stopped": self.stopped,
            "findings": [f.to_json() for f in self.findings],
        } | ({} if self.fault_points is None else {"fault_points": self.fault_points})


@frozen
class ReplayResult:
    schedule: str
    findings: tuple[Finding, ...]
    trace: tuple[Event, ...]
    actors: tuple[str, ...]
    #: the lock graph the schedule's executions built, and how often each edge was taken.
    edges: tuple[Edge, ...] = field(default=(), kw_only=True)
    counts: Mapping[tuple[str, str], int] = field(factory=dict, eq=False, kw_only=True)


def explore(
    program: ProgramFn,
    *,
    strategy: str | Strategy = "dfs",
    executions: int | None = None,
    seed: int = 0,
    step_bound: int = DEFAULT_STEP_BOUND,
    scenario: str | None = None,
    options: Iterable[tuple[str, str]] = (),
    lockdep: bool = True,
    trace: bool = False,
    faults: bool = False,
    preemption_bound: int | None = None,
    depth: int = 3,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int = 1000,
    max_seconds: float | None = None,
    stop_on_first: bool = False,
    on_finding: Callable[[Finding], None] | None = None,
    fail_nth: Fault | None = None,
    copy_setup: bool = True,
    on_resume: Callable[[int], None] | None = None,
    interruptible: bool = False,
) -> ExploreResult:
    """Explore ``program`` (a callable building fresh actors) and return its findings.

    ``executions`` caps the number of executions (random and pct run
    `DEFAULT_RANDOM_EXECUTIONS` without it; dfs runs to exhaustion); with ``faults``, the
    cap is per fault choice (fail_nth: the exploration runs fault-free, then with each
    actor's n-th fault point failing, for every point a fault-free execution reached; see
    the module note). With ``trace``,
    each finding carries the trace of the execution that showed it. ``preemption_bound``
    limits dfs and naive-dfs to executions with at most that many preemptions (CHESS, loom);
    ``depth`` is the bug depth pct aims at. ``strategy`` is a name, or a strategy object
    (one share of a parallel exploration; not with ``faults``, which restarts the strategy
    for each fault choice). ``progress(executions, findings)`` is called after every
    execution (the CLI's progress bar). With ``checkpoint`` (a file), the state is saved
    every ``checkpoint_every`` executions and an exploration resumes from it. With
    ``fail_nth`` (actor, n), the exploration is one round of a faults exploration: every
    execution fails that actor's n-th fault point (what a parallel share runs). With
    ``copy_setup`` (and a program that allows it), the setup runs once and later executions
    start from a copy of its result (`scheduler.snapshot`); off, every execution runs it.
    ``on_resume(executions)`` is called when the exploration resumes from ``checkpoint``.
    Ctrl-C stops the exploration between two executions; it then raises KeyboardInterrupt,
    or with ``interruptible`` returns the findings so far (``interrupted`` set, the
    checkpoint kept for a resume).
    """
    name = scenario or _program_name(program)
    options = tuple(options)

    def fresh() -> Strategy:
        if isinstance(strategy, str):
            return make_strategy(strategy, seed, preemption_bound=preemption_bound, depth=depth)
        if faults:
            raise ValueError("faults restart the strategy for each fault choice: pass its name")
        return strategy

    chosen = fresh()
    if executions is None and chosen.name in ("random", "pct"):
        executions = DEFAULT_RANDOM_EXECUTIONS
    graph = Lockdep() if lockdep else None
    found = Findings(name, options)
    count = 0
    exhausted = True
    fail, runs = fail_nth, 0
    #: the most fault points each actor reached in an execution with no fault injected
    reached: dict[int, int] = {}
    #: the fault choices whose rounds have run
    done: set[Fault] = set()
    snapshot = SetupSnapshot() if copy_setup else None
    identity = (
        name,
        chosen.name,
        options,
        step_bound,
        seed,
        preemption_bound,
        depth,
        lockdep,
        faults,
        fail_nth,
    )
    resumed = checkpoints.load(checkpoint, identity) if checkpoint else None
    pending = None
    interrupted = False
    stopped = ""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    if resumed is not None:
        chosen, pending, graph = resumed["strategy"], resumed["chooser"], resumed["graph"]
        found, count = resumed["findings"], resumed["count"]
        fail, runs, exhausted, reached, done = resumed["fault"]
        if on_resume is not None:
            on_resume(count)

    def rounds() -> Generator[Execution, None, None]:
        """`every_round`, stopped cleanly by Ctrl-C wherever it lands (in DPOR's planning
        or a checkpoint's writing as well as in an execution)."""
        nonlocal exhausted, interrupted
        try:
            yield from every_round()
        except BaseException as exc:
            if not is_interrupt(exc):
                raise
            exhausted, interrupted = False, True

    def every_round() -> Generator[Execution, None, None]:
        """The executions, round after round of fault choices (run by `run_all`)."""
        nonlocal chosen, pending, count, fail, runs, exhausted, stopped
        reported = 0
        while True:
            while executions is None or runs < executions:
                chooser = pending if pending is not None else chosen.next_chooser()
                pending = None
                if chooser is None:
                    break
                if checkpoint and count % checkpoint_every == 0:
                    state = {
                        "strategy": chosen,
                        "chooser": chooser,
                        "graph": graph,
                        "findings": found,
                        "count": count,
                        "fault": (fail, runs, exhausted, reached, done),
                    }
                    checkpoints.save(checkpoint, identity, state)
                ex = yield from run_execution(
                    program,
                    chooser,
                    graph,
                    found,
                    count,
                    step_bound=step_bound,
                    fail=fail,
                    trace=trace,
                    snapshot=snapshot,
                )
                if not ex.fault_fired:
                    # a fault-free run: a later round can fail any of its points
                    note_reached(reached, ex)
                count += 1
                runs += 1
                if progress is not None:
                    progress(count, len(found.findings))
                if len(found.findings) > reported:
                    if on_finding is not None:
                        for finding in found.findings[reported:]:
                            on_finding(finding)
                    reported = len(found.findings)
                    if stop_on_first:
                        stopped = "stopped at the first finding"
                        break
                if deadline is not None and time.monotonic() > deadline:
                    stopped = f"stopped after {max_seconds:g} s"
                    break
            exhausted = exhausted and chosen.exhausted and not stopped
            if stopped or not faults:
                break
            fail = next_fault(reached, done)
            if fail is None:
                break
            done.add(fail)
            chosen, runs = fresh(), 0

    run_all(rounds())
    if interrupted and not interruptible:
        raise KeyboardInterrupt
    if checkpoint and not interrupted and not stopped:
        checkpoints.remove(checkpoint)
    return ExploreResult(
        name,
        chosen.name,
        count,
        exhausted,
        tuple(found.findings),
        tuple(graph.edges()) if graph is not None else (),
        counts=dict(graph.counts) if graph is not None else {},
        contributors=found.contributors,
        fault_points=len(done) if faults else None,
        reached=reached,
        preemption_bound=preemption_bound,
        interrupted=interrupted,
        stopped=stopped,
    )


def is_interrupt(exc: BaseException) -> bool:
    """Ctrl-C, as it comes out of ``trio.run``: a KeyboardInterrupt, perhaps in a group."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_interrupt(e) for e in exc.exceptions)
    return False


def note_reached(reached: dict[int, int], ex: Execution) -> None:
    """Take into ``reached`` (actor index -> most fault points) the fault points the
    fault-free execution ``ex`` passed."""
    for actor, n in ex.fault_points.items():
        if n > reached.get(actor, 0):
            reached[actor] = n


def next_fault(reached: dict[int, int], done: set[Fault]) -> Fault | None:
    """The next fault choice to run a round with: the lowest (n, actor) not yet run with n
    within what that actor reached; None when every one has run. A choice that a later
    round's fault-free execution first reaches is still taken (rounds need not be in
    order)."""
    todo = [(n, a) for a, most in reached.items() for n in range(1, most + 1) if (a, n) not in done]
    if not todo:
        return None
    n, a = min(todo)
    return (a, n)


def run_execution(
    program: ProgramFn,
    chooser: Chooser,
    graph: Lockdep | None,
    found: Findings,
    index: int,
    *,
    step_bound: int,
    fail: Fault | None,
    trace: bool = False,
    snapshot: SetupSnapshot | None = None,
) -> Generator[Execution, None, Execution]:
    """Execution ``index`` into ``graph``, failing the fault point ``fail`` (None: none),
    for `run_all` to run; then take its findings into ``found``."""
    ex = Execution(
        program,
        chooser,
        lockdep=graph,
        index=index,
        trace=trace,
        step_bound=step_bound,
        fail_nth=fail,
        snapshot=snapshot,
    )
    yield ex
    found.record(ex, graph, index, fail if ex.fault_fired else None)
    return ex


class Findings:
    """The distinct findings of an exploration, in the order found, each with the schedule
    line that replays it; and the executions that added edges to the lock graph, which a
    later lockdep report may need to replay."""

    def __init__(self, name: str, options: tuple[tuple[str, str], ...]) -> None:
        self.name = name
        self.options = options
        self.findings: list[Finding] = []
        #: the signatures of the findings kept (`events.signature`): one bug, one finding
        self.seen: set[Signature] = set()
        self.contributors: dict[int, Contribution] = {}

    def record(self, ex: Execution, graph: Lockdep | None, index: int, fail: Fault | None) -> None:
        """Take the findings of execution ``index`` (``ex``, which failed fault point
        ``fail``; None: none), which ran into ``graph``."""
        this = (tuple(ex.choices), fail)
        if graph is not None and graph.added:
            self.contributors[index] = this
        for raw in ex.findings:
            if raw.signature in self.seen:
                continue
            used = [self.contributors[i] for i in raw.executions] + [this]
            self.add(_finding(raw, str(self.schedule(used)), ex.trace))

    def schedule(self, executions: list[Contribution]) -> Schedule:
        """The schedule line that runs ``executions`` in order into one lock graph."""
        fails = _fail_option([fail for _, fail in executions])
        return Schedule.build(self.name, self.options + fails, [c for c, _ in executions])

    def add(self, finding: Finding) -> bool:
        """Keep ``finding`` unless one with its key was found before; whether it was kept."""
        if finding.signature in self.seen:
            return False
        self.seen.add(finding.signature)
        self.findings.append(finding)
        return True


def _fail_option(fails: list[Fault | None]) -> tuple[tuple[str, str], ...]:
    """The ``fail`` option of a schedule whose executions failed these fault points."""
    if not any(fails):
        return ()
    texts = ["0" if f is None else f"{f[0]}_{f[1]}" for f in fails]
    if len(set(texts)) == 1:
        return (("fail", texts[0]),)
    return (("fail", ".".join(texts)),)


_FAULT = re.compile(r"^(?:0|([0-9]{1,9})_([1-9][0-9]{0,8}))$")


def fail_nths(schedule: Schedule) -> list[Fault | None]:
    """Each execution's failing fault point from the ``fail`` option (None: no fault)."""
    value = schedule.option("fail")
    count = len(schedule.executions)
    if value is None:
        return [None] * count
    parts = [_FAULT.match(p) for p in value.split(".")]
    if not all(parts) or len(parts) not in (1, count):
        raise ScheduleError(
            f"malformed schedule: fail={value} needs one fault point ACTOR_N (0: none), "
            f"or one per execution ({count}) joined by '.'"
        )
    nths: list[Fault | None] = [
        (int(m[1]), int(m[2])) if m is not None and m[1] is not None else None for m in parts
    ]
    return nths * count if len(nths) == 1 else nths


def replay(
    program: ProgramFn,
    schedule: Schedule | str,
    *,
    step_bound: int = DEFAULT_STEP_BOUND,
    lockdep: bool = True,
) -> ReplayResult:
    """Run the executions of ``schedule`` in order into one lock graph and return the findings
    and the trace of the last one. Raises `ScheduleError` if the schedule does not fit."""
    if isinstance(schedule, str):
        schedule = Schedule.parse(schedule)
    graph = Lockdep() if lockdep else None
    ex: Execution | None = None
    nths = fail_nths(schedule)
    for index, choices in enumerate(schedule.executions):
        chooser = Replay(choices)
        ex = Execution(
            program,
            chooser,
            lockdep=graph,
            index=index,
            trace=True,
            step_bound=step_bound,
            fail_nth=nths[index],
        )
        ex.run()
        chooser.finish()
    assert ex is not None and ex.trace is not None
    text = str(schedule)
    seen: set[Signature] = set()
    findings = []
    for raw in ex.findings:
        if raw.signature not in seen:
            seen.add(raw.signature)
            findings.append(_finding(raw, text, ex.trace))
    return ReplayResult(
        text,
        tuple(findings),
        tuple(ex.trace),
        tuple(ex.actor_names),
        edges=tuple(graph.edges()) if graph is not None else (),
        counts=dict(graph.counts) if graph is not None else {},
    )


def _finding(raw: RawFinding, schedule: str, trace: list[Event] | None) -> Finding:
    return Finding(
        raw.kind,
        raw.classes,
        schedule,
        raw.title,
        raw.message,
        raw.actor,
        raw.position,
        tuple(trace) if trace is not None else None,
        raw.key,
        raw.entry,
    )


def _program_name(program: ProgramFn) -> str:
    """What a Python program is called in its replay lines: ``module.function`` for a
    function at module level, which ``lockstep replay`` imports (a script run as
    ``__main__`` by its file's name), else the function's name."""
    module = getattr(program, "__module__", None)
    qualname = getattr(program, "__qualname__", "")
    if module and qualname and "<" not in qualname:
        found: object = sys.modules.get(module)
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is program:
            if module == "__main__":
                path = getattr(sys.modules["__main__"], "__file__", None)
                module = os.path.splitext(os.path.basename(path))[0] if path else ""
            name = f"{module}.{qualname}"
            if module and _PYTHON_NAME.match(name):
                return name
    name = getattr(program, "__name__", "program").replace("_", "-")
    return name if name.isidentifier() or "-" in name else "program"


#: an importable ``module.function`` name, as a replay line can hold it
_PYTHON_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$")


__all__ = [
    "Contribution",
    "ExploreResult",
    "Findings",
    "ReplayResult",
    "ScheduleError",
    "explore",
    "fail_nths",
    "replay",
    "run_execution",
]
