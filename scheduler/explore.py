"""Exploration: run a program execution after execution under a strategy, and collect the
distinct findings, each with the schedule line that replays it.

One `Lockdep` lives for the whole exploration. Each distinct finding is reported once (as
lockdep reports once), from the first execution that showed it. A lockdep report may need
edges that earlier executions recorded; the explorer therefore keeps the choices of every
execution that added an edge to the graph, and the finding's schedule carries those it
needs, in order, before its own execution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from attrs import frozen

from scheduler import checkpoint as checkpoints
from scheduler.events import Event, Finding
from scheduler.lockdep import Edge, Lockdep
from scheduler.runtime import DEFAULT_STEP_BOUND, ActorFn, Execution, Program, RawFinding
from scheduler.schedule import Schedule, ScheduleError
from scheduler.strategies import Replay, Strategy, make_strategy

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
    preemption_bound: int | None = None

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
            "findings": [f.to_json() for f in self.findings],
        }


@frozen
class ReplayResult:
    schedule: str
    findings: tuple[Finding, ...]
    trace: tuple[Event, ...]
    actors: tuple[str, ...]


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
    preemption_bound: int | None = None,
    depth: int = 3,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: str | None = None,
    checkpoint_every: int = 1000,
) -> ExploreResult:
    """Explore ``program`` (a callable building fresh actors) and return its findings.

    ``executions`` caps the number of executions (random and pct run
    `DEFAULT_RANDOM_EXECUTIONS` without it; dfs runs to exhaustion). With ``trace``, each
    finding carries the trace of the execution that showed it. ``preemption_bound`` limits
    dfs and naive-dfs to executions with at most that many preemptions (CHESS, loom);
    ``depth`` is the bug depth pct aims at. ``strategy`` is a name, or a strategy object
    (one share of a parallel exploration). ``progress(executions, findings)`` is called
    after every execution (the CLI's progress bar). With ``checkpoint`` (a file), the state
    is saved every ``checkpoint_every`` executions and an exploration resumes from it.
    """
    name = scenario or _program_name(program)
    options = tuple(options)
    if isinstance(strategy, str):
        chosen = make_strategy(strategy, seed, preemption_bound=preemption_bound, depth=depth)
    else:
        chosen = strategy
    if executions is None and chosen.name in ("random", "pct"):
        executions = DEFAULT_RANDOM_EXECUTIONS
    graph = Lockdep() if lockdep else None
    contributors: dict[int, tuple[int, ...]] = {}
    seen: set[tuple[object, ...]] = set()
    findings: list[Finding] = []
    count = 0
    identity = (name, chosen.name, options, step_bound, seed, preemption_bound, depth, lockdep)
    resumed = checkpoints.load(checkpoint, identity) if checkpoint else None
    pending = None
    if resumed is not None:
        chosen, pending, graph = resumed["strategy"], resumed["chooser"], resumed["graph"]
        contributors, seen = resumed["contributors"], resumed["seen"]
        findings, count = resumed["findings"], resumed["count"]
    while executions is None or count < executions:
        chooser = pending if pending is not None else chosen.next_chooser()
        pending = None
        if chooser is None:
            break
        if checkpoint and count % checkpoint_every == 0:
            state = {
                "strategy": chosen,
                "chooser": chooser,
                "graph": graph,
                "contributors": contributors,
                "seen": seen,
                "findings": findings,
                "count": count,
            }
            checkpoints.save(checkpoint, identity, state)
        ex = Execution(
            program, chooser, lockdep=graph, index=count, trace=trace, step_bound=step_bound
        )
        ex.run()
        choices = tuple(ex.choices)
        if graph is not None and graph.added:
            contributors[count] = choices
        for raw in ex.findings:
            if raw.key in seen:
                continue
            seen.add(raw.key)
            runs = [contributors[i] for i in raw.executions] + [choices]
            schedule = Schedule.build(name, options, runs)
            findings.append(_finding(raw, str(schedule), ex.trace))
        count += 1
        if progress is not None:
            progress(count, len(findings))
    if checkpoint:
        checkpoints.remove(checkpoint)
    return ExploreResult(
        name,
        chosen.name,
        count,
        chosen.exhausted,
        tuple(findings),
        tuple(graph.edges()) if graph is not None else (),
        preemption_bound,
    )


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
    for index, choices in enumerate(schedule.executions):
        chooser = Replay(choices)
        ex = Execution(
            program, chooser, lockdep=graph, index=index, trace=True, step_bound=step_bound
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
    return ReplayResult(text, tuple(findings), tuple(ex.trace), tuple(ex.actor_names))


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
    )


def _program_name(program: ProgramFn) -> str:
    name = getattr(program, "__name__", "program").replace("_", "-")
    return name if name.isidentifier() or "-" in name else "program"


__all__ = ["ExploreResult", "ReplayResult", "ScheduleError", "explore", "replay"]
