"""Minimizing a failing schedule: fewest preemptions first, then fewest steps.

Design note. A schedule found by search often switches actors far more than the bug needs;
a developer reads the interleaving more easily with two context switches than with twenty.
Most bugs need at most two preemptions (CHESS; Thomson, Donaldson and Betts 2016), and
Hypothesis and simloom show that a shrunk counterexample is what users want to see.

The shrinker works on the choices of the schedule's last execution (earlier executions of a
lockdep report only feed the lock graph and are replayed unchanged). It replays candidates
leniently (`_Lenient`): a wanted choice that cannot be made, or a choice past the end, lets
the running actor continue (no preemption), so every candidate is a real execution whose
exact choices are recorded. A candidate is kept when it still shows the same finding (its
signature: kind, lock classes, and the site or invariant that fired, so that a shorter line
never shows another bug of the same kind) and has fewer preemptions, or as many and fewer
steps. First, as CHESS iterates its preemption bound, a bounded naive search looks for the
finding with 0, 1, ... preemptions (within a budget of executions); then greedy passes drop
each remaining preemption in turn (run the running actor instead) until none can go, and cut
the choices short (the rest without preemptions) as early as the finding allows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
from attrs import frozen

from lockstep.scheduler import runtime
from lockstep.scheduler.events import Fault, Signature, describe
from lockstep.scheduler.lockdep import Lockdep
from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND, ActorFn, Execution, Program
from lockstep.scheduler.schedule import Schedule, ScheduleError
from lockstep.scheduler.strategies import DepthFirst, Replay

if TYPE_CHECKING:
    from lockstep.scheduler.explore import ExploreResult

#: The largest preemption bound searched for directly: most bugs need at most two.
MAX_SEARCHED_BOUND = 2

ProgramFn = Callable[[], Program | Mapping[str, ActorFn]]


class _Lenient:
    """Follows wanted choices where it can, else lets the running actor continue."""

    def __init__(self, wanted: Sequence[int | None]) -> None:
        self.wanted = wanted
        self.made: list[int] = []
        #: positions (in ``made``) of the choices that preempted a runnable actor
        self.preempted: list[int] = []

    def choose(self, options: list[int]) -> int:
        position = len(self.made)
        want = self.wanted[position] if position < len(self.wanted) else None
        choice = want if want in options else options[0]
        running = runtime.current().running
        if running is not None and running.index == options[0] and choice != options[0]:
            self.preempted.append(position)
        self.made.append(choice)
        return choice


@frozen
class Attempt:
    """One candidate's execution: its findings, exact choices, preemptions and steps."""

    findings: frozenset[Signature]
    choices: tuple[int, ...]
    preempted: tuple[int, ...]
    steps: int

    @property
    def cost(self) -> tuple[int, int]:
        return (len(self.preempted), self.steps)


def _attempt(
    program: ProgramFn,
    prior: Sequence[Sequence[int]],
    wanted: Sequence[int | None],
    step_bound: int,
    nths: Sequence[Fault | None],
) -> Attempt:
    """Replay ``prior`` exactly and run ``wanted`` leniently; ``nths`` is each execution's
    failing fault point (the schedule's ``fail`` option)."""
    graph = Lockdep()
    for index, choices in enumerate(prior):
        Execution(
            program,
            Replay(choices),
            lockdep=graph,
            index=index,
            step_bound=step_bound,
            fail_nth=nths[index],
        ).run()
    chooser = _Lenient(wanted)
    ex = Execution(
        program,
        chooser,
        lockdep=graph,
        index=len(prior),
        step_bound=step_bound,
        fail_nth=nths[len(prior)],
    )
    ex.run()
    found = frozenset(f.signature for f in ex.findings)
    return Attempt(found, tuple(chooser.made), tuple(chooser.preempted), ex.steps)


