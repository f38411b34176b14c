"""Exploration: run a program execution after execution under a strategy, and collect the
distinct findings, each with the schedule line that replays it.

One `Lockdep` lives for the whole exploration. Each distinct finding is reported once (as
lockdep reports once), from the first execution that showed it. A lockdep report may need
edges that earlier executions recorded; the explorer therefore keeps the choices of every
execution that added an edge to the graph, and the finding's schedule carries those it
needs, in order, before its own execution.

Fault injection (``faults=True``) works as the kernel's fail_nth: the exploration runs once
with no fault, then again with the 1st fault point of every execution failing, the 2nd, and
so on, each time with a fresh strategy, until no execution reaches the n-th fault point. An
execution that reaches its n-th point can only have the fault-free prefix of one already
run, so the rounds cover every fault point of every explored interleaving. The fault choice
is the schedule option ``fail``: one number for every execution of the line, or one per
execution joined by ``.`` (0: no fault) when a lockdep report needs executions of several
rounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from attrs import field, frozen

from scheduler.events import Event, Finding
from scheduler.lockdep import Edge, Lockdep
from scheduler.runtime import DEFAULT_STEP_BOUND, ActorFn, Execution, Program, RawFinding
from scheduler.schedule import Schedule, ScheduleError
from scheduler.strategies import Replay, make_strategy

ProgramFn = Callable[[], Program | Mapping[str, ActorFn]]

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
    #: With faults: how many fault points the exploration failed, one at a time (fail_nth).
    fault_points: int | None = field(default=None, kw_only=True)

    @property
    def clean(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "executions": self.executions,
            "exhausted": self.exhausted,
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
    strategy: str = "dfs",
    executions: int | None = None,
    seed: int = 0,
    step_bound: int = DEFAULT_STEP_BOUND,
    scenario: str | None = None,
    options: Iterable[tuple[str, str]] = (),
    lockdep: bool = True,
    trace: bool = False,
    faults: bool = False,
) -> ExploreResult:
    """Explore ``program`` (a callable building fresh actors) and return its findings.

    ``executions`` caps the number of executions (a random exploration runs
    `DEFAULT_RANDOM_EXECUTIONS` without it; dfs runs to exhaustion); with ``faults``, the
    cap is per fault choice. With ``trace``, each finding carries the trace of the execution
    that showed it.
    """
    name = scenario or _program_name(program)
    options = tuple(options)
    if executions is None and strategy == "random":
        executions = DEFAULT_RANDOM_EXECUTIONS
    graph = Lockdep() if lockdep else None
    contributors: dict[int, tuple[tuple[int, ...], int]] = {}
    seen: set[tuple[object, ...]] = set()
    findings: list[Finding] = []
    count = 0
    exhausted = True
    fail, most = 0, 0
    while fail <= most:
        chosen = make_strategy(strategy, seed)
        runs = 0
        while executions is None or runs < executions:
            chooser = chosen.next_chooser()
            if chooser is None:
                break
            ex = Execution(
                program,
                chooser,
                lockdep=graph,
                index=count,
                trace=trace,
                step_bound=step_bound,
                fail_nth=fail or None,
            )
            ex.run()
            if faults and not ex.fault_fired:
                # a fault-free run: a later round can fail any of its points
                most = max(most, ex.fault_points)
            this = (tuple(ex.choices), fail if ex.fault_points >= fail else 0)
            if graph is not None and graph.added:
                contributors[count] = this
            for raw in ex.findings:
                if raw.key in seen:
                    continue
                seen.add(raw.key)
                used = [contributors[i] for i in raw.executions] + [this]
                schedule = Schedule.build(
                    name, options + _fail_option([f for _, f in used]), [c for c, _ in used]
                )
                findings.append(_finding(raw, str(schedule), ex.trace))
            count += 1
            runs += 1
        exhausted = exhausted and chosen.exhausted
        fail += 1
    return ExploreResult(
        name,
        strategy,
        count,
        exhausted,
        tuple(findings),
        tuple(graph.edges()) if graph is not None else (),
        counts=dict(graph.counts) if graph is not None else {},
        fault_points=most if faults else None,
    )


def _fail_option(fails: list[int]) -> tuple[tuple[str, str], ...]:
    """The ``fail`` option of a schedule whose executions failed these fault points."""
    if not any(fails):
        return ()
    if len(set(fails)) == 1:
        return (("fail", str(fails[0])),)
    return (("fail", ".".join(map(str, fails))),)


def fail_nths(schedule: Schedule) -> list[int | None]:
    """Each execution's failing fault point from the ``fail`` option (None: no fault)."""
    value = schedule.option("fail")
    count = len(schedule.executions)
    if value is None:
        return [None] * count
    parts = value.split(".")
    if not all(p.isdigit() for p in parts) or len(parts) not in (1, count):
        raise ScheduleError(
            f"malformed schedule: fail={value} needs one number, or one per execution ({count})"
        )
    nths = [int(p) or None for p in parts]
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
    seen: set[tuple[object, ...]] = set()
    findings = []
    for raw in ex.findings:
        if raw.key not in seen:
            seen.add(raw.key)
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
    )


def _program_name(program: ProgramFn) -> str:
    name = getattr(program, "__name__", "program").replace("_", "-")
    return name if name.isidentifier() or "-" in name else "program"


__all__ = ["ExploreResult", "ReplayResult", "ScheduleError", "explore", "fail_nths", "replay"]
