"""The exploration benchmark: one table, every figure measured in this run.

- per shipped scenario: executions of naive dfs (capped), of dfs (optimal DPOR), and the
  Mazurkiewicz trace count (brute force, where naive dfs exhausts within the cap); the two
  ratios; DPOR's wall time;
- scheduling points per second of the runtime beside a bare trio ping-pong;
- executions per second on abba (random walks), and on replace-vs-alloc and map-vs-attach
  (dfs), also as a ratio to the bare trio points/s of this run (bench/speed.py compares
  them with an earlier revision);
- executions to the first actual failure (a deadlock, a broken invariant, an exception;
  not a lockdep prediction) under dfs, random and pct (median of 20 seeds);
- executions to the finding of each historical-bug variant under dfs, random and pct, on
  the exploration that catches it (with --faults: fault rounds in turn, as explore runs them);
- resident memory after 10,000 and 100,000 executions of abba, and of replace-vs-destroy
  (whose executions start from the setup snapshot, all in one trio.run), and within one
  dfs exploration of map-vs-attach --faults: it must stay flat;
- the speed-up of ``--jobs 2`` on random walks, and on dfs (DPOR split by prefixes: the
  same executions as one process, checked here).

    python bench/run.py [--quick] [--naive-cap N] [--skip-big] [--variants-only]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable

import trio

from lockstep import scenarios
from lockstep.scenarios import variants
from lockstep.scheduler import explore
from lockstep.scheduler.events import Fault
from lockstep.scheduler.explore import next_fault, note_reached
from lockstep.scheduler.lockdep import Lockdep
from lockstep.scheduler.parallel import explore_parallel
from lockstep.scheduler.runtime import Execution
from lockstep.scheduler.strategies import make_strategy
from lockstep.scheduler.traces import count_traces

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import points  # bench/points.py, beside this file

SHIPPED = [
    "selftest-device",
    "replace-vs-destroy",
    "attach-vs-destroy-ioas",
    "dma-owner-vs-bind",
    "replace-vs-alloc",
    "map-vs-attach",
    "destroy-vs-unbind",
    "auto-domain-vs-auto-domain",
    "two-devices-one-group",
]
TOYS = ["abba", "abbcca", "rwsem-reader-writer", "nested-ok"]
#: lockdep reports a lock-order inversion from any execution that takes both orders, often
#: the first; the first-finding figures count executions to an actual failure instead.
PREDICTIONS = {"circular-dependency"}
WITH_FINDINGS = ["abba", "abbcca", "rwsem-reader-writer", "two-devices-one-group"]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def dfs_memory(name: str, small: int, big: int) -> list[tuple[str, str]]:
    """RSS within one dfs exploration with --faults (DPOR's stack and race cache, the lock
    graph, the findings), after ``small`` and after ``big`` executions."""
    seen: dict[int, float] = {}

    class Enough(Exception):
        pass

    def progress(count: int, _: int) -> None:
        if count in (small, big):
            seen[count] = rss_mib()
        if count == big:
            raise Enough

    program = scenarios.get(name).program
    with contextlib.suppress(Enough):
        # the executions cap is per fault round; the whole exploration stops at ``big``
        explore(program, scenario=name, faults=True, progress=progress)
    return [
        (f"RSS after {n:,} {name} --faults dfs executions (one exploration), MiB", f"{rss:.1f}")
        for n, rss in sorted(seen.items())
    ]


def scenario_row(name: str, naive_cap: int) -> tuple[str, ...]:
    program = scenarios.get(name).program
    start = time.perf_counter()
    dpor = explore(program, scenario=name)
    seconds = time.perf_counter() - start
    try:
        counted = count_traces(program, limit=naive_cap)
        naive, traces = f"{counted.interleavings:,}", counted.traces
        ratio_traces = f"{dpor.executions / traces:.2f}"
        ratio_naive = f"{counted.interleavings / dpor.executions:,.0f}x"
    except RuntimeError:
        naive, traces, ratio_traces = f"> {naive_cap:,}", "", ""
        ratio_naive = (
            f"> {naive_cap / dpor.executions:,.0f}x" if naive_cap > dpor.executions else ""
        )
    return (
        name,
        naive,
        f"{dpor.executions:,}",
        f"{traces:,}" if traces != "" else "n/a",
        ratio_traces or "n/a",
        ratio_naive or "n/a",
        f"{seconds:.1f}",
    )


def first_finding(name: str, strategy: str, seed: int, cap: int) -> int | None:
    program = scenarios.get(name).program
    chosen = make_strategy(strategy, seed, depth=3)
    graph = Lockdep()
    for count in range(1, cap + 1):
        chooser = chosen.next_chooser()
        if chooser is None:
            return None
        ex = Execution(program, chooser, lockdep=graph, index=count - 1)
        ex.run()
        if any(f.kind not in PREDICTIONS for f in ex.findings):
            return count
    return None


def first_variant_finding(variant: variants.NamedVariant, strategy: str, seed: int, cap: int):
    """Executions until the variant's finding appears, running fault rounds in turn as
    ``explore --faults`` does (one execution per round for random and pct: the faulting
    flows are sequential, so the round, not the interleaving, decides)."""
    program = scenarios.get(variant.scenario).with_variant(variant.flags)
    graph, count = Lockdep(), 0
    fail: Fault | None = None
    reached: dict[int, int] = {}
    done: set[Fault] = set()
    per_round = cap if not variant.faults or strategy == "dfs" else 1
    while True:
        chosen, runs = make_strategy(strategy, seed, depth=3), 0
        while count < cap and runs < per_round:
            chooser = chosen.next_chooser()
            if chooser is None:
                break
            ex = Execution(program, chooser, lockdep=graph, index=count, fail_nth=fail)
            ex.run()
            count, runs = count + 1, runs + 1
            if variant.faults and not ex.fault_fired:
                note_reached(reached, ex)
            if any(f.kind == variant.kind for f in ex.findings):
                return count
        fail = next_fault(reached, done)
        if fail is None:
            return None
        done.add(fail)


def variant_rows(seeds: int) -> list[tuple[str, ...]]:
    rows = []
    for variant in variants.VARIANTS:
        exploration = " ".join(variant.command()[1:2] + variant.command()[6:])
        cells = strategy_cells(
            lambda strategy, seed, cap, v=variant: first_variant_finding(v, strategy, seed, cap),
            seeds,
        )
        rows.append((variant.name, exploration, *cells))
    return rows


def strategy_cells(find: Callable[[str, int, int], int | None], seeds: int) -> list[str]:
    """Executions to a finding under dfs, and the median over ``seeds`` seeds under random
    and pct; ``find(strategy, seed, cap)`` gives one run's count (None: not found)."""
    dfs = find("dfs", 0, 200_000)
    cells = [str(dfs) if dfs is not None else "none"]
    for strategy in ("random", "pct"):
        found = [h for h in (find(strategy, seed, 2000) for seed in range(seeds)) if h is not None]
        median = statistics.median(found) if found else None
        cells.append(
            (f"{median:g}" if median is not None else "none")
            + (f" ({len(found)}/{seeds} seeds)" if len(found) < seeds else "")
        )
    return cells


