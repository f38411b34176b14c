"""Executions per second against an earlier revision, measured in one run.

Each round runs, in fresh processes one after the other, the dfs exploration of each
scenario for about ``--seconds`` with the tree given by ``--against`` (a git revision,
checked out into a temporary worktree) and with this tree, and the bare trio ping-pong of
bench/points.py in the same processes. A round's ratio is this tree's executions/s over the
other's; the table gives the median over the rounds and their spread (min-max), raw and
normalised by each process's bare trio points/s. Alternating the two trees within each
round keeps the noise of a shared machine out of the ratio as far as it can be.

The default revision is the one issue 10 ("Exhaustive means exhaustive") was measured on.
Also printed: this tree with and without the setup snapshot, in one process.

    python bench/speed.py [--against REV] [--rounds N] [--seconds S]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

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
    explore(program, scenario=name)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < {seconds!r}:
        count += explore(program, scenario=name).executions
    out[name] = count / (time.perf_counter() - start)
print(json.dumps(out))
"""


#: how a tree names its packages: one import package since the layout became ``lockstep``
IMPORTS_NOW = "from lockstep import scenarios\nfrom lockstep.scheduler import explore"
IMPORTS_BEFORE = "import scenarios\nfrom scheduler import explore"


def measure(tree: str, seconds: float) -> dict[str, float]:
    packaged = os.path.exists(os.path.join(tree, "__init__.py"))
    imports = IMPORTS_NOW if packaged else IMPORTS_BEFORE
    code = MEASURE.format(bench=HERE, names=SCENARIOS, seconds=seconds, imports=imports)
    env = dict(os.environ, PYTHONPATH=tree, PYTHONHASHSEED="0")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"measuring {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def snapshot_ratio(seconds: float) -> dict[str, float]:
    """This tree, in this process: executions/s with the setup snapshot over without."""
    from lockstep import scenarios
    from lockstep.scheduler import explore

    ratios = {}
    for name in SCENARIOS:
        program = scenarios.get(name).program
        rates = []
        for copy_setup in (True, False):
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                count += explore(program, scenario=name, copy_setup=copy_setup).executions
            rates.append(count / (time.perf_counter() - start))
        ratios[name] = rates[0] / rates[1]
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=ISSUE_10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        other = os.path.join(scratch, "tree")
        subprocess.run(
            ["git", "-C", ROOT, "worktree", "add", "--detach", "-q", other, args.against],
            check=True,
        )
        try:
            rounds = []
            for n in range(args.rounds):
                old, new = measure(other, args.seconds), measure(ROOT, args.seconds)
                rounds.append((old, new))
                print(f"round {n + 1}: {args.against} {old}  this tree {new}", flush=True)
        finally:
            subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", other])
    print()
    print(f"executions/s of dfs, this tree against {args.against}, {args.rounds} rounds")
    print(f"{'scenario':<20} {'then':>8} {'now':>8} {'ratio':>6} {'spread':>12} {'per bare':>9}")
    for name in SCENARIOS:
        then = statistics.median(old[name] for old, _ in rounds)
        now = statistics.median(new[name] for _, new in rounds)
        ratios = [new[name] / old[name] for old, new in rounds]
        bare = [(new[name] / new["bare"]) / (old[name] / old["bare"]) for old, new in rounds]
        print(
            f"{name:<20} {then:8,.0f} {now:8,.0f} {statistics.median(ratios):5.2f}x "
            f"{min(ratios):5.2f}-{max(ratios):.2f}x {statistics.median(bare):8.2f}x"
        )
    print()
    for name, ratio in snapshot_ratio(args.seconds).items():
        print(f"{name}: with the setup snapshot / without, one process: {ratio:.2f}x")


if __name__ == "__main__":
    main()
