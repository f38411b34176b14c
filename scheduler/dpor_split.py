"""Optimal DPOR split by prefixes: one exhaustive exploration shared out to processes.

Design note. The exploration tree is cut at a depth, ``split``. The coordinator
(`Splitter`) runs DPOR on the nodes above the cut as one process would. When one of its
executions (a *probe*) goes past the cut, the rest of that subtree is a *task*: the probe's
stack is shipped to a worker (`Subtree`), which explores below the cut as `Dpor` does and
never backtracks above it. The probe is the task's first execution; nobody runs it twice.

A race found in a task may need its reversal planned at a node above the cut. The worker
sends it back with its result as an *escape*: the node's path (the actors of the steps
before it), the task's branch there, and the sequence to wake. The coordinator plans it as
`Dpor` would, and if that adds a branch to a node it had finished, *reopens* the node: it
replays the node's path and explores the new branch from there.

Order. Optimal DPOR is order-sensitive: in one process a subtree is explored to the end
before its next sibling, so a sequence planned from the subtree is inserted into that
sibling's wakeup tree before the sibling runs, and steers it. Here the sibling may already
have been probed (its actor is in the node's sleep set *after* the task's branch: sleep
sets keep the order actors fell asleep in). Such a *late* sibling is not taken as covering
the sequence, as an earlier one is; the coordinator descends into it as `_insert` descends
into a pending branch: through the late sibling's node, whose explored branches are all
late in turn, until the sequence is covered (it reaches a node whose first step was free:
a wakeup tree's leaf) or adds a branch, which that node then explores with the sleep set
one process would give it. Below the cut the nodes are the workers': each task reports,
when done, the nodes such a descent can reach (`Summary`: guided nodes and their
children), and a sequence that reaches a task still out waits for its result. Should a
descent go past what was reported, the sequence is explored again from the last node known,
with the sleep set the late sibling had (a *late task*): a superset of what one process
explores there, so never a trace less, at the price of some twice.

So the split explores the traces one process explores, each once: a test checks this at
every cut depth on seven programs, against one process's traces (which test_dpor checks
against the brute-force count).

Determinism. The coordinator takes results in the order it shipped the tasks, and only
when it has nothing to probe or enough tasks out, so what it explores does not depend on
which worker is faster: the same split gives the same executions and replay lines.
"""

from __future__ import annotations

import pickle
from collections import deque

from attrs import frozen

from lockstep.scheduler.dpor import (
    Dpor,
    _Branch,
    _DporRun,
    _insert,
    _Node,
    _weak_initial,
    add_branch,
    covered,
    without,
)
from lockstep.scheduler.events import Footprint

Path = tuple[int, ...]
Steps = list[tuple[int, Footprint | None]]
#: A race planned above the cut: ``(kind, path, branch, steps, after)``; kind "wake" (steps:
#: the sequence, to precede the step ``after``) or "branch" (steps: the one step to add,
#: bounded search only; ``after`` None); ``branch`` is the actor the task's execution took
#: at that node.
Escape = tuple[str, Path, int, Steps, Footprint | None]

#: A worker reports the nodes a late sequence can reach when it is done with them (the
#: guided ones near its floor and their children), down to this many levels, so that the
#: sequence is planned where one process would plan it; past that, a late task.
SUMMARY_DEPTH = 64

#: Without an explicit split, the cut is at this fraction of the first execution's steps:
#: deep enough for tens of tasks on the shipped scenarios, shallow enough that each task
#: still runs many executions.
SPLIT_FRACTION = 0.4


@frozen
class Task:
    """A subtree to explore: the pickled stack, the depth the worker owns from, whether the
    stack's last execution is to be analysed first (a probe's) or a new one run, and the
    path of the subtree's root (the first node the worker owns)."""

    stack: bytes
    floor: int
    probed: bool
    root: Path


#: A node a worker is done with, for the coordinator: path, enabled, running, preemptions,
#: sleep set, inherited sleepers, guided.
Summary = tuple[Path, tuple[int, ...], int, int, dict[int, Footprint | None], int, bool]


