"""Parallel exploration on this machine: one exploration split over worker processes.

Design note. Seeded random walks and PCT give every execution its own generator
(`strategies.execution_rng` of the seed and the execution's index), so the executions are
independent of each other and of the order they run in: worker ``w`` of ``n`` runs
executions ``w, w + n, w + 2n, ...`` of the same exploration, and the union of the workers'
findings is the plain run's (the same kinds and lock classes; the same executions ran).
PCT's step estimate ``k`` comes from execution 0, which the coordinator runs first and
hands to the workers.

For more than one machine the same shares run on an existing engine, Dask distributed
(`explore_parallel(..., dask_scheduler=ADDRESS)`): no cluster code of our own.

Processes, not threads: an execution is CPU-bound Python. Programs are closures and do not
pickle, so each worker builds its own from ``load(name)``, a module-level function the
caller provides (the CLI's scenario lookup); workers are forked.

Limits: each worker has its own lock graph, so a lockdep cycle whose edges only ever appear
in executions that ran in different workers is not reported (an execution that takes both
orders, as most do, is seen wherever it runs). Exhaustive dfs (DPOR) runs in one process:
its wakeup trees and sleep sets are shared state that a partition by prefixes would have to
exchange between workers.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor

from scheduler.explore import DEFAULT_RANDOM_EXECUTIONS, ExploreResult, ProgramFn, explore
from scheduler.pct import Pct
from scheduler.runtime import DEFAULT_STEP_BOUND, Execution
from scheduler.strategies import RandomWalk

#: The strategies whose executions are independent and can be shared out.
PARALLEL_STRATEGIES = ("random", "pct")


def explore_parallel(
    load: Callable[[str], ProgramFn],
    name: str,
    *,
    jobs: int,
    strategy: str = "random",
    executions: int | None = None,
    seed: int = 0,
    depth: int = 3,
    step_bound: int = DEFAULT_STEP_BOUND,
    options: Iterable[tuple[str, str]] = (),
    dask_scheduler: str | None = None,
) -> ExploreResult:
    """Explore scenario ``name`` (``load(name)`` builds its program) with ``jobs`` processes;
    the same executions, and so the same findings, as ``explore`` with one. With
    ``dask_scheduler`` (an address), the shares run on that Dask cluster's workers instead
    (``jobs`` shares, or one per worker when ``jobs`` is 1)."""
    if strategy not in PARALLEL_STRATEGIES:
        raise ValueError(f"--jobs shares out {' and '.join(PARALLEL_STRATEGIES)} explorations")
    total = DEFAULT_RANDOM_EXECUTIONS if executions is None else executions
    k = _pct_k(load(name), seed, depth, step_bound) if strategy == "pct" else None
    options = tuple(options)
    if dask_scheduler is not None:
        results = _on_dask(
            dask_scheduler, jobs, load, name, strategy, seed, depth, k, total, step_bound, options
        )
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            shares = [
                pool.submit(
                    _share,
                    load,
                    name,
                    strategy,
                    seed,
                    depth,
                    k,
                    w,
                    jobs,
                    total,
                    step_bound,
                    options,
                )
                for w in range(jobs)
            ]
            results = [share.result() for share in shares]
    seen: set[tuple[object, ...]] = set()
    findings = []
    edges = set()
    for result in results:
        edges.update(result.edges)
        for finding in result.findings:
            if finding.key not in seen:
                seen.add(finding.key)
                findings.append(finding)
    return ExploreResult(
        name,
        strategy,
        sum(r.executions for r in results),
        False,
        tuple(findings),
        tuple(sorted(edges, key=str)),
    )


def _on_dask(
    address: str,
    jobs: int,
    load: Callable[[str], ProgramFn],
    name: str,
    strategy: str,
    seed: int,
    depth: int,
    k: int | None,
    total: int,
    step_bound: int,
    options: tuple[tuple[str, str], ...],
) -> list[ExploreResult]:
    """The same shares as the local pool, submitted to a Dask distributed cluster: Dask
    ships ``_share`` and ``load`` (module-level functions) to workers that import this
    package, and gathers the results."""
    from distributed import Client

    with Client(address) as client:
        shares = jobs if jobs > 1 else max(1, len(client.scheduler_info()["workers"]))
        futures = [
            client.submit(
                _share,
                load,
                name,
                strategy,
                seed,
                depth,
                k,
                w,
                shares,
                total,
                step_bound,
                options,
                pure=False,
            )
            for w in range(shares)
        ]
        return list(client.gather(futures))


def _pct_k(program: ProgramFn, seed: int, depth: int, step_bound: int) -> int:
    """PCT's ``k``: the length of execution 0, run here as a plain exploration would."""
    chooser = Pct(seed, depth).next_chooser()
    Execution(program, chooser, lockdep=None, step_bound=step_bound).run()
    return max(1, chooser.steps)


def _share(
    load: Callable[[str], ProgramFn],
    name: str,
    strategy: str,
    seed: int,
    depth: int,
    k: int | None,
    start: int,
    stride: int,
    total: int,
    step_bound: int,
    options: tuple[tuple[str, str], ...],
) -> ExploreResult:
    """One worker: executions ``start, start + stride, ...`` below ``total``."""
    count = len(range(start, total, stride))
    chosen = (
        Pct(seed, depth, start=start, stride=stride, k=k)
        if strategy == "pct"
        else RandomWalk(seed, start=start, stride=stride)
    )
    return explore(
        load(name),
        strategy=chosen,
        executions=count,
        step_bound=step_bound,
        scenario=name,
        options=options,
    )
