"""The bad-input campaign, as real processes: the CLI's contract under hostile input.

Mutated schedule lines go to ``lockstep replay``, mutated scenario files to ``lockstep
explore``, and mutated checkpoints to ``lockstep explore --checkpoint``, each in a process
of its own with a time limit and an address-space limit. The contract: exit 0 (clean), 1
(findings) or 2 (bad input); with 2, exactly one line on stderr, starting ``lockstep:
error:``; never a traceback, never status 3 (an internal error), never a timeout or a
MemoryError. Mutations are seeded, so a run is repeatable, and the seeds of the inputs that
break the contract are printed with what they did.

The seeds of the mutations are real: replay lines of the findings the shipped scenarios give,
the shipped TOML scenarios, and a checkpoint an interrupted dfs exploration wrote.

    python bench/hostile.py [--lines 10000] [--tomls 2000] [--checkpoints 500] [--jobs 2]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lockstep import scenarios
from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.scheduler import explore

LOCKSTEP = [os.path.join(os.path.dirname(sys.executable), "lockstep")]
SECONDS = 60
QUIET = ["--no-minimize"]
#: the longest argument Linux passes (MAX_ARG_STRLEN is 128 KiB), less some margin
ARGUMENT_BYTES = 120_000
MEMORY = 2 << 30
#: what a mutation may insert: the characters lines and files are made of, and some others
ALPHABET = "ls1:abcdx0123456789.-/=,_+ \n\t[]{}\"'#é\x00\u2028"


def mutate(text: str, rng: random.Random) -> str:
    """``text`` with one to four characters replaced, inserted, deleted or repeated."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(chars))
        kind = rng.choice(("replace", "insert", "delete", "repeat", "digits"))
        char = rng.choice(ALPHABET)
        if kind == "insert" or at == len(chars):
            chars.insert(at, char)
        elif kind == "replace":
            chars[at] = char
        elif kind == "delete":
            del chars[at]
        elif kind == "repeat":
            chars[at:at] = chars[at : at + rng.randint(1, 8)] * rng.randint(2, 50)
        else:
            chars.insert(at, str(rng.choice((2**63, 10**30, 4300 * "9", -1, 0))))
    return "".join(chars)


def seed_lines() -> list[str]:
    lines = []
    for name in ("abba", "abbcca", "replace-vs-destroy", "replace-vs-alloc", "map-vs-attach"):
        result = explore(scenarios.get(name).program, scenario=name, executions=200)
        lines += [f.schedule for f in result.findings]
        lines.append(f"ls1:{name}:-:0x3.1x3")
    return lines


def seed_checkpoint(scratch: Path) -> bytes:
    """A checkpoint of an interrupted dfs exploration of abbcca."""
    path = scratch / "seed.ckpt"

    class Stop(Exception):
        pass

    def stop(count: int, _: int) -> None:
        if count == 3:
            raise Stop

    with contextlib.suppress(Stop):
        explore(
            scenarios.get("abbcca").program,
            scenario="abbcca",
            checkpoint=str(path),
            checkpoint_every=2,
            progress=stop,
        )
    return path.read_bytes()


def limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def run(argv: list[str]) -> tuple[str, str]:
    """Run one CLI process; its outcome (``exit N``, or a broken contract) and stderr."""
    env = dict(os.environ, PYTHONHASHSEED="0", COLUMNS="100")
    try:
        done = subprocess.run(
            LOCKSTEP + argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=SECONDS,
            preexec_fn=limits,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return "timeout", ""
    err = done.stderr
    if "Traceback" in err or "Traceback" in done.stdout or "MemoryError" in err:
        return "traceback", err
    if done.returncode not in (0, 1, 2):
        return f"exit {done.returncode}", err
    if done.returncode == 2 and (not err.startswith("lockstep: error: ") or err.count("\n") != 1):
        return "exit 2, not one line", err
    return f"exit {done.returncode}", err


def campaign(
    kind: str, count: int, make: Callable[[int], list[str]], jobs: int
) -> tuple[collections.Counter[str], list[tuple[int, str, str]]]:
    """Run ``count`` inputs of ``make(seed)`` (argv) in ``jobs`` threads of processes."""
    outcomes: collections.Counter[str] = collections.Counter()
    broken: list[tuple[int, str, str]] = []

    def one(seed: int) -> tuple[int, str, str]:
        return (seed, *run(make(seed)))

    start = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        for seed, outcome, err in pool.map(one, range(count)):
            outcomes[outcome] += 1
            if outcome not in ("exit 0", "exit 1", "exit 2"):
                broken.append((seed, outcome, err[-600:]))
    print(
        f"{kind}: {count:,} processes in {time.monotonic() - start:,.0f} s: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())),
        flush=True,
    )
    return outcomes, broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--tomls", type=int, default=2_000)
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    lines = seed_lines()
    tomls = sorted(DIRECTORY.glob("*.toml"))
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        checkpoint = seed_checkpoint(scratch).decode()

        def line(seed: int) -> list[str]:
            rng = random.Random(seed)
            # an argument cannot hold a NUL byte: no user can pass one
            text = mutate(rng.choice(lines), rng).replace("\x00", "")
            if len(text.encode()) < ARGUMENT_BYTES:
                return ["replay", text]
            # too long for an argument: from a file, as a user must pass it
            path = scratch / f"l{seed}.line"
            path.write_text(text, errors="surrogatepass")
            return ["replay", str(path)]

        def toml(seed: int) -> list[str]:
            rng = random.Random(seed)
            path = scratch / f"t{seed}.toml"
            path.write_text(mutate(rng.choice(tomls).read_text(), rng), errors="surrogatepass")
            return [
                "explore",
                str(path),
                "--strategy",
                "random",
                "--executions",
                "3",
                "--no-minimize",
            ]

        def ckpt(seed: int) -> list[str]:
            rng = random.Random(seed)
            path = scratch / f"c{seed}.ckpt"
            path.write_text(mutate(checkpoint, rng), errors="surrogatepass")
            return ["explore", "abbcca", "--checkpoint", str(path), *QUIET]

        results = {
            "schedule lines (lockstep replay)": campaign("lines", args.lines, line, args.jobs),
            "scenario files (lockstep explore)": campaign("tomls", args.tomls, toml, args.jobs),
            "checkpoints (explore --checkpoint)": campaign(
                "checkpoints", args.checkpoints, ckpt, args.jobs
            ),
        }
    print()
    print("| input | processes | exit 0 | exit 1 | exit 2 | contract broken |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (outcomes, broken) in results.items():
        total = sum(outcomes.values())
        cells = [f"{outcomes.get(f'exit {n}', 0):,}" for n in (0, 1, 2)]
        print(f"| {name} | {total:,} | {' | '.join(cells)} | {len(broken)} |")
    for name, (_, broken) in results.items():
        for seed, outcome, err in broken[:10]:
            print(f"\n{name}, seed {seed}: {outcome}\n{err}")
    print(json.dumps({n: dict(o) for n, (o, _) in results.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