def minimize(
    program: ProgramFn,
    schedule: Schedule | str,
    *,
    finding: Signature | None = None,
    step_bound: int = DEFAULT_STEP_BOUND,
    budget: int = 1000,
    seconds: float | None = None,
) -> Schedule:
    """A schedule showing the same finding (its `signature`: kind, classes and the site or
    invariant that fired; by default the first one the schedule shows) with the fewest
    preemptions, then the fewest steps, found.

    A single-execution schedule is first searched for with 0, 1 and 2 preemptions (naive
    bounded dfs, at most ``budget`` executions per bound, as CHESS iterates its bound).
    With ``seconds``, the search stops after that long with the best schedule so far."""
    deadline = None if seconds is None else time.monotonic() + seconds

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if isinstance(schedule, str):
        schedule = Schedule.parse(schedule)
    from lockstep.scheduler.explore import fail_nths

    nths = fail_nths(schedule)
    prior, last = schedule.executions[:-1], schedule.executions[-1]
    best = _attempt(program, prior, last, step_bound, nths)
    if best.choices != last:
        raise ScheduleError("schedule does not match the scenario: it does not replay exactly")
    if finding is None:
        if not best.findings:
            raise ScheduleError("the schedule shows no finding: nothing to minimize")
        finding = _first_finding(program, schedule, step_bound)
    if finding not in best.findings:
        raise ScheduleError(f"the schedule does not show {describe(finding)}")
    if not prior:
        for bound in range(min(len(best.preempted), MAX_SEARCHED_BOUND + 1)):
            found = _bounded_search(program, finding, bound, budget, step_bound, nths, late)
            if found is not None:
                best = found
                break
    improved = True
    while improved and not late():
        improved = False
        for position in reversed(best.preempted):
            wanted: list[int | None] = list(best.choices)
            wanted[position] = None
            candidate = _attempt(program, prior, wanted, step_bound, nths)
            if finding in candidate.findings and candidate.cost < best.cost:
                best, improved = candidate, True
                break
    for cut in range(len(best.choices) + 1):
        if late():
            break
        candidate = _attempt(program, prior, best.choices[:cut], step_bound, nths)
        if finding in candidate.findings and candidate.cost < best.cost:
            best = candidate
            break
    return Schedule.build(schedule.scenario, schedule.options, [*prior, best.choices])


def minimize_findings(
    program: ProgramFn,
    result: ExploreResult,
    *,
    seconds: float,
    step_bound: int = DEFAULT_STEP_BOUND,
    progress: Callable[[int, int], None] | None = None,
) -> ExploreResult:
    """``result`` with each finding's ``minimized`` line set, where minimizing it (at most
    ``seconds`` each) found a shorter one; ``progress(i, n)`` before the i-th of n."""
    findings = []
    for index, finding in enumerate(result.findings, 1):
        if progress is not None:
            progress(index, len(result.findings))
        small = str(
            minimize(
                program,
                finding.schedule,
                finding=finding.signature,
                step_bound=step_bound,
                seconds=seconds,
            )
        )
        findings.append(
            attrs.evolve(finding, minimized=small) if small != finding.schedule else finding
        )
    return attrs.evolve(result, findings=tuple(findings))


def _bounded_search(
    program: ProgramFn,
    finding: Signature,
    bound: int,
    budget: int,
    step_bound: int,
    nths: Sequence[Fault | None],
    late: Callable[[], bool],
) -> Attempt | None:
    """The first execution with at most ``bound`` preemptions that shows ``finding`` on its
    own (a fresh lock graph each), or None within ``budget`` executions (or once ``late``)."""
    strategy = DepthFirst(preemption_bound=bound)
    for _ in range(budget):
        if late():
            return None
        chooser = strategy.next_chooser()
        if chooser is None:
            return None
        ex = Execution(program, chooser, lockdep=Lockdep(), step_bound=step_bound, fail_nth=nths[0])
        ex.run()
        if any(f.signature == finding for f in ex.findings):
            return _attempt(program, (), ex.choices, step_bound, nths)
    return None


def _first_finding(program: ProgramFn, schedule: Schedule, step_bound: int) -> Signature:
    from lockstep.scheduler.explore import replay

    return replay(program, schedule, step_bound=step_bound).findings[0].signature


def preemptions(program: ProgramFn, schedule: Schedule | str, step_bound: int = 0) -> int:
    """How many preemptions the last execution of ``schedule`` makes."""
    if isinstance(schedule, str):
        schedule = Schedule.parse(schedule)
    from lockstep.scheduler.explore import fail_nths

    bound = step_bound or DEFAULT_STEP_BOUND
    prior, last = schedule.executions[:-1], schedule.executions[-1]
    return len(_attempt(program, prior, last, bound, fail_nths(schedule)).preempted)
