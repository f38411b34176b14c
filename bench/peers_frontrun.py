"""The peer programs of bench/peers.py under frontrun's DPOR; prints one JSON object.

Needs Python >= 3.12 with ``frontrun`` 0.7.x; bench/peers.py starts it in a subprocess
with the interpreter of ``.venv-peers``. It imports nothing from this project: each program
is the lockstep one with a ``threading.Lock`` per lock, created in ``setup`` (frontrun
swaps ``threading.Lock`` for its cooperative lock while it explores), and each actor a
thread that takes its locks nested (``with a, b:``) and releases them.

frontrun runs unbounded: ``preemption_bound=None`` (full DPOR; its default is 2),
``stop_on_first=False`` (a deadlock does not end the search), ``max_executions`` 1,000,000,
``search="dfs"`` (its docstring: the fewest executions for an exhaustive search),
``reproduce_on_failure=0`` (no replays of a deadlock's schedule: wall time, no executions),
``detect_io=False`` (no I/O here). Its count is ``InterleavingResult.num_explored``: one per
execution run, to completion or to a deadlock (each deadlocked one is also in ``failures``).
Thread execution leaves ``result.exhausted`` unset, so it is derived as frontrun's process
mode derives it: the engine stopped (its wakeup tree empty) with fewer than
``max_executions`` runs and within ``--budget`` (``total_timeout``). ``complete`` is False
when an execution deadlocked: frontrun's process mode then reports ``exhausted=False``, as an
execution aborted by a deadlock does not seed the wakeup tree with its remaining accesses.

    .venv-peers/bin/python bench/peers_frontrun.py [--max-n N] [--budget S] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

Worker = Callable[[list[Any]], None]
#: a program: how many locks its setup creates, and one worker per thread (each gets the
#: list of locks).
Spec = tuple[int, list[Worker]]


def nest(*indices: int) -> Worker:
    """A worker that takes the locks at ``indices`` in order, nested, and releases them."""

    def worker(locks: list[Any]) -> None:
        # `with a, b:` for any number of locks: when frontrun aborts a deadlocked execution
        # (an exception out of acquire), the locks held are released on the way out
        with ExitStack() as stack:
            for i in indices:
                stack.enter_context(locks[i])

    return worker


def programs(max_n: int) -> dict[str, Spec]:
    """The peer programs by name (the names bench/peers.py uses)."""
    a, b, g = 0, 1, 2
    found: dict[str, Spec] = {
        "P1 abba": (2, [nest(a, b), nest(b, a)]),
        "P1g gated abba": (3, [nest(g, a, b), nest(g, b, a)]),
    }
    for n in range(3, max_n + 1):
        found[f"phil N={n}"] = (n, [nest(i, (i + 1) % n) for i in range(n)])
    for n in range(3, max_n + 1):
        workers = [nest(i, (i + 1) % n) for i in range(n - 1)] + [nest(0, n - 1)]
        found[f"phil-rev N={n}"] = (n, workers)
    found["P4 private"] = (3, [nest(i) for i in range(3)])
    return found


def run(spec: Spec, max_executions: int, budget: float | None) -> dict[str, Any]:
    """Explore one program until frontrun stops; its figures."""
    import frontrun

    count, workers = spec

    def setup() -> list[Any]:
        return [threading.Lock() for _ in range(count)]

    start = time.perf_counter()
    result = frontrun.explore(
        setup=setup,
        workers=workers,
        invariant=lambda _locks: True,
        strategy="dpor",
        preemption_bound=None,
        max_executions=max_executions,
        total_timeout=budget,
        stop_on_first=False,
        reproduce_on_failure=0,
        detect_io=False,
        search="dfs",
    )
    seconds = time.perf_counter() - start
    executions = int(result.num_explored)
    deadlocks = len(result.failures)
    out_of_time = budget is not None and seconds > budget
    exhausted = executions < max_executions and not out_of_time
    exhausted = exhausted and result.inconclusive_reason is None
    return {
        "executions": executions,
        "seconds": seconds,
        "exhausted": exhausted,
        "complete": exhausted and deadlocks == 0,
        "deadlocks": deadlocks,
        "inconclusive": result.inconclusive_reason,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-n", type=int, default=8, help="largest philosophers N")
    parser.add_argument("--max-executions", type=int, default=1_000_000)
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds per program (total_timeout)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per program")
    parser.add_argument("--only", nargs="*", default=None, help="program names to run")
    args = parser.parse_args()
    if sys.version_info < (3, 12):
        json.dump(
            {"error": f"frontrun needs Python >= 3.12, not {sys.version.split()[0]}"}, sys.stdout
        )
        return 3
    # what the `frontrun` CLI sets, without which frontrun.explore refuses to run; its
    # LD_PRELOAD I/O interception is not needed (detect_io=False)
    os.environ.setdefault("FRONTRUN_ACTIVE", "1")
    try:
        from importlib.metadata import version

        import frontrun  # noqa: F401

        installed = version("frontrun")
    except ImportError as e:
        json.dump({"error": f"frontrun is not installed for {sys.executable}: {e}"}, sys.stdout)
        return 3
    programs_by_name = programs(args.max_n)
    run(programs_by_name["P4 private"], 10, None)  # warm-up: first-call costs, untimed
    figures = {}
    for name, spec in programs_by_name.items():
        if args.only is not None and name not in args.only:
            continue
        runs = [run(spec, args.max_executions, args.budget) for _ in range(args.repeat)]
        figures[name] = runs[0] | {"runs": [r["seconds"] for r in runs]}
        if len({r["executions"] for r in runs}) > 1:
            figures[name]["varying"] = [r["executions"] for r in runs]
        print(f"frontrun {name}: {runs[0]['executions']:,}", file=sys.stderr, flush=True)
    out = {
        "frontrun": installed,
        "python": sys.version.split()[0],
        "max_executions": args.max_executions,
        "budget": args.budget,
        "programs": figures,
    }
    json.dump(out, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