def sleepers(
    node: _Node, branch: int
) -> tuple[list[tuple[int, Footprint | None]], list[tuple[int, Footprint | None]]]:
    """``node``'s sleep set split at ``branch``: the actors asleep before it was taken there
    (all, if it is not asleep itself), and those that fell asleep after it."""
    items = list(node.sleep.items())
    for i, (actor, _) in enumerate(items):
        if actor == branch:
            return items[:i], items[i + 1 :]
    return items, []


def own_branches(node: _Node) -> list[tuple[int, Footprint | None]]:
    """The branches explored at ``node``, in order (its sleepers after the inherited ones)."""
    return list(node.sleep.items())[node.inherited :]


def pack(stack: list[_Node], actors: Path, floor: int) -> bytes:
    """``stack`` for a worker, as flat rows: each node's wakeup tree without the branch the
    next node continues (that is the next node's own), so pickling never recurses deeper
    than one wakeup sequence; ``actors`` override the nodes' taken steps (a path that is
    not the coordinator's current one); nodes above ``floor - 1`` ship no wakeup tree."""
    rows = []
    for i, node in enumerate(stack):
        wut = node.wut
        children = wut.children if i >= floor - 1 else []
        chained = i + 1 < len(stack) and bool(children) and children[0] is stack[i + 1].wut
        rows.append(
            (
                node.enabled,
                node.running,
                node.sleep,
                node.preemptions,
                actors[i] if i < len(actors) else node.actor,
                node.fp,
                node.inherited,
                node.guided,
                wut.actor,
                wut.fp,
                children[1:] if chained else children,
                chained,
            )
        )
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


def unpack(blob: bytes) -> list[_Node]:
    stack: list[_Node] = []
    chains: list[bool] = []
    for row in pickle.loads(blob):
        enabled, running, sleep, preemptions, actor, fp = row[:6]
        inherited, guided, wut_actor, wut_fp, children, chained = row[6:]
        wut = _Branch(wut_actor, wut_fp)
        wut.children = list(children)
        node = _Node(enabled, running, sleep, wut, preemptions)
        node.actor, node.fp = actor, fp
        node.inherited, node.guided = inherited, guided
        stack.append(node)
        chains.append(chained)
    for i, chained in enumerate(chains):
        if chained:
            stack[i].wut.children.insert(0, stack[i + 1].wut)
    return stack


