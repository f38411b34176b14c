"""Executions per second against an earlier revision, measured in one run.

Each round runs, in fresh processes one after the other, the dfs exploration of each
scenario for about ``--seconds`` with the tree given by ``--against`` (a git revision,
checked out into a temporary worktree) and with this tree, and the bare trio ping-pong of
bench/points.py in the same processes. A round's ratio is this tree's executions/s over the
other's; the table gives the median over the rounds and their spread (min-max), raw and
normalised by each process's bare trio points/s. Alternating the two trees within each
round keeps the noise of a shared machine out of the ratio as far as it can be. A second
table gives what a user waits for: the time each tree takes to exhaust the scenario (its
executions per exploration over its executions/s), and its ratio per round. A third gives
the explorer's share of an execution: this tree's dfs executions replayed from their
recorded schedules, with none of DPOR's work (no race analysis, no access records), over
the other tree's dfs and over this tree's. What that replay does not reach, no change to
the explorer can.

The default revision is the one issue 10 ("Exhaustive means exhaustive") was measured on.
Also printed: this tree with and without the setup snapshot, and with and without the
end-state memo (`scheduler.memo`), each pair in turn in one process, once per round.

With ``--instructions N``, each tree instead runs N executions of dfs explorations of
each scenario (each exploration from its start) under valgrind's cachegrind, and the table
gives the instructions per execution (less a process that explores nothing): not wall
time, but a count the other work on a shared machine cannot move, so that a change of a
few per cent shows. It also counts this tree's scenarios with ``close = false``: the work
of a revision from before every scenario ended by closing its files.

With ``--exhaust``, it times instead each scenario's whole ``--faults`` dfs exploration,
with the end-state memo and without, in turn in this process, ``--rounds`` times.

    python bench/speed.py [--against REV] [--rounds N] [--seconds S] [--instructions N]
    python bench/speed.py --exhaust [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

#: the revision issue 10's figures (516 executions/s on replace-vs-alloc) were taken on
ISSUE_10 = "2d34352"
SCENARIOS = ("replace-vs-alloc", "map-vs-attach")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: what a measuring process runs: only API both revisions have
MEASURE = """
import json, sys, time
sys.path.insert(0, {bench!r})
import points
{imports}
out = {{"bare": 20_000 / points.bare_pingpong(20_000)}}
for name in {names!r}:
    program = scenarios.get(name).program
    out[name + " executions"] = explore(program, scenario=name).executions
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < {seconds!r}:
        count += explore(program, scenario=name).executions
    out[name] = count / (time.perf_counter() - start)
{ceiling}
print(json.dumps(out))
"""

#: this tree only: the same executions as dfs, replayed with nothing of DPOR's work (no race
#: analysis, no access records), so that the explorer's own share of an execution shows
CEILING = """
from lockstep.scheduler.strategies import Replay, make_strategy


class Recorded:
    \"\"\"dfs, keeping each execution's choices.\"\"\"

    name = "dfs"

    def __init__(self):
        self.dfs, self.schedules = make_strategy("dfs", 0), []

    @property
    def exhausted(self):
        return self.dfs.exhausted

    def next_chooser(self):
        chooser = self.dfs.next_chooser()
        if chooser is not None:
            end = chooser.end
            chooser.end = lambda ex: (self.schedules.append(tuple(ex.choices)), end(ex))
        return chooser


class Replayed:
    name, exhausted = "replay", True

    def __init__(self, schedules):
        self.schedules = iter(schedules)

    def next_chooser(self):
        choices = next(self.schedules, None)
        return None if choices is None else Replay(choices)


for name in {names!r}:
    program = scenarios.get(name).program
    recorded = Recorded()
    found = explore(program, scenario=name, strategy=recorded).findings
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < {seconds!r}:
        replayed = explore(program, scenario=name, strategy=Replayed(recorded.schedules))
        assert replayed.executions == len(recorded.schedules), "a replay stopped early"
        assert replayed.findings == found, "a replay found something else"
        count += replayed.executions
    out[name + " replayed"] = count / (time.perf_counter() - start)
"""


#: what an instruction count runs: explorations, each from its start, up to so many executions
COUNT = """
{imports}
program = scenarios.get({name!r}).program
if {still_open}:
    import attrs
    from lockstep.scenarios.iommufd import DIRECTORY
    from lockstep.scenarios.spec import build_program
    from lockstep.scenarios.toml_scenario import load_spec
    spec = load_spec(DIRECTORY / ({name!r} + ".toml"))
    program = build_program(attrs.evolve(spec, close=False))
done = 0
while done < {executions}:
    done += explore(program, scenario={name!r}, executions={executions} - done).executions
