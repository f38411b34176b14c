"""A lock validator after the kernel's ``kernel/locking/lockdep.c``.

It is fed every acquire attempt of every actor. It keeps, like the kernel:

- a held-lock stack per actor (`runtime.Actor.held`);
- one dependency graph of lock classes for the whole exploration, as the kernel keeps one for
  a whole boot. An edge A -> B means "B was acquired while A was held", and keeps the
  acquisition sites of both ends. So an inversion is reported as soon as both orders have
  been seen, in any executions, even if no execution deadlocked: that is what lockdep gives
  that a deadlock finder does not.

The checks follow ``validate_chain``: ``check_deadlock`` (the same class again without a
nesting subclass: "possible recursive locking detected"; a ``down_read`` is a non-recursive
read and counts, while a recursive read, an ``rwlock_t``'s ``read_lock``, may follow any read
of its class and then adds no dependency), then ``check_prevs_add``: an edge from the
top-most held lock, and from the trylocks above the first non-trylock one, to the new lock;
each new edge is checked with a breadth-first search for a path back
(``check_noncircular``), whose shortest result is the reported cycle. Trylocks get no
checks and no edges into them.

Recursive readers (lockdep-design.rst, "Recursive read locks"). A dependency A -> B has a
type: whether A was held exclusively (E) or shared (S), and whether B was taken as a
recursive reader (R) or not (N); an edge keeps every type it was seen with. A recursive
reader is not held back by a waiting writer, so a cycle is a deadlock only along a strong
path: one with no -(xR)-> immediately followed by -(Sx)-> (the recursive reader of the
lock would get it past the writer the shared holder waits for). The search looks only for
strong paths, and for a cycle that stays strong where it closes. Without recursive readers
every path is strong, and this is the plain search.

The report texts follow the kernel's splats, so a kernel developer recognises them; sites
are ``function (file.py:line) [actor: operation]`` instead of a stack trace.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from attrs import evolve, frozen

from lockstep.scheduler.events import Site
from lockstep.scheduler.runtime import RawFinding

if TYPE_CHECKING:
    from lockstep.scheduler.locks import _Lock
    from lockstep.scheduler.runtime import Actor, Execution, HeldLock


#: The dependency types (lockdep's ``DEP_*_BIT``): prev held Exclusive or Shared, next
#: taken as a Recursive reader or Non-recursively.
EN, ER, SN, SR = 1, 2, 4, 8
_ENDS_RECURSIVE = ER | SR
_ENDS_NON_RECURSIVE = EN | SN
_STARTS_EXCLUSIVE = EN | ER


def dep_type(prev_shared: bool, next_recursive: bool) -> int:
    """The type of the dependency from a lock held shared or not to one taken so."""
    return (SN if prev_shared else EN) if not next_recursive else (SR if prev_shared else ER)


@frozen
class Edge:
    """A dependency ``prev -> next``: ``next`` was taken while ``prev`` was held (with the
    sites of the first time), of every type in ``types`` (`EN`, `ER`, `SN`, `SR`)."""

    prev: str
    next: str
    prev_site: Site | None
    next_site: Site | None
    execution: int
    types: int = EN


#: lock-graph pairs with how often each was taken
Pairs = tuple[tuple[tuple[str, str], int], ...]


class Lockdep:
    """The dependency graph of one exploration, and the checks run on each acquisition."""

    def __init__(self) -> None:
        #: prev class -> next class -> the first edge seen (insertion ordered: deterministic).
        self.graph: dict[str, dict[str, Edge]] = {}
        #: how often each edge was taken, over the exploration.
        self.counts: dict[tuple[str, str], int] = {}
        self.execution = 0
        #: the edges taken in the current execution, new or not.
        self.taken: set[tuple[str, str]] = set()
        #: whether the current execution added an edge to the graph.
        self.added = False

    def begin_execution(self, index: int) -> None:
        self.execution = index
        self.taken = set()
        self.added = False

    def pairs_since(self, before: dict[tuple[str, str], int]) -> Pairs:
        """The pairs taken since the counts were ``before``, and how often each: what a part
        of an execution took, for a copy of it to take again (`take_again`)."""
        return tuple(
            (pair, n - before.get(pair, 0))
            for pair, n in self.counts.items()
            if n != before.get(pair, 0)
        )

    def take_again(self, pairs: Pairs) -> None:
        """Count ``pairs`` as taken by the current execution: a part of it that was not run
        again (a setup restored from its snapshot, a post part from the memo) took them."""
        for pair, n in pairs:
            self.taken.add(pair)
            self.counts[pair] = self.counts.get(pair, 0) + n

    def edges(self) -> list[Edge]:
        return [edge for nexts in self.graph.values() for edge in nexts.values()]

    def check_acquire(
        self, ex: Execution, actor: Actor, lock: _Lock, key: str, read: bool, site: Site | None
    ) -> None:
        """``validate_chain`` for an acquisition of class ``key`` by ``actor``."""
        recursive = read and lock.recursive_read
        for held in actor.held:
            if held.key != key:
                continue
            if recursive and held.read:
                # read-after-read recursion of one class (check_deadlock's 2): allowed, and
                # "a secondary read-lock" adds no dependency
                return
            ex.add(_recursive_report(ex, actor, lock, key, read, site, held))
            return
        for held in reversed(actor.held):
            self._check_prev_add(ex, actor, held, key, read, recursive, site)
            if not held.trylock:
                break

    def _check_prev_add(
        self,
        ex: Execution,
        actor: Actor,
        held: HeldLock,
        key: str,
        read: bool,
        recursive: bool,
        site: Site | None,
    ) -> None:
        pair = (held.key, key)
        self.taken.add(pair)
        self.counts[pair] = self.counts.get(pair, 0) + 1
        nexts = self.graph.setdefault(held.key, {})
        kind = dep_type(held.read, recursive)
        edge = nexts.get(key)
        if edge is not None and edge.types & kind:
            return
        path = self._bfs(key, held.key, kind)
        if edge is None:
            nexts[key] = Edge(held.key, key, held.site, site, self.execution, kind)
        else:
            nexts[key] = evolve(edge, types=edge.types | kind)
        self.added = True
        if path is not None:
            ex.add(self._circular_report(ex, actor, held, key, read, site, path))

    def merge(self, edge: Edge, taken: int = 0) -> list[Edge] | None:
        """Add an edge another process's graph recorded (taken ``taken`` times there);
        if it is new here and closes a cycle, the path from its ``next`` back to its
        ``prev`` (the rest of the cycle)."""
        pair = (edge.prev, edge.next)
        self.counts[pair] = self.counts.get(pair, 0) + taken
        nexts = self.graph.setdefault(edge.prev, {})
        mine = nexts.get(edge.next)
        new = edge.types & ~(mine.types if mine is not None else 0)
        if not new:
            return None
        path = None
        for kind in (EN, ER, SN, SR):
            if new & kind and path is None:
                path = self._bfs(edge.next, edge.prev, kind)
        nexts[edge.next] = edge if mine is None else evolve(mine, types=mine.types | new)
        return path

    def _bfs(self, source: str, target: str, closing: int) -> list[Edge] | None:
        """The shortest strong path of edges from ``source`` to ``target`` that a new
        dependency ``target -> source`` of type ``closing`` makes a strong cycle, if any
        (``check_noncircular``'s ``__bfs``, see the module note)."""
        start = (source, bool(closing & _ENDS_RECURSIVE))
        parent: dict[tuple[str, bool], tuple[tuple[str, bool], Edge] | None] = {start: None}
        queue = deque([start])
        while queue:
            state = queue.popleft()
            node, after_recursive = state
            for nxt, edge in self.graph.get(node, {}).items():
                types = edge.types & _STARTS_EXCLUSIVE if after_recursive else edge.types
                for ends_recursive in (False, True):
                    if not types & (_ENDS_RECURSIVE if ends_recursive else _ENDS_NON_RECURSIVE):
                        continue
                    to = (nxt, ends_recursive)
                    if to in parent:
                        continue
                    parent[to] = (state, edge)
                    if nxt == target and not (ends_recursive and not closing & _STARTS_EXCLUSIVE):
                        return _path(parent, to)
                    queue.append(to)
        return None

    def _circular_report(
        self,
        ex: Execution,
        actor: Actor,
        held: HeldLock,
        key: str,
        read: bool,
        site: Site | None,
        path: list[Edge],
    ) -> RawFinding:
        cycle = [edge.prev for edge in path] + [held.key]
        needed = sorted(
            {e.execution for e in path if (e.prev, e.next) not in self.taken} - {self.execution}
        )
        lines = _banner("WARNING: possible circular locking dependency detected", 54)
        lines += [
            f"{actor.name} is trying to acquire lock:",
            f" ({key}){_mode(read)}, at: {_where(site)}",
            "",
            "but task is already holding lock:",
            f" ({held.key}){_mode(held.read)}, at: {_where(held.site)}",
            "",
            "which lock already depends on the new lock.",
            "",
            "",
            "the existing dependency chain (in reverse order) is:",
        ]
        depth = len(path)
        for edge in reversed(path):
            lines += [
                "",
                f"-> #{depth} ({edge.next}):",
                f"       {_where(edge.next_site)}",
                f"       while holding ({edge.prev}), at: {_where(edge.prev_site)}",
            ]
            depth -= 1
        lines += [
            "",
            f"-> #0 ({key}):",
            f"       {_where(site)}",
            f"       while holding ({held.key}), at: {_where(held.site)}",
            "",
            "other info that might help us debug this:",
            "",
        ]
        parent = path[-1].prev
        if parent != key:
            lines += ["Chain exists of:", f"  {key} --> {parent} --> {held.key}", ""]
        lines += [
            " Possible unsafe locking scenario:",
            "",
            "       CPU0                    CPU1",
            "       ----                    ----",
            f"  {_verb(held.read)}({held.key});",
            f"                               lock({parent});",
            f"                               lock({held.key});",
            f"  {_verb(read)}({key});",
            "",
            " *** DEADLOCK ***",
            "",
        ]
        lines += all_held_lines(ex)
        if needed:
            lines += [
                "",
                f"the dependency edges were recorded in {len(needed) + 1} executions of this "
                "exploration: the replay line runs them all, in order, into one lock graph",
            ]
        title = "possible circular locking dependency: " + " -> ".join([*cycle, cycle[0]])
        return RawFinding(
            "circular-dependency",
            tuple(cycle),
            ("circular-dependency", tuple(sorted(cycle))),
            title,
            "\n".join(lines),
            tuple(needed),
        )


def _path(
    parent: dict[tuple[str, bool], tuple[tuple[str, bool], Edge] | None], state: tuple[str, bool]
) -> list[Edge]:
    path: list[Edge] = []
    step = parent[state]
    while step is not None:
        state, edge = step
        path.append(edge)
        step = parent[state]
    return path[::-1]


def _banner(title: str, width: int) -> list[str]:
    return ["=" * width, title, "-" * width]


def _where(site: Site | None) -> str:
    return "?" if site is None else str(site)


def _mode(read: bool) -> str:
    return "{read}" if read else ""


def _verb(read: bool) -> str:
    return "rlock" if read else "lock"


def held_lines(actor: Actor) -> list[str]:
    """``N locks held by ACTOR:`` and one line per held lock, as ``lockdep_print_held_locks``."""
    if not actor.held:
        return [f"no locks held by {actor.name}."]
    count = len(actor.held)
    lines = [f"{count} lock{'s' if count > 1 else ''} held by {actor.name}:"]
    for i, held in enumerate(actor.held):
        lines.append(
            f" #{i}: {held.lock.label(held.key)}{_mode(held.read)}, at: {_where(held.site)}"
        )
    return lines


def all_held_lines(ex: Execution) -> list[str]:
    """The held locks of every actor that holds some (the running one first)."""
    running = ex.running
    actors = sorted(ex.actors, key=lambda a: a is not running)
    lines: list[str] = []
    for actor in actors:
        if actor.held or actor is running:
            lines += held_lines(actor)
    return lines


def _recursive_report(
    ex: Execution,
    actor: Actor,
    lock: _Lock,
    key: str,
    read: bool,
    site: Site | None,
    held: HeldLock,
) -> RawFinding:
    lines = _banner("WARNING: possible recursive locking detected", 44)
    lines += [
        f"{actor.name} is trying to acquire lock:",
        f" {lock.label(key)}{_mode(read)}, at: {_where(site)}",
        "",
        "but task is already holding lock:",
        f" {held.lock.label(held.key)}{_mode(held.read)}, at: {_where(held.site)}",
        "",
        "other info that might help us debug this:",
        " Possible unsafe locking scenario:",
        "",
        "       CPU0",
        "       ----",
        f"  {_verb(held.read)}({held.key});",
        f"  {_verb(read)}({key});",
        "",
        " *** DEADLOCK ***",
        "",
        " May be due to missing lock nesting notation",
        "",
    ]
    lines += held_lines(actor)
    return RawFinding(
        "recursive-locking",
        (key,),
        ("recursive-locking", key),
        f"possible recursive locking: {key} in {actor.name}",
        "\n".join(lines),
    )


def bad_unlock_report(
    ex: Execution, actor: Actor, lock: _Lock, write: bool, where: str
) -> RawFinding:
    verb = "release" if write else "release (read)"
    lines = _banner("WARNING: bad unlock balance detected!", 37)
    lines += [
        f"{actor.name} is trying to {verb} lock {lock.label()} at:",
        f"{where} [{actor.name}: {actor.operation}]",
        "but there are no more locks to release!",
        "",
        "other info that might help us debug this:",
    ]
    lines += held_lines(actor)
    return RawFinding(
        "bad-unlock",
        (lock.cls.name,),
        ("bad-unlock", lock.cls.name, where),
        f"bad unlock balance: {lock.cls.name} in {actor.name}",
        "\n".join(lines),
    )


def held_at_return_report(
    ex: Execution, actor: Actor, operation: str, leaked: list[HeldLock]
) -> RawFinding:
    """``operation`` (the ioctl or entry point that returned) left ``leaked`` held."""
    classes = tuple(h.key for h in leaked)
    lines = _banner("WARNING: lock held when returning to user space!", 48)
    lines += [f"{actor.name} is leaving {operation} with locks still held!"]
    lines += held_lines(actor)
    return RawFinding(
        "held-at-return",
        classes,
        ("held-at-return", operation, classes),
        f"lock held when returning to user space: {', '.join(classes)} "
        f"after {operation} in {actor.name}",
        "\n".join(lines),
    )


def assert_report(
    ex: Execution, actor: Actor, lock: _Lock, expect: bool, where: str, check: str
) -> RawFinding:
    kind = "assert-held" if expect else "assert-not-held"
    holders = lock.statistics().holders
    lines = [
        "------------[ cut here ]------------",
        f"WARNING: {check}({lock.name}) failed in {actor.name} at {where} [{actor.operation}]",
        f"{lock.label()} is "
        + (f"held by {', '.join(holders)}" if holders else "not held by anyone"),
    ]
    lines += held_lines(actor)
    return RawFinding(
        kind,
        (lock.cls.name,),
        (kind, lock.cls.name, where),
        f"{check}({lock.cls.name}) failed in {actor.name} at {where}",
        "\n".join(lines),
    )


def freed_report(
    ex: Execution, actor: Actor, lock: _Lock, holders: list[tuple[Actor, bool]], where: str
) -> RawFinding:
    lines = _banner("WARNING: held lock freed!", 25)
    names = ", ".join(a.name for a, _ in holders)
    lines += [
        f"{actor.name} is freeing memory at {where} [{actor.operation}], "
        "with a lock still held there!",
        f" {lock.label()}, held by {names}",
    ]
    for holder, _ in holders:
        lines += held_lines(holder)
    return RawFinding(
        "held-lock-freed",
        (lock.cls.name,),
        ("held-lock-freed", lock.cls.name, where),
        f"held lock freed: {lock.cls.name} (held by {names}) at {where}",
        "\n".join(lines),
    )


def sleep_in_atomic_report(
    ex: Execution, actor: Actor, what: str, where: str, sleeping: str | None
) -> RawFinding:
    spins = tuple(h.key for h in actor.held if not h.lock.sleeping)
    classes = spins if sleeping is None else (*spins, sleeping)
    lines = [
        f"BUG: sleeping function called from invalid context at {where}",
        f"in_atomic(): 1, name: {actor.name}, operation: {actor.operation}, call: {what}",
    ]
    lines += held_lines(actor)
    return RawFinding(
        "sleep-in-atomic",
        classes,
        ("sleep-in-atomic", classes, where),
        f"sleeping function called from invalid context: {what} under {', '.join(spins)} "
        f"in {actor.name}",
        "\n".join(lines),
    )
