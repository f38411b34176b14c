"""Parallel exploration: one exploration split over worker processes, on this machine or on
a Dask cluster.

Design note. Two partitions, one per kind of strategy:

- Seeded random walks and PCT give every execution its own generator
  (`strategies.execution_rng` of the seed and the execution's index), so executions are
  independent of each other and of the order they run in: share ``w`` of ``n`` runs
  executions ``w, w + n, w + 2n, ...`` of the same exploration, and together the shares run
  exactly the plain run's executions. PCT's step estimate ``k`` comes from execution 0,
  which the coordinator runs first and hands to the shares.
- Exhaustive dfs (optimal DPOR) is split by disjoint prefixes (`scheduler.dpor_split`):
  this process explores the top of the tree and ships each subtree below the cut to a
  worker as a task; races that tasks find above the cut come back and are planned here.
  It explores every trace one process explores, so it finds the same findings.

One lock graph. Each worker's executions run into a lock graph of its own; the coordinator
merges every result's edges into the exploration's graph (`Lockdep.merge`), in the order
it shipped the work, so an inversion whose two edges were recorded in different workers is
still reported: the cycle is replayed from the executions that recorded its edges, which
gives the report and its (multi-execution) replay line, as in one process.

The engines: a local `ProcessPoolExecutor` (forked workers), or for more than one machine
an existing engine, Dask distributed (``dask_scheduler=ADDRESS``): no cluster code of our
own. Processes, not threads: an execution is CPU-bound Python. Programs are closures and do
not pickle, so each worker builds its own with ``load(name, variant)``, a module-level
function the caller provides (the CLI's scenario lookup).
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial

import attrs
from attrs import frozen

from lockstep.scheduler.dpor_split import Escape, Splitter, Subtree, Summary, Task
from lockstep.scheduler.events import Fault
from lockstep.scheduler.explore import (
    DEFAULT_RANDOM_EXECUTIONS,
    ExploreResult,
    Findings,
    ProgramFn,
    explore,
    next_fault,
    note_reached,
    replay,
    run_execution,
)
from lockstep.scheduler.lockdep import Edge, Lockdep
from lockstep.scheduler.pct import Pct
from lockstep.scheduler.runtime import DEFAULT_STEP_BOUND, Chooser, Execution, run_all
from lockstep.scheduler.strategies import RandomWalk

#: The strategies an exploration can be shared out under.
PARALLEL_STRATEGIES = ("dfs", "random", "pct")

Loader = Callable[[str, str | None], ProgramFn]

#: dfs keeps at most this many tasks per worker shipped and not yet taken back: enough to
#: keep every worker busy, few enough that the shipped stacks stay small in memory.
TASKS_PER_WORKER = 16


@frozen
class Engine:
    """Where the work runs: ``submit(fn, *args)`` gives a future; ``workers`` processes."""

    submit: Callable[..., Future[object]]
    workers: int


def in_process(workers: int = 1) -> Engine:
    """An engine that runs each piece of work at once, in this process (tests, debugging:
    the same partition and the same results, without processes)."""

    def submit(fn: Callable[..., object], *args: object) -> Future[object]:
        future: Future[object] = Future()
        future.set_result(fn(*args))
        return future

    return Engine(submit, workers)


def explore_parallel(
    load: Loader,
    name: str,
    *,
    jobs: int,
    strategy: str = "random",
    variant: str | None = None,
    executions: int | None = None,
    seed: int = 0,
    depth: int = 3,
    step_bound: int = DEFAULT_STEP_BOUND,
    options: Iterable[tuple[str, str]] = (),
    preemption_bound: int | None = None,
    split: int | None = None,
    faults: bool = False,
    dask_scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: Engine | None = None,
) -> ExploreResult:
    """Explore scenario ``name`` (``load(name, variant)`` builds its program) with ``jobs``
    processes, and find what ``explore`` finds in one. With ``dask_scheduler`` (an address)
    the work runs on that Dask cluster's workers instead (``jobs`` of them, or all when
    ``jobs`` is 1). dfs runs to exhaustion (no ``executions`` cap); ``split`` is its cut
    depth (default: from the first execution). With ``faults``, rounds as `explore`'s
    (fail_nth), each shared out. ``progress(executions, findings)`` is called as work comes
    back. ``engine`` replaces both (see `in_process`)."""
    if strategy not in PARALLEL_STRATEGIES:
        raise ValueError(f"--jobs shares out {', '.join(PARALLEL_STRATEGIES)} explorations")
    if strategy == "dfs" and executions is not None:
        raise ValueError("--jobs with dfs explores to exhaustion: no executions cap")
    options = tuple(options)
    merged = _Merged(load(name, variant), name, options, step_bound)
    with open_engine(jobs, dask_scheduler, engine) as running:
        fail: Fault | None = None
        done: set[Fault] = set()
        while True:
            if strategy == "dfs":
                _split(
                    running, merged, load, name, variant, preemption_bound, split, fail, progress
                )
            else:
                total = DEFAULT_RANDOM_EXECUTIONS if executions is None else executions
                _shares(running, merged, load, name, variant, strategy, seed, depth, total, fail)
                if progress is not None:
                    progress(merged.executions, len(merged.found.findings))
            if not faults:
                break
            fail = next_fault(merged.reached, done)
            if fail is None:
                break
            done.add(fail)
    graph = merged.graph
    return ExploreResult(
        name,
        strategy,
        merged.executions,
        strategy == "dfs",
        tuple(merged.found.findings),
        tuple(graph.edges()),
        counts=dict(graph.counts),
        contributors=merged.found.contributors,
        fault_points=len(done) if faults else None,
        reached=merged.reached,
        preemption_bound=preemption_bound if strategy == "dfs" else None,
    )


def _shares(
    engine: Engine,
    merged: _Merged,
    load: Loader,
    name: str,
    variant: str | None,
    strategy: str,
    seed: int,
    depth: int,
    total: int,
    fail_nth: Fault | None,
) -> None:
    """Random or pct: one share of the executions per worker, merged in order."""
    k = (
        _pct_k(merged.program, seed, depth, merged.step_bound, fail_nth)
        if strategy == "pct"
        else None
    )
    futures = [
        engine.submit(
            _share,
            load,
            name,
            variant,
            strategy,
            seed,
            depth,
            k,
            w,
            engine.workers,
            total,
            merged.step_bound,
            merged.found.options,
            fail_nth,
        )
        for w in range(engine.workers)
    ]
    for future in futures:
        merged.take(future.result())  # type: ignore[arg-type]


@contextmanager
def open_engine(jobs: int, address: str | None, given: Engine | None = None) -> Iterator[Engine]:
    """Where shared-out work runs: ``given``, or ``jobs`` forked processes here, or the Dask
    cluster at ``address`` (its workers unless ``jobs`` says how many)."""
    if given is not None:
        yield given
        return
    if address is None:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            yield Engine(pool.submit, jobs)
        return
    from distributed import Client

    with Client(address) as client:
        workers = jobs if jobs > 1 else max(1, len(client.scheduler_info()["workers"]))
        yield Engine(partial(client.submit, pure=False), workers)


class _Merged:
    """The coordinator's view of the exploration: one lock graph, the findings, and the
    executions counted so far (which also number the executions that added edges)."""

    def __init__(
        self, program: ProgramFn, name: str, options: tuple[tuple[str, str], ...], bound: int
    ) -> None:
        self.program = program
        self.step_bound = bound
        self.graph = Lockdep()
        self.found = Findings(name, options)
        self.executions = 0
        #: the most fault points each actor reached in an execution with no fault injected
        self.reached: dict[int, int] = {}

    def run(self, chooser: Chooser, fail_nth: Fault | None) -> None:
        """Run one execution here, into the exploration's graph."""
        ex = run_all(
            run_execution(
                self.program,
                chooser,
                self.graph,
                self.found,
                self.executions,
                step_bound=self.step_bound,
                fail=fail_nth,
            )
        )
        if not ex.fault_fired:
            note_reached(self.reached, ex)
        self.executions += 1

    def take(self, result: ExploreResult) -> None:
        """Merge a worker's result: its findings, then its edges, renumbered after the
        executions counted so far; a cycle an edge closes here is replayed and reported."""
        for finding in result.findings:
            self.found.add(finding)
        base = self.executions
        for edge in result.edges:
            ident = base + edge.execution
            self.found.contributors[ident] = result.contributors[edge.execution]
            mine = attrs.evolve(edge, execution=ident)
            path = self.graph.merge(mine, result.counts.get((edge.prev, edge.next), 0))
            if path is not None:
                self._report(path, mine)
        self.executions += result.executions
        for actor, n in result.reached.items():
            self.reached[actor] = max(self.reached.get(actor, 0), n)

    def _report(self, path: list[Edge], closing: Edge) -> None:
        """Replay the executions that recorded a cycle's edges, the closing one last."""
        order = [e.execution for e in path if e.execution != closing.execution]
        idents = [*dict.fromkeys(order), closing.execution]
        schedule = self.found.schedule([self.found.contributors[i] for i in idents])
        replayed = replay(self.program, schedule, step_bound=self.step_bound)
        for finding in replayed.findings:
            if finding.kind == "circular-dependency":
                self.found.add(attrs.evolve(finding, trace=None))