print(done)
"""
CACHEGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")

#: appended for a packaged tree: the process measured the tree it was given
CHECK = """
import lockstep, os
assert os.path.realpath(os.path.dirname(lockstep.__file__)) == os.path.realpath({tree!r})
"""

#: how a tree names its packages: one import package since the layout became ``lockstep``
IMPORTS_NOW = "from lockstep import scenarios\nfrom lockstep.scheduler import explore"
IMPORTS_BEFORE = "import scenarios\nfrom scheduler import explore"


def run_in(tree: str, code: str, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``code`` with ``tree``'s packages in a fresh process (under ``wrapper``)."""
    packaged = os.path.exists(os.path.join(tree, "__init__.py"))
    code = code.replace("{imports}", IMPORTS_NOW if packaged else IMPORTS_BEFORE)
    with tempfile.TemporaryDirectory() as scratch:
        path = tree
        if packaged:
            # ``lockstep`` must be this tree, not the one installed in the venv: a path
            # entry comes before the editable install's finder
            os.symlink(tree, os.path.join(scratch, "lockstep"))
            path = scratch
            code += CHECK.format(tree=tree)
        env = dict(os.environ, PYTHONPATH=path, PYTHONHASHSEED="0")
        done = subprocess.run(
            [*wrapper, sys.executable, "-c", code],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
        )
    if done.returncode:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr}")
    return done


def measure(tree: str, seconds: float, ceiling: bool = False) -> dict[str, float]:
    """Executions/s of each scenario's dfs in ``tree``, and bare trio points/s; with
    ``ceiling``, also of the same executions replayed without DPOR's work."""
    extra = CEILING.format(names=SCENARIOS, seconds=seconds) if ceiling else ""
    code = MEASURE.format(
        bench=HERE, names=SCENARIOS, seconds=seconds, imports="{imports}", ceiling=extra
    )
    return json.loads(run_in(tree, code).stdout.strip().splitlines()[-1])


def instructions(tree: str, name: str, executions: int, still_open: bool = False) -> float:
    """Instructions per execution of ``executions`` dfs executions of ``name`` in ``tree``
    (explorations from the start, as many as that takes), counted by cachegrind: the
    process with them less the one without. ``still_open``: the scenario with ``close =
    false``, the work of a revision from before scenarios closed their files."""
    counts = []
    for n in (0, executions):
        code = COUNT.format(name=name, executions=n, imports="{imports}", still_open=still_open)
        done = run_in(tree, code, CACHEGRIND)
        counts.append(int(re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)[1].replace(",", "")))
        ran = int(done.stdout.split()[-1])
    return (counts[1] - counts[0]) / ran


def spread(ratios: list[float]) -> str:
    """A table's ratio cells: the median, then the spread (min-max)."""
    return f"{statistics.median(ratios):5.2f}x {min(ratios):5.2f}-{max(ratios):.2f}x"


def without_memo(program: Callable[[], Any]) -> Callable[[], Any]:
    """``program`` with its end-state memo off: each post part runs."""
    import attrs

    return lambda: attrs.evolve(program(), post_reads_state=False)


def in_process_ratios(seconds: float, rounds: int) -> None:
    """This tree, in this process, each switch on against off in turn, ``rounds`` times:
    the setup snapshot (``copy_setup``) and the end-state memo (``post_reads_state``)."""

    from lockstep import scenarios
    from lockstep.scheduler import explore

    def rate(program: Callable[[], Any], **options: bool) -> float:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            count += explore(program, scenario=name, **options).executions
        return count / (time.perf_counter() - start)

    for name in SCENARIOS:
        program = scenarios.get(name).program
        snapshot, memo = [], []
        for _ in range(rounds):
            snapshot.append(rate(program) / rate(program, copy_setup=False))
            memo.append(rate(program) / rate(without_memo(program)))
        for label, ratios in (("the setup snapshot", snapshot), ("the end-state memo", memo)):
            print(
                f"{name}: with {label} / without, one process: "
                f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}x)"
            )


def memo_over_fault_explorations(rounds: int) -> None:
    """This tree, in this process: the wall time of each scenario's whole ``--faults`` dfs
    exploration with the end-state memo and without, in turn, ``rounds`` times."""

    from lockstep import scenarios
    from lockstep.scheduler import explore

    print("whole --faults dfs explorations, with the end-state memo and without, in turn")
    header = f"{'executions':>10} {'memo s':>7} {'off s':>7} {'ratio':>6} {'spread':>12}"
    print(f"{'scenario':<20} {header}")
    for name in SCENARIOS:
        program = scenarios.get(name).program
        variants = {"memo": program, "off": without_memo(program)}
        times: dict[str, list[float]] = {"memo": [], "off": []}
        for _ in range(rounds):
            for label, built in variants.items():
                start = time.perf_counter()
                done = explore(built, scenario=name, faults=True)
                times[label].append(time.perf_counter() - start)
        ratios = [off / memo for memo, off in zip(times["memo"], times["off"], strict=True)]
        print(
            f"{name:<20} {done.executions:>10,} {statistics.median(times['memo']):7.1f} "
            f"{statistics.median(times['off']):7.1f} {spread(ratios)}",
            flush=True,
        )


