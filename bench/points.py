"""Scheduling points per second: the runtime beside a bare trio park/reschedule ping-pong.

Both are measured in this process, on the same workload: two tasks hand control to each
other at every point, so every point is a task switch. The runtime runs with lockdep and
tracing off (its bare cost: choosing, footprints, hand-off); a second figure shows it with
lockdep on and the random strategy. Target: the runtime reaches at least half the bare rate.

    python bench/points.py [--points N] [--repeat R]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import trio
import trio.testing

from lockstep.scheduler import point
from lockstep.scheduler.lockdep import Lockdep
from lockstep.scheduler.runtime import Execution
from lockstep.scheduler.strategies import RandomWalk


class Alternate:
    """Always hands over to another actor: a ping-pong, like the bare baseline."""

    def choose(self, options: list[int]) -> int:
        return options[1]


def bare_pingpong(points: int) -> float:
    """Seconds for ``points`` hand-offs between two trio tasks with park/reschedule."""
    tasks: dict[int, trio.lowlevel.Task] = {}
    state = {"n": 0, "finished": False}

    def abort(_: object) -> trio.lowlevel.Abort:
        return trio.lowlevel.Abort.FAILED

    async def player(me: int) -> None:
        tasks[me] = trio.lowlevel.current_task()
        await trio.lowlevel.wait_task_rescheduled(abort)
        other = tasks[1 - me]
        while state["n"] < points:
            state["n"] += 1
            trio.lowlevel.reschedule(other)
            await trio.lowlevel.wait_task_rescheduled(abort)
        if not state["finished"]:
            state["finished"] = True
            trio.lowlevel.reschedule(other)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(player, 0)
            nursery.start_soon(player, 1)
            await trio.testing.wait_all_tasks_blocked()
            trio.lowlevel.reschedule(tasks[0])

    start = time.perf_counter()
    trio.run(main)
    return time.perf_counter() - start


def runtime_points(points: int, *, lockdep: bool, chooser: object) -> tuple[float, int]:
    def program() -> dict:
        async def actor() -> None:
            for _ in range(points // 2):
                await point("x", write=False)

        return {"a": actor, "b": actor}

    ex = Execution(program, chooser, lockdep=Lockdep() if lockdep else None, step_bound=points * 2)
    start = time.perf_counter()
    ex.run()
    return time.perf_counter() - start, ex.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bare, fast, full = [], [], []
    for _ in range(args.repeat):
        bare.append(args.points / bare_pingpong(args.points))
        seconds, steps = runtime_points(args.points, lockdep=False, chooser=Alternate())
        fast.append(steps / seconds)
        seconds, steps = runtime_points(
            args.points, lockdep=True, chooser=RandomWalk(1).next_chooser()
        )
        full.append(steps / seconds)
    b, f, r = (statistics.median(x) for x in (bare, fast, full))
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, trio {trio.__version__}; median of {args.repeat}"
    )
    print(f"{'workload':<44} {'points/s':>10}")
    print(f"{'bare trio park/reschedule ping-pong':<44} {b:>10,.0f}")
    print(f"{'runtime, lockdep off, switch every point':<44} {f:>10,.0f}")
    print(f"{'runtime, lockdep on, random strategy':<44} {r:>10,.0f}")
    print(f"ratio runtime/bare: {f / b:.2f} (target >= 0.50)")


if __name__ == "__main__":
    main()