def _split(
    engine: Engine,
    merged: _Merged,
    load: Loader,
    name: str,
    variant: str | None,
    preemption_bound: int | None,
    split: int | None,
    fail_nth: Fault | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    """dfs: probe the top of the tree here, ship the tasks, plan what comes back."""
    top = Splitter(split=split, preemption_bound=preemption_bound)
    shipped: deque[tuple[Task, Future[object]]] = deque()
    window = TASKS_PER_WORKER * engine.workers
    while True:
        chooser = top.probe() if len(shipped) < window else None
        if chooser is not None:
            merged.run(chooser, fail_nth)
            top.finish()
        elif shipped:
            task, future = shipped.popleft()
            result, escapes, summary = future.result()  # type: ignore[misc]
            merged.take(result)
            top.complete(task, escapes, summary)
        else:
            return
        while top.outbox:
            task = top.outbox.popleft()
            future = engine.submit(
                _subtree,
                load,
                name,
                variant,
                task,
                preemption_bound,
                merged.step_bound,
                merged.found.options,
                fail_nth,
            )
            shipped.append((task, future))
        if progress is not None:
            progress(merged.executions, len(merged.found.findings))


def _pct_k(
    program: ProgramFn, seed: int, depth: int, step_bound: int, fail_nth: Fault | None
) -> int:
    """PCT's ``k``: the length of execution 0, run here as a plain exploration would."""
    chooser = Pct(seed, depth).next_chooser()
    Execution(program, chooser, lockdep=None, step_bound=step_bound, fail_nth=fail_nth).run()
    return max(1, chooser.steps)


_programs: dict[tuple[object, str, str | None], ProgramFn] = {}


def _program(load: Loader, name: str, variant: str | None) -> ProgramFn:
    """The worker's program, built once per process."""
    key = (load, name, variant)
    if key not in _programs:
        _programs[key] = load(name, variant)
    return _programs[key]


def _share(
    load: Loader,
    name: str,
    variant: str | None,
    strategy: str,
    seed: int,
    depth: int,
    k: int | None,
    start: int,
    stride: int,
    total: int,
    step_bound: int,
    options: tuple[tuple[str, str], ...],
    fail_nth: Fault | None,
) -> ExploreResult:
    """Random or pct, one share: executions ``start, start + stride, ...`` below ``total``."""
    count = len(range(start, total, stride))
    chosen = (
        Pct(seed, depth, start=start, stride=stride, k=k)
        if strategy == "pct"
        else RandomWalk(seed, start=start, stride=stride)
    )
    return explore(
        _program(load, name, variant),
        strategy=chosen,
        executions=count,
        step_bound=step_bound,
        scenario=name,
        options=options,
        fail_nth=fail_nth,
    )


def _subtree(
    load: Loader,
    name: str,
    variant: str | None,
    task: Task,
    preemption_bound: int | None,
    step_bound: int,
    options: tuple[tuple[str, str], ...],
    fail_nth: Fault | None,
) -> tuple[ExploreResult, list[Escape], list[Summary]]:
    """dfs, one task: explore its subtree; its result, escapes and summary."""
    strategy = Subtree(task, preemption_bound=preemption_bound)
    result = explore(
        _program(load, name, variant),
        strategy=strategy,
        step_bound=step_bound,
        scenario=name,
        options=options,
        fail_nth=fail_nth,
    )
    return result, strategy.escapes, strategy.summary
