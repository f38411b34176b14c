"""Deadlock reports: who waits for whom when no actor can run.

An actor parked on a lock waits for the lock's holders; a reader queued behind a waiting
writer (an rwsem) also waits for that writer. The wait-for graph of actors is small, and its
cycle is found with networkx. A wait with no cycle (a holder that already returned with
the lock held) is reported as the chain of waits that ends at it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx

from lockstep.scheduler.lockdep import all_held_lines
from lockstep.scheduler.runtime import RawFinding

if TYPE_CHECKING:
    from lockstep.scheduler.runtime import Actor, Execution


def _blockers(actor: Actor) -> list[tuple[Actor, str]]:
    """The actors ``actor`` waits for, each with how (``held by`` or ``queued behind``)."""
    lock = actor.blocked_on
    assert lock is not None
    found = [(a, "held by" if w else "read-held by") for a, w in lock._holders()]
    if not actor.blocked_write and not found:
        for waiter, wants_write in lock.waiters:
            if waiter is actor:
                break
            if wants_write:
                found.append((waiter, "queued behind writer"))
    return found


def deadlock_report(ex: Execution) -> RawFinding:
    graph = nx.DiGraph()
    blocked = [a for a in ex.actors if a.blocked_on is not None]
    for actor in blocked:
        graph.add_node(actor.name)
        for other, _ in _blockers(actor):
            graph.add_edge(actor.name, other.name)
    by_name = {a.name: a for a in ex.actors}
    start = ex.running.name if ex.running is not None and ex.running.blocked_on else None
    try:
        cycle = [u for u, _ in nx.find_cycle(graph, source=start)]
    except nx.NetworkXNoCycle:
        cycle = [a.name for a in blocked]
    lines = [
        "=" * 40,
        "DEADLOCK: no actor can run",
        "-" * 40,
        "wait-for cycle:"
        if len(cycle) > 0 and graph.has_edge(cycle[-1], cycle[0])
        else "waits (no cycle: a holder cannot release):",
    ]
    classes: list[str] = []
    for name in cycle:
        actor = by_name[name]
        lock = actor.blocked_on
        assert lock is not None
        classes.append(lock.cls.name)
        how = "; ".join(
            f"{verb} {other.name}" + (" (done)" if other.done else "")
            for other, verb in _blockers(actor)
        )
        mode = "" if actor.blocked_write else " (read)"
        lines.append(f"  {name} waits for {lock.label()}{mode}, {how}")
    lines += ["", "locks held:"]
    lines += ["  " + line for line in all_held_lines(ex)]
    others = [a for a in ex.actors if a.name not in cycle]
    for actor in others:
        lock = actor.blocked_on
        state = "done" if actor.done else f"waits for {lock.name}" if lock else "runnable"
        lines.append(f"  {actor.name}: {state}")
    key = tuple(sorted(zip(cycle, classes, strict=True)))
    return RawFinding(
        "deadlock",
        tuple(classes),
        ("deadlock", key),
        "deadlock: " + ", ".join(f"{n} waits for {c}" for n, c in zip(cycle, classes, strict=True)),
        "\n".join(lines),
    )