class Splitter(Dpor):
    """The coordinator's DPOR: the nodes above the cut, the tasks below it, and what the
    tasks report of the nodes they are done with."""

    def __init__(
        self,
        *,
        split: int | None = None,
        preemption_bound: int | None = None,
    ) -> None:
        super().__init__(preemption_bound=preemption_bound)
        #: the cut's depth (steps); chosen from the first execution when None
        self.split = split
        #: every node above the cut, and the nodes below it that tasks reported, by path
        self.nodes: dict[Path, _Node] = {}
        #: tasks to ship, oldest first
        self.outbox: deque[Task] = deque()
        #: the roots of the tasks shipped and not back, with the sequences to plan in them
        #: once they are (late sequences that reached them before their summaries)
        self._inflight: dict[Path, list[tuple[Steps, Footprint | None]]] = {}
        self._reopened: deque[Path] = deque()
        self._queued: set[Path] = set()
        #: per node, the sequences explored again from it by late tasks (a wakeup tree)
        self._again: dict[Path, _Branch] = {}
        self._ready = True
        #: probes run, tasks shipped, late tasks among them, nodes reopened by escapes
        self.probes = 0
        self.tasks = 0
        self.late_tasks = 0
        self.reopens = 0

    def probe(self) -> _DporRun | None:
        """The chooser of the next probe; None while no node above the cut has a branch
        left (a task's result may reopen one)."""
        if not self._ready:
            while self._reopened:
                path = self._reopened.popleft()
                self._queued.discard(path)
                if self._resume(path):
                    break
            else:
                return None
        self._ready = False
        self._run = _DporRun(self)
        return self._run

    def finish(self) -> None:
        """After a probe: plan its races above the cut, and queue its subtree below the
        cut as a task if it went that deep."""
        assert self._run is not None
        length = self._run.depth
        self._run = None
        self.probes += 1
        if self.split is None:
            self.split = max(1, round(length * SPLIT_FRACTION))
        split = self.split
        stack = self.stack
        del stack[length:]
        path: list[int] = []
        for node in stack[:split]:
            self.nodes.setdefault(tuple(path), node)
            path.append(node.actor)
        self._races(length)
        if length > split:
            self._ship(Task(pack(stack, (), split), split, True, tuple(path)))
            del stack[split:]
        self._ready = bool(stack) and self._backtrack()
        if not self._ready:
            stack.clear()

    def complete(self, task: Task, escapes: list[Escape], summary: list[Summary]) -> None:
        """A task is back: take its summary, plan the sequences that waited for it, then
        its escapes (the order one process would have planned them in)."""
        for path, enabled, running, preemptions, sleep, inherited, guided in summary:
            if path not in self.nodes:
                node = _Node(enabled, running, sleep, _Branch(path[-1], None), preemptions)
                node.inherited, node.guided = inherited, guided
                self.nodes[path] = node
        for rest, after in self._inflight.pop(task.root, []):
            self._enter(task.root, rest, after)
        for escape in escapes:
            self.escape(escape)

    def escape(self, escape: Escape) -> None:
        """Plan a race a task found above its floor."""
        kind, path, branch, steps, after = escape
        node = self.nodes[path]
        if kind == "wake":
            asleep, late = sleepers(node, branch)
            if not covered(asleep, steps, after):
                self._descend(path, node, late, steps, after)
            return
        ((q, fp),) = steps
        if add_branch(node, q, fp):
            self._grow(path, node)

    def _descend(
        self,
        path: Path,
        node: _Node,
        late: list[tuple[int, Footprint | None]],
        v: Steps,
        after: Footprint | None,
    ) -> None:
        """Insert ``v`` at ``node`` as `_insert` would if the branches ``late`` (explored
        there already, but after the execution ``v`` comes from) were still to come: into
        the first of them that is a weak initial of ``v``, else as a new branch."""
        while True:
            for p, fp in late:
                if _weak_initial(p, fp, v, after):
                    break
            else:
                if _insert(node.wut, v, after):
                    self._grow(path, node)
                return
            rest = without(v, p)
            child = self.nodes.get((*path, p))
            if child is None:
                if (*path, p) in self._inflight:
                    self._inflight[(*path, p)].append((rest, after))
                else:
                    self._late_task(path, node, (p, fp), rest, after)
                return
            if not child.guided or not rest:
                return
            path, node, v, late = (*path, p), child, rest, own_branches(child)

    def _enter(self, path: Path, rest: Steps, after: Footprint | None) -> None:
        """Plan ``rest`` in the subtree at ``path``, now that its task is back."""
        node = self.nodes[path]
        if node.guided and rest:
            self._descend(path, node, own_branches(node), rest, after)

    def _grow(self, path: Path, node: _Node) -> None:
        """``node`` gained a branch: reopen it above the cut; below it, ship each new
        branch as a task (the node's subtree was explored: the branches are asleep there)."""
        if len(path) < (self.split or 0):
            self._reopen(path, node)
            return
        for branch in node.wut.children:
            self._ship_branch(path, node, dict(node.sleep), branch)
            node.sleep[branch.actor] = branch.fp
        node.wut.children.clear()

    def _late_task(
        self,
        path: Path,
        node: _Node,
        sibling: tuple[int, Footprint | None],
        rest: Steps,
        after: Footprint | None,
    ) -> None:
        """Explore ``sibling``'s step then ``rest`` again from ``node``, where the sibling
        was explored already and nothing of its subtree is known here, with the sleep set
        it had; unless an earlier late task covers it."""
        sequence = [sibling, *rest]
        tree = self._again.setdefault(path, _Branch(-1, None))
        if not _insert(tree, sequence, after):
            return
        head = _Branch(-1, None)
        _insert(head, sequence, after)
        self.late_tasks += 1
        self._ship_branch(path, node, dict(sleepers(node, sibling[0])[0]), head.children[0])

    def _ship_branch(
        self, path: Path, node: _Node, sleep: dict[int, Footprint | None], branch: _Branch
    ) -> None:
        """Ship the exploration of ``branch`` at ``node`` with sleep set ``sleep``."""
        depth = len(path)
        root = _Branch(path[-1] if path else -1, None)
        root.children.append(branch)
        copy = _Node(node.enabled, node.running, sleep, root, node.preemptions)
        above = [self.nodes[path[:i]] for i in range(depth)]
        blob = pack([*above, copy], path, depth + 1)
        self._ship(Task(blob, depth + 1, False, (*path, branch.actor)))

    def _ship(self, task: Task) -> None:
        self.tasks += 1
        self._inflight.setdefault(task.root, [])
        self.outbox.append(task)

    def _reopen(self, path: Path, node: _Node) -> None:
        """Queue a node that gained a branch, unless backtracking will reach it anyway."""
        depth = len(path)
        on_stack = depth < len(self.stack) and self.stack[depth] is node
        if (on_stack and depth >= self.floor) or path in self._queued:
            return
        self._queued.add(path)
        self._reopened.append(path)

    def _resume(self, path: Path) -> bool:
        """Make the reopened node at ``path`` the next probe's branching point."""
        node = self.nodes[path]
        children = node.wut.children
        bound = self.preemption_bound
        if bound is not None:
            children[:] = [c for c in children if node.cost(c.actor) <= bound]
        if not children:
            return False
        depth = len(path)
        stack = [self.nodes[path[:i]] for i in range(depth)] + [node]
        for ancestor, actor in zip(stack, path, strict=False):
            ancestor.actor = actor
        self.stack = stack
        self.floor = self.resume_at = depth
        self.reopens += 1
        return True

    def _wake(self, k: int, v: Steps, after: Footprint | None) -> None:
        if k < self._cut():
            stack = self.stack
            self.escape(("wake", tuple(n.actor for n in stack[:k]), stack[k].actor, v, after))

    def _add_branch(self, k: int, q: int, fp: Footprint | None) -> None:
        if k < self._cut():
            stack = self.stack
            path = tuple(n.actor for n in stack[:k])
            self.escape(("branch", path, stack[k].actor, [(q, fp)], None))

    def _cut(self) -> int:
        return len(self.stack) if self.split is None else self.split


