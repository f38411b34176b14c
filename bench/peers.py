"""Peer programs: executions to exhaust and wall time, lockstep's dfs beside frontrun's DPOR.

The programs take locks and share nothing else (locks are ``Mutex(LockClass(...))``, one class
per lock, taken with ``async with``; for frontrun ``threading.Lock``, bench/peers_frontrun.py):

- P1 abba: t1 takes A then B, t2 B then A (deadlocks);
- P1g gated abba: the same under a gate lock G, taken first (no deadlock);
- phil N: philosopher i takes fork i then fork (i+1)%N, N = 3..--max-n (deadlocks);
- phil-rev N: the same, the last philosopher taking its forks the other way (no deadlock);
- P4 private: three actors, each takes and releases a lock of its own.

Lockstep runs in this process: ``explore(program, strategy="dfs")`` with lockdep on (its
default; ``--no-lockdep`` turns it off), capped at ``--max-executions`` (shown as ``>``).
frontrun (0.7.x, Python >= 3.12) runs next, in a subprocess with ``--frontrun-python``
(default ``.venv-peers/bin/python``), unbounded (no preemption bound, a deadlock does not
stop it) but for ``--frontrun-budget`` seconds a program (``>`` when hit; default 60, which
stops phil N=8, ~2.5 min each to exhaust; 0: no budget); bench/peers_frontrun.py says how
its count is taken. ``hand`` is the count worked by hand: one execution per lock-order
trace (which actor takes each lock first) that completes, plus one per deadlock: P1 2 + 1,
P1g 2, phil N 2^N - 2 + 1, phil-rev N 2^N - 2, P4 1 (two of the 2^N orders of N forks are
cycles; in phil one of them is the deadlock). The tools run one after the other, not
competing for the CPU; each ratio (frontrun / lockstep) comes from the one run of each.
With ``--repeat R`` each program runs R times per tool; the seconds are the median, and
the spread (max - min) / 2 is printed beside it.

    ~/.pyenv/versions/3.12.1/bin/python3.12 -m venv .venv-peers
    .venv-peers/bin/pip install 'frontrun==0.7.*'
    python bench/peers.py [--max-n 8] [--json] [--max-executions 100000] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lockstep.scheduler import LockClass, Mutex, Program, explore

ROOT = Path(__file__).resolve().parent.parent
FRONTRUN_SCRIPT = Path(__file__).resolve().parent / "peers_frontrun.py"
DEFAULT_FRONTRUN_PYTHON = ROOT / ".venv-peers" / "bin" / "python"
VENV_COMMAND = (
    "~/.pyenv/versions/3.12.1/bin/python3.12 -m venv .venv-peers && "
    ".venv-peers/bin/pip install 'frontrun==0.7.*'"
)

ProgramFn = Callable[[], Program]
Actor = Callable[[], Any]


def nest(*locks: Mutex) -> Actor:
    """An actor that takes ``locks`` in order, nested (``async with a, b:``)."""

    async def actor() -> None:
        if len(locks) == 1:
            async with locks[0]:
                pass
        elif len(locks) == 2:
            async with locks[0], locks[1]:
                pass
        else:
            async with locks[0], locks[1], locks[2]:
                pass

    return actor


def abba() -> Program:
    a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))
    return Program({"t1": nest(a, b), "t2": nest(b, a)})


def gated_abba() -> Program:
    g, a, b = Mutex(LockClass("G")), Mutex(LockClass("A")), Mutex(LockClass("B"))
    return Program({"t1": nest(g, a, b), "t2": nest(g, b, a)})


def philosophers(n: int, reverse_last: bool) -> ProgramFn:
    def program() -> Program:
        forks = [Mutex(LockClass(f"fork{i}")) for i in range(n)]
        actors = {}
        for i in range(n):
            first, second = forks[i], forks[(i + 1) % n]
            if reverse_last and i == n - 1:
                first, second = second, first
            actors[f"p{i}"] = nest(first, second)
        return Program(actors)

    return program


def private() -> Program:
    return Program({f"t{i}": nest(Mutex(LockClass(f"L{i}"))) for i in range(3)})


def programs(max_n: int) -> dict[str, tuple[ProgramFn, int]]:
    """The programs by name (bench/peers_frontrun.py uses the same names), each with its
    hand count: its lock-order traces that complete, and one per deadlock."""
    found: dict[str, tuple[ProgramFn, int]] = {
        "P1 abba": (abba, 2 + 1),
        "P1g gated abba": (gated_abba, 2),
    }
    for n in range(3, max_n + 1):
        found[f"phil N={n}"] = (philosophers(n, False), 2**n - 2 + 1)
    for n in range(3, max_n + 1):
        found[f"phil-rev N={n}"] = (philosophers(n, True), 2**n - 2)
    found["P4 private"] = (private, 1)
    return found


def slug(name: str) -> str:
    return "peers-" + name.lower().replace(" ", "-").replace("=", "")


def run_lockstep(
    name: str, program: ProgramFn, cap: int, lockdep: bool, repeat: int
) -> dict[str, Any]:
    runs: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = explore(
            program, strategy="dfs", executions=cap, lockdep=lockdep, scenario=slug(name)
        )
        runs.append(time.perf_counter() - start)
    return {
        "executions": result.executions,
        "seconds": statistics.median(runs),
        "runs": runs,
        "exhausted": result.exhausted,
        "deadlock": any(f.kind == "deadlock" for f in result.findings),
        "findings": sorted({f.kind for f in result.findings}),
    }


def run_frontrun(
    python: Path, max_n: int, budget: float | None, repeat: int, console: Console
) -> dict[str, Any] | str:
    """frontrun's figures by program, or why there are none."""
    if not python.exists():
        return f"no interpreter at {python} (create it with: {VENV_COMMAND})"
    command = [str(python), str(FRONTRUN_SCRIPT), "--max-n", str(max_n), "--repeat", str(repeat)]
    if budget:
        command += ["--budget", str(budget)]
    console.print(f"[dim]$ {' '.join(command)}[/dim]")
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT, check=False)
    except OSError as e:
        return f"{python} does not run: {e}"
    try:
        out = json.loads(done.stdout)
    except json.JSONDecodeError:
        return f"{FRONTRUN_SCRIPT.name} exited {done.returncode} without its JSON (see above)"
    if "error" in out:
        return str(out["error"])
    return out