def print_variants(seeds: int) -> None:
    print(
        "executions to each variant's finding "
        f"(random, pct depth 3: median of {seeds} seeds, cap 2000)"
    )
    print(table(("variant", "exploration", "dfs", "random", "pct"), variant_rows(seeds)))


def load(name: str, variant: str | None = None):
    return scenarios.get(name).program


def jobs_speedup() -> str:
    name = "two-devices-one-group"
    start = time.perf_counter()
    explore(load(name), strategy="random", executions=4000, seed=1, scenario=name)
    one = time.perf_counter() - start
    start = time.perf_counter()
    explore_parallel(load, name, jobs=2, strategy="random", executions=4000, seed=1)
    two = time.perf_counter() - start
    return f"{one / two:.2f}x ({one:.1f} s -> {two:.1f} s)"


def dfs_jobs_speedup(name: str) -> tuple[str, str]:
    start = time.perf_counter()
    one = explore(load(name), scenario=name)
    one_s = time.perf_counter() - start
    start = time.perf_counter()
    two = explore_parallel(load, name, jobs=2, strategy="dfs")
    two_s = time.perf_counter() - start
    same = {f.key for f in one.findings} == {f.key for f in two.findings}
    assert same and one.executions == two.executions, (name, one.executions, two.executions)
    return (
        f"--jobs 2 speed-up (dfs, {name}, {one.executions:,} executions in both)",
        f"{one_s / two_s:.2f}x ({one_s:.1f} s -> {two_s:.1f} s)",
    )


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| "
        + " | ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        + " |"
        for r in rows
    ]
    return "\n".join([line, rule, *body])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller memory and seed runs")
    parser.add_argument("--naive-cap", type=int, default=20_000)
    parser.add_argument("--skip-big", action="store_true", help="skip two-devices-one-group")
    parser.add_argument(
        "--variants-only", action="store_true", help="only the historical-bug variants' table"
    )
    args = parser.parse_args()
    print(
        f"# {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}, trio {trio.__version__}"
    )
    print()
    seeds = 5 if args.quick else 20
    if args.variants_only:
        print_variants(seeds)
        return
    rows = []
    for name in TOYS + SHIPPED:
        if args.skip_big and name == "two-devices-one-group":
            continue
        rows.append(scenario_row(name, args.naive_cap))
        print(f"  measured {name}", file=sys.stderr, flush=True)
    print(
        table(
            ("scenario", "naive dfs", "dpor", "traces", "dpor/traces", "naive/dpor", "dpor s"),
            rows,
        )
    )
    print()

    n = 20_000 if args.quick else 100_000
    bare = statistics.median(n / points.bare_pingpong(n) for _ in range(3))
    fast = []
    for _ in range(3):
        seconds, steps = points.runtime_points(n, lockdep=False, chooser=points.Alternate())
        fast.append(steps / seconds)
    rate = statistics.median(fast)
    rows = [
        ("bare trio park/reschedule, points/s", f"{bare:,.0f}"),
        ("runtime, points/s", f"{rate:,.0f}"),
        ("ratio runtime/bare", f"{rate / bare:.2f}"),
    ]
    program = scenarios.get("abba").program
    start = time.perf_counter()
    walks = explore(program, strategy="random", executions=2000, scenario="abba")
    rows.append(
        ("abba executions/s (random)", f"{walks.executions / (time.perf_counter() - start):,.0f}")
    )
    for name in ("replace-vs-alloc", "map-vs-attach"):
        program = scenarios.get(name).program
        # whole explorations, again and again for 3 s: one is too short to time
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < 3.0:
            count += explore(program, scenario=name).executions
        per_second = count / (time.perf_counter() - start)
        rows.append((f"{name} executions/s (dfs)", f"{per_second:,.0f}"))
        rows.append(
            (
                f"{name} executions per 1,000 bare trio points",
                f"{1000 * per_second / bare:.2f}",
            )
        )
    small, big = (10_000, 100_000) if not args.quick else (2_000, 20_000)
    # abba has no setup; replace-vs-destroy's executions start from the setup snapshot
    for name in ("abba", "replace-vs-destroy"):
        program = scenarios.get(name).program
        explore(program, strategy="random", executions=small, scenario=name)
        after_small = rss_mib()
        explore(program, strategy="random", executions=big, scenario=name)
        after_big = rss_mib()
        rows.append((f"RSS after {small:,} {name} executions, MiB", f"{after_small:.1f}"))
        rows.append((f"RSS after {big:,} {name} executions, MiB", f"{after_big:.1f}"))
    rows += dfs_memory("map-vs-attach", small, big)
    rows.append(
        ("--jobs 2 speed-up (random, 4,000 two-devices-one-group executions)", jobs_speedup())
    )
    rows.append(dfs_jobs_speedup("map-vs-attach"))
    if not (args.skip_big or args.quick):
        rows.append(dfs_jobs_speedup("two-devices-one-group"))
    print(table(("measure", "value"), rows))
    print()

    rows = []
    for name in WITH_FINDINGS:
        if args.skip_big and name == "two-devices-one-group":
            continue
        cells = strategy_cells(
            lambda strategy, seed, cap, n=name: first_finding(n, strategy, seed, cap), seeds
        )
        rows.append((name, *cells))
    print(
        "executions to the first failure, not counting lockdep predictions "
        f"(random, pct depth 3: median of {seeds} seeds, cap 2000)"
    )
    print(table(("scenario", "dfs", "random", "pct"), rows))
    print()
    print_variants(seeds)


if __name__ == "__main__":
    main()