class Subtree(Dpor):
    """A worker's DPOR: one task, the subtree below its floor."""

    def __init__(self, task: Task, *, preemption_bound: int | None = None) -> None:
        super().__init__(preemption_bound=preemption_bound)
        self.stack = unpack(task.stack)
        self.floor = task.floor
        #: the races this task found above its floor, in the order found, each once
        self.escapes: list[Escape] = []
        #: the nodes near its floor it is done with, for the coordinator
        self.summary: list[Summary] = []
        self._sent: set[tuple[object, ...]] = set()
        self._probed = task.probed
        if task.probed:
            self._run = _DporRun(self)
            self._run.depth = len(self.stack)
        else:
            self.resume_at = task.floor - 1

    def next_chooser(self) -> _DporRun | None:
        """A probed task first plans its probe's races below the floor (the coordinator
        planned those above it); then as `Dpor`."""
        chooser = super().next_chooser()
        self._probed = False
        return chooser

    def _wake(self, k: int, v: Steps, after: Footprint | None) -> None:
        if k >= self.floor:
            super()._wake(k, v, after)
            return
        if self._probed:
            return
        node = self.stack[k]
        if not covered(sleepers(node, node.actor)[0], v, after):
            self._send(("wake", self._path(k), node.actor, list(v), after))

    def _add_branch(self, k: int, q: int, fp: Footprint | None) -> None:
        if k >= self.floor:
            super()._add_branch(k, q, fp)
        elif not self._probed:
            self._send(("branch", self._path(k), self.stack[k].actor, [(q, fp)], None))

    def _retire(self, depth: int) -> None:
        """Report the nodes a late sequence can reach: those below guided nodes only (an
        unguided node covers any sequence, as a wakeup tree's leaf does)."""
        floor = self.floor
        stack = self.stack
        if depth < floor + SUMMARY_DEPTH and all(stack[i].guided for i in range(floor, depth)):
            node = stack[depth]
            self.summary.append(
                (
                    self._path(depth),
                    node.enabled,
                    node.running,
                    node.preemptions,
                    node.sleep,
                    node.inherited,
                    node.guided,
                )
            )

    def _path(self, k: int) -> Path:
        return tuple(node.actor for node in self.stack[:k])

    def _send(self, escape: Escape) -> None:
        kind, path, branch, steps, after = escape
        key = (kind, path, branch, tuple(steps), after)
        if key not in self._sent:
            self._sent.add(key)
            self.escapes.append(escape)