def bound(exhausted: bool) -> str:
    return "" if exhausted else ">"


def ratio(num: float, num_exact: bool, den: float, den_exact: bool) -> str:
    """``num / den``; a lower bound (``>``) when only ``num`` is a lower bound, an upper one
    (``<``) when only ``den`` is, ``?`` when both are."""
    if not den:
        return "n/a"
    mark = {(True, True): "", (False, True): ">", (True, False): "<", (False, False): "? "}
    return f"{mark[num_exact, den_exact]}{num / den:,.2f}x"


def secs(value: float) -> str:
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def seconds_cell(row: dict[str, Any]) -> str:
    text = secs(row["seconds"])
    if len(row["runs"]) > 1:
        text += f" ±{secs((max(row['runs']) - min(row['runs'])) / 2)}"
    return text


def table(rows: dict[str, dict[str, Any]], title: str) -> Table:
    out = Table(title=title)
    out.add_column("program", no_wrap=True)
    for column in ("lockstep exec", "lockstep s", "hand", "frontrun exec", "frontrun s"):
        out.add_column(column, justify="right")
    for column in ("exec ratio", "time ratio", "deadlock ls/fr"):
        out.add_column(column, justify="right")
    for name, row in rows.items():
        ls, fr = row["lockstep"], row.get("frontrun")
        cells = [
            name,
            f"{bound(ls['exhausted'])}{ls['executions']:,}",
            seconds_cell(ls),
            f"{row['hand']:,}",
        ]
        if fr is None:
            cells += ["", "", "", "", "yes" if ls["deadlock"] else "no"]
        else:
            star = "" if fr["complete"] or not fr["exhausted"] else "*"
            cells += [
                f"{bound(fr['exhausted'])}{fr['executions']:,}{star}",
                seconds_cell(fr),
                ratio(fr["executions"], fr["exhausted"], ls["executions"], ls["exhausted"]),
                ratio(fr["seconds"], fr["exhausted"], ls["seconds"], ls["exhausted"]),
                f"{'yes' if ls['deadlock'] else 'no'} / {fr['deadlocks']}",
            ]
        out.add_row(*cells)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--max-n", type=int, default=8, help="largest philosophers N (3..)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.add_argument(
        "--max-executions", type=int, default=100_000, help="lockstep's cap per program"
    )
    parser.add_argument("--no-lockdep", action="store_true", help="explore without lockdep")
    parser.add_argument("--repeat", type=int, default=1, help="runs per program and tool")
    parser.add_argument(
        "--frontrun-python",
        type=Path,
        default=DEFAULT_FRONTRUN_PYTHON,
        help="Python >= 3.12 with frontrun 0.7 (default: .venv-peers/bin/python)",
    )
    parser.add_argument(
        "--frontrun-budget",
        type=float,
        default=60.0,
        help="frontrun's seconds per program (0: none; phil N=8 needs ~150 s)",
    )
    parser.add_argument("--no-frontrun", action="store_true", help="lockstep only")
    args = parser.parse_args()
    console = Console(stderr=True)
    lockdep = not args.no_lockdep

    explore(abba, lockdep=lockdep)  # warm-up: imports and first-call costs, untimed
    rows: dict[str, dict[str, Any]] = {}
    for name, (program, hand) in programs(args.max_n).items():
        ls = run_lockstep(name, program, args.max_executions, lockdep, args.repeat)
        rows[name] = {"hand": hand, "lockstep": ls}
        console.print(
            f"[dim]lockstep {name}: {bound(ls['exhausted'])}{ls['executions']:,} "
            f"in {ls['seconds']:.2f} s[/dim]"
        )

    skipped: str | None = "--no-frontrun" if args.no_frontrun else None
    frontrun: dict[str, Any] = {}
    if skipped is None:
        budget = args.frontrun_budget or None
        got = run_frontrun(args.frontrun_python, args.max_n, budget, args.repeat, console)
        if isinstance(got, str):
            skipped = got
        else:
            frontrun = got
            for name, figures in got["programs"].items():
                rows[name]["frontrun"] = figures

    notes = [
        f"lockstep: explore(strategy='dfs'), lockdep {'on' if lockdep else 'off'}, "
        f"cap {args.max_executions:,} executions ('>': cap hit)",
    ]
    if skipped is not None:
        notes.append(f"frontrun skipped: {skipped}")
    else:
        budget = frontrun["budget"]
        notes.append(
            f"frontrun {frontrun['frontrun']} (Python {frontrun['python']}): DPOR, "
            "preemption_bound=None, stop_on_first=False, search='dfs'; "
            + (f"budget {budget:g} s a program ('>': hit); " if budget else "no budget; ")
            + "'*': a deadlocked execution, frontrun's process mode would report "
            "exhausted=False"
        )
        for name, figures in frontrun["programs"].items():
            if "varying" in figures:
                notes.append(f"frontrun {name}: executions vary between runs {figures['varying']}")
    if args.json:
        out = {
            "max_n": args.max_n,
            "lockdep": lockdep,
            "lockstep_cap": args.max_executions,
            "frontrun": {k: v for k, v in frontrun.items() if k != "programs"} or None,
            "frontrun_skipped": skipped,
            "programs": rows,
        }
        print(json.dumps(out, indent=1))
        return
    repeat = f", median of {args.repeat} runs" if args.repeat > 1 else ", one run each"
    title = f"Peer programs: executions to exhaust{repeat}; ratios frontrun / lockstep"
    out = Console()
    if not out.is_terminal:
        out = Console(width=132)
    out.print(table(rows, title))
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