def count_instructions(other: str, against: str, executions: int) -> None:
    print(f"instructions per dfs execution, over {executions} executions, cachegrind")
    print(
        f"{'scenario':<20} {against:>12} {'this tree':>12} {'ratio':>6} "
        f"{'close = false':>14} {'ratio':>6}"
    )
    for name in SCENARIOS:
        then, now = instructions(other, name, executions), instructions(ROOT, name, executions)
        still_open = instructions(ROOT, name, executions, still_open=True)
        print(
            f"{name:<20} {then:12,.0f} {now:12,.0f} {then / now:5.2f}x "
            f"{still_open:14,.0f} {then / still_open:5.2f}x",
            flush=True,
        )


def compare_trees(rounds: list[tuple[dict[str, float], dict[str, float]]], against: str) -> None:
    """The tables of the rounds: executions/s, the explorer's share, time to exhaust."""
    print(f"executions/s of dfs, this tree against {against}, {len(rounds)} rounds")
    print(f"{'scenario':<20} {'then':>8} {'now':>8} {'ratio':>6} {'spread':>12} {'per bare':>9}")
    for name in SCENARIOS:
        then = statistics.median(old[name] for old, _ in rounds)
        now = statistics.median(new[name] for _, new in rounds)
        ratios = [new[name] / old[name] for old, new in rounds]
        bare = [(new[name] / new["bare"]) / (old[name] / old["bare"]) for old, new in rounds]
        print(
            f"{name:<20} {then:8,.0f} {now:8,.0f} {spread(ratios)} {statistics.median(bare):8.2f}x"
        )
    print()
    print(
        "the explorer's share: this tree's dfs executions replayed without DPOR's work "
        f"(the same schedules), against {against}'s dfs and this tree's"
    )
    print(f"{'scenario':<20} {'replayed':>8} {'/ then':>6} {'spread':>12} {'/ now':>6}")
    for name in SCENARIOS:
        replayed = [new[name + " replayed"] for _, new in rounds]
        then = [r / old[name] for r, (old, _) in zip(replayed, rounds, strict=True)]
        now = [r / new[name] for r, (_, new) in zip(replayed, rounds, strict=True)]
        print(
            f"{name:<20} {statistics.median(replayed):8,.0f} {spread(then)} "
            f"{statistics.median(now):5.2f}x"
        )
    print()
    print(f"time to exhaust (dfs, no faults), this tree against {against}")
    print(
        f"{'scenario':<20} {'executions then':>15} {'now':>6} {'then s':>7} {'now s':>7} "
        f"{'ratio':>6} {'spread':>12}"
    )
    for name in SCENARIOS:
        runs = f"{name} executions"
        then_runs, now_runs = rounds[0][0][runs], rounds[0][1][runs]
        then = [old[runs] / old[name] for old, _ in rounds]
        now = [new[runs] / new[name] for _, new in rounds]
        ratios = [t / n for t, n in zip(then, now, strict=True)]
        print(
            f"{name:<20} {then_runs:>15,} {now_runs:>6,} {statistics.median(then):7.2f} "
            f"{statistics.median(now):7.2f} {spread(ratios)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=ISSUE_10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument(
        "--instructions",
        type=int,
        metavar="N",
        help="instead, count instructions per execution over the first N executions "
        "(valgrind's cachegrind): a figure the machine's noise cannot move",
    )
    parser.add_argument(
        "--exhaust",
        action="store_true",
        help="instead, time whole --faults explorations with the end-state memo and without",
    )
    args = parser.parse_args()
    if args.exhaust:
        memo_over_fault_explorations(args.rounds)
        return
    if args.instructions and not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (Debian package valgrind)")
    with tempfile.TemporaryDirectory() as scratch:
        other = os.path.join(scratch, "tree")
        subprocess.run(
            ["git", "-C", ROOT, "worktree", "add", "--detach", "-q", other, args.against],
            check=True,
        )
        try:
            if args.instructions:
                count_instructions(other, args.against, args.instructions)
                return
            rounds = []
            for n in range(args.rounds):
                old, new = measure(other, args.seconds), measure(ROOT, args.seconds, True)
                rounds.append((old, new))
                print(f"round {n + 1}: {args.against} {old}  this tree {new}", flush=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", other])
    print()
    compare_trees(rounds, args.against)
    print()
    in_process_ratios(args.seconds, args.rounds)


if __name__ == "__main__":
    main()
