"""The controlled runtime: one execution of a program under a strategy.

Design note. An execution runs inside ``trio.run``. Every actor is a trio task, and the invariant
is that *exactly one actor task is runnable at any moment*: at each scheduling point the
running actor asks the strategy which actor takes the next step, reschedules that one
(``trio.lowlevel.reschedule``) and parks itself (``wait_task_rescheduled``). Trio's run queue
therefore never holds more than one task, and trio's own ordering never decides anything;
the strategy makes every choice, in one place (`Execution.switch`). This is direct hand-off,
one task switch per point (measured at ~135k points/s here, against ~78k for a separate
conductor task; see shared/reference/python-stack.md). When the strategy picks the running
actor again, nothing parks at all.

An exploration runs its executions one after another in one ``trio.run`` (`run_all`): a
fresh run costs ~0.25 ms, a tenth of an execution. Nothing leaks from one execution into
the next all the same: each has its own nursery, every task of the one before has ended
(or been unwound with `ExecutionAborted`) before the next starts, and no actor can see
trio's state (the clock is virtual, and actors may not await trio primitives). Replay runs
an execution in a run of its own, and gives the same result byte for byte.

An actor that cannot have a lock parks with ``blocked_on`` set; it is runnable again only
when the lock is grantable to it, so it never retries in vain. No runnable actor while some
are not done is a deadlock, detected at the moment the last runnable actor parks or ends.
Ending an execution early (deadlock, exception, step bound) resumes every parked actor with
`ExecutionAborted`, a ``BaseException`` so that model code's ``except Exception`` cannot
swallow it; while aborting, releases and points do nothing, so ``finally`` blocks unwind
without scheduling and without records.

Actors may only wait on emulated locks. An actor that awaits a real trio primitive would
stall the whole execution; a virtual clock (trio's MockClock with autojump) and a watchdog
deadline turn that into a finding instead of a hang.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Protocol, TypeVar

import outcome
import trio
import trio.testing
from attrs import define, field

from lockstep.scheduler import access
from lockstep.scheduler.events import (
    ACQUIRE,
    FREE,
    FREE_HELD,
    PEEK,
    PEEK_HELD,
    QUEUE_READER,
    QUEUE_WRITER,
    READ,
    READ_ACQUIRE,
    READ_RELEASE,
    RELEASE,
    WRITE,
    Event,
    Fault,
    Footprint,
    Key,
    Signature,
    Site,
    signature,
)

if TYPE_CHECKING:
    from lockstep.scheduler.lockdep import Lockdep
    from lockstep.scheduler.locks import _Lock
    from lockstep.scheduler.memo import PostMemo
    from lockstep.scheduler.snapshot import SetupSnapshot

ActorFn = Callable[[], Awaitable[None]]
T = TypeVar("T")

_HERE = os.path.dirname(os.path.abspath(__file__))
_SKIP = (_HERE, contextlib.__file__)
_TRIO = os.path.dirname(os.path.abspath(trio.__file__))
DEFAULT_STEP_BOUND = 10_000
#: Wall-clock seconds one step may take before it is a step-bound finding (an actor that
#: loops with no scheduling point), and how often that is checked.
STEP_SECONDS = 10.0
_TICK_SECONDS = 1.0
#: Virtual seconds after which an execution in which every task waits is declared stalled.
#: The clock is trio's MockClock with autojump: it only moves when no task can run, which
#: under the scheduler happens only when an actor waits on a real trio primitive.
_STALL_SECONDS = 1_000_000


_NO_ACCESS = Footprint()
#: `Execution.new_oid`'s creator numbers for the objects the setup and the post part make
#: (0 is the program's build, 2 and up the actors)
_SETUP_CREATOR = 1
_POST_CREATOR = 0xFFFF


class ExecutionAborted(BaseException):
    """Raised inside parked actors when their execution ends early; never a finding."""


class InvariantViolation(Exception):
    """Raised by model code (or a program's check) when an invariant is broken."""


class Chooser(Protocol):
    """Picks the actor that takes the next step, among at least two runnable ones.

    A chooser that also has ``step(runnable, running) -> Actor`` is called at *every* step
    of the actors' phase instead, even where one actor alone can run: partial-order
    reduction needs each step's actor and footprint. The footprint of the step that just
    ended is `Execution.last_footprint` then. Choices are still recorded only where several
    actors could run, so the schedule line is the same either way. Such a chooser may also
    have ``end(execution)``, called once when the actors' phase ends (the last step's
    footprint is there too, and the actors still blocked).
    """

    def choose(self, options: list[int]) -> int: ...


@define
class Program:
    """What a program callable returns: the actors, and optional setup and end check.

    ``setup`` runs alone first (as the actor ``setup``); then ``actors`` run concurrently under
    the strategy; then ``post`` alone (as the actor ``post``); then ``check`` (a plain
    function) may raise `InvariantViolation`. The setup and the post part are fault-free and
    race with nothing, so the explorer does not record their accesses: equivalent
    interleavings of the actors leave the same state, and the post part does the same from it.
    """

    actors: Mapping[str, ActorFn]
    setup: ActorFn | None = None
    check: Callable[[], None] | None = None
    #: runs alone after the actors, before ``check`` (the post part of a Lincheck
    #: scenario): what comes after the race, such as tearing everything down
    post: ActorFn | None = None
    #: the state the setup builds is the program's own: an exploration may copy it after the
    #: first setup instead of running the setup again (`scheduler.snapshot`)
    copy_setup: bool = False
    #: objects made outside the program that its state reaches: a copy shares them
    share: tuple[object, ...] = ()
    #: ``post`` and ``check`` read only tracked state (`scheduler.access`): an exploration
    #: that copies the setup may run them once per end state the actors leave
    #: (`scheduler.memo`)
    post_reads_state: bool = False


@define(eq=False)
class HeldLock:
    """An entry of an actor's held-lock stack, as lockdep keeps it."""

    lock: _Lock
    key: str
    read: bool
    trylock: bool
    site: Site | None
    reported_at_return: bool = False


@define(eq=False)
class Actor:
    index: int
    name: str
    fn: ActorFn
    task: trio.lowlevel.Task | None = None
    #: What the actor is about to do (a label for reports, set at each scheduling point).
    pending: str = ""
    #: The lock this actor is about to take (runnable only once it is grantable), and
    #: whether it wants it exclusively.
    blocked_on: _Lock | None = None
    blocked_write: bool = True
    done: bool = False
    held: list[HeldLock] = field(factory=list)
    #: Operation names, outermost first, each with the held-lock depth at its beginning.
    operations: list[tuple[str, int]] = field(factory=list)
    atomic: int = 0

    @property
    def operation(self) -> str:
        return self.operations[-1][0] if self.operations else self.name

    def runnable(self) -> bool:
        if self.done:
            return False
        lock = self.blocked_on
        return lock is None or lock._grantable(self, self.blocked_write)


@define(eq=False)
class RawFinding:
    """A finding as an execution reports it, before the explorer adds its schedule."""

    kind: str
    classes: tuple[str, ...]
    key: tuple[object, ...]
    title: str
    message: str
    #: Earlier executions whose lock-graph edges this finding needs (lockdep reports).
    executions: tuple[int, ...] = ()
    actor: str = ""
    position: int | None = None
    entry: str = ""

    @property
    def signature(self) -> Signature:
        """What identifies this bug across executions and runs (`events.signature`)."""
        return signature(self.kind, self.classes, self.key)


_current: Execution | None = None


def current() -> Execution:
    """The running execution; model code calls the scheduler API only from inside one."""
    if _current is None:
        raise RuntimeError("no lockstep execution is running: run this code through explore()")
    return _current


def instance_name(class_name: str) -> str:
    """A deterministic name for a new lock instance: the class name, then ``#2``, ``#3``..."""
    if _current is None:
        return class_name
    n = _current.instances.get(class_name, 0) + 1
    _current.instances[class_name] = n
    return class_name if n == 1 else f"{class_name}#{n}"


def model_where(skip_frames: int = 2) -> str:
    """The model code line that called into the scheduler: ``function (file.py:line)``."""
    frame = sys._getframe(skip_frames)
    skip = _SKIPPED
    while frame.f_back is not None:
        code = frame.f_code
        inside = skip.get(code)
        if inside is None:
            inside = skip[code] = code.co_filename.startswith(_SKIP)
        if not inside:
            break
        frame = frame.f_back
    code, line = frame.f_code, frame.f_lineno
    where = _WHERE.get((code, line))
    if where is None:
        name = code.co_qualname.rpartition("<locals>.")[2]
        where = _WHERE[code, line] = f"{name} ({os.path.basename(code.co_filename)}:{line})"
    return where


#: `model_where`'s answers: a code line is formatted once per process.
_WHERE: dict[tuple[object, int], str] = {}
#: `Execution.site`'s answers: a frozen value, made once per (actor, operation, line)
_SITES: dict[tuple[str, str, str], Site] = {}
#: whether a code object is the scheduler's (or contextlib's), which `model_where` skips
_SKIPPED: dict[object, bool] = {}


class Execution:
    """One run of a program from start until every actor is done, deadlocked or failed."""

    def __init__(
        self,
        program: Callable[[], Program | Mapping[str, ActorFn]],
        chooser: Chooser,
        *,
        lockdep: Lockdep | None = None,
        index: int = 0,
        trace: bool = False,
        step_bound: int = DEFAULT_STEP_BOUND,
        fail_nth: Fault | None = None,
        step_seconds: float | None = -1.0,
        snapshot: SetupSnapshot | None = None,
    ) -> None:
        self.program = program
        #: the exploration's copy of the setup's result, if it keeps one
        self.snapshot = snapshot
        #: a step that runs longer than this (an actor looping with no scheduling point)
        #: is a step-bound finding; None: no time bound; negative: `STEP_SECONDS`
        self.step_seconds = (
            STEP_SECONDS if step_seconds is not None and step_seconds < 0 else step_seconds
        )
        self._tick = (-1, 0.0)
        self.chooser = chooser
        self.lockdep = lockdep
        self.index = index
        self.trace: list[Event] | None = [] if trace else None
        self.step_bound = step_bound
        self.fail_nth = fail_nth
        #: fault points each actor passed, by actor index (the setup's and the post part's
        #: are not counted: they run fault-free, as the kernel's fail_nth tests enable
        #: injection only after their setup)
        self.fault_points: dict[int, int] = {}
        self.fault_fired = False
        #: the creator of the objects the part running alone makes (`_SETUP_CREATOR`,
        #: `_POST_CREATOR`); None while the actors run
        self._alone: int | None = None
        self.steps = 0
        self.choices: list[int] = []
        self.findings: list[RawFinding] = []
        self.instances: dict[str, int] = {}
        #: objects made so far by each creator (`new_oid`)
        self._made: dict[int, int] = {}
        #: the footprint of the step that just ended (for a chooser's ``step`` and ``end``)
        self.last_footprint = _NO_ACCESS
        #: the actors' phase records accesses (`scheduler.access`)
        self._recording = False
        #: the exploration's end-state memo, if this execution may use it
        self._memo: PostMemo | None = None
        #: what the actors' phase changed (`access._written`), for the memo; None: unknown
        self.written: dict[Key, object] | None = None
        #: when the execution ended early: each actor then waiting for a lock, with the
        #: lock's key and whether it wanted it exclusively
        self.blocked_at_end: list[tuple[int, int, bool]] = []
        self.deadlocked = False
        #: actors whose current wait the trace already shows
        self._shown_waiting: set[Actor] = set()
        self.actors: list[Actor] = []
        #: every actor of the execution, setup first, in program order.
        self.actor_names: list[str] = []
        self.running: Actor | None = None
        self.aborted = False
        self.error: Exception | None = None
        self._root: trio.lowlevel.Task | None = None
        self._parked = 0
        #: the chooser's ``step`` during the actors' phase, if it wants every step (DPOR)
        self._step: Callable[[list[Actor], Actor | None], Actor] | None = None

    # -- running ----------------------------------------------------------------------

    def run(self) -> None:
        """Build the program afresh and run it to the end in a ``trio.run`` of its own."""
        run_all(_one(self))

    @contextlib.contextmanager
    def _entered(self) -> Iterator[None]:
        """This execution is the running one (`current`) while the block runs."""
        global _current
        if _current is not None:
            raise RuntimeError(
                "an execution is already running in this process (one at a time, in any thread)"
            )
        _current = self
        access._oid_source = self.new_oid
        self._tick = (self.steps, time.monotonic())
        try:
            yield
        finally:
            _current = None
            access._oid_source = None
            access._sink = None
            access._written = None

    async def _hosted(self) -> None:
        """Run this execution inside the trio run of `run_all`."""
        self._root = trio.lowlevel.current_task()
        with self._entered():
            if self.lockdep is not None:
                self.lockdep.begin_execution(self.index)
            restored = self.snapshot.restore(self) if self.snapshot is not None else None
            if (
                restored is not None
                and self.snapshot is not None
                and self.trace is None
                and restored.post_reads_state
                and not restored.share
            ):
                self._memo = self.snapshot.post
            await self._main(restored or self._build(), setup_done=restored is not None)

    def _build(self) -> Program:
        built = self.program()
        if not isinstance(built, Program | Mapping):
            raise ProgramError(
                "a program callable must return a Program or a mapping of actor names to "
                f"async functions, not {type(built).__name__}"
            )
        program = built if isinstance(built, Program) else Program(actors=built)
        if not program.actors:
            raise ProgramError("a program needs at least one actor")
        return program

    async def _main(self, program: Program, setup_done: bool) -> None:
        memo, key, before = self._memo, None, None
        with trio.move_on_after(_STALL_SECONDS) as watchdog:
            if program.setup is not None and not setup_done:
                await self._setup(program, program.setup)
            if not self.aborted:
                await self._phase(program.actors, main=True)
            if memo is not None and not self.aborted and (program.post or program.check):
                key = memo.key(self)
                if key is not None:
                    if memo.replay(self, key):
                        if program.post is not None:
                            self.actor_names.append("post")
                        return
                    before = memo.before(self)
            if not self.aborted and program.post is not None:
                await self._alone_phase("post", program.post, _POST_CREATOR)
        if watchdog.cancelled_caught:
            self._stalled()
            return
        if not self.aborted and program.check is not None:
            try:
                program.check()
            except (InvariantViolation, AssertionError) as exc:
                self.report(
                    "invariant",
                    (),
                    ("invariant", str(exc)),
                    f"invariant: {exc}",
                    _invariant_text("the end check", exc),
                )
        if memo is not None and key is not None and before is not None:
            memo.keep(self, key, before)

    async def _setup(self, program: Program, setup: ActorFn) -> None:
        """Run the setup alone; the exploration's snapshot may keep what it built."""
        snapshot = self.snapshot
        take = snapshot is not None and snapshot.wants(program)
        before = dict(self.lockdep.counts) if take and self.lockdep is not None else {}
        await self._alone_phase("setup", setup, _SETUP_CREATOR)
        if take and snapshot is not None:
            snapshot.take(self, program, before)

    async def _alone_phase(self, name: str, fn: ActorFn, creator: int) -> None:
        """Run ``fn`` alone as the actor ``name`` (the setup, the post part): fault-free,
        unrecorded, its objects numbered as ``creator``'s."""
        self._alone = creator
        await self._phase({name: fn}, main=False)
        self._alone = None

    async def _phase(self, actors: Mapping[str, ActorFn], main: bool) -> None:
        self.actors = [Actor(i, name, fn) for i, (name, fn) in enumerate(actors.items())]
        self._step = getattr(self.chooser, "step", None) if main else None
        self._recording = main
        if main:
            access._written = {} if self._memo is not None else None
        self.actor_names += actors
        self._parked = 0
        async with trio.open_nursery() as nursery:
            for actor in self.actors:
                nursery.start_soon(self._actor_main, actor, name=actor.name)
            await trio.lowlevel.wait_task_rescheduled(self._cancelled)
            try:
                self._hand_to(self._choose(list(self.actors)))
            except ScheduleMismatch as exc:
                self.error = exc.error
                self._abort(None)
                return
            await trio.lowlevel.wait_task_rescheduled(self._cancelled)
        if main:
            self._end_phase()

    def new_oid(self) -> int:
        """A stable object id: who creates it (the build, the setup, an actor), then how
        many objects that creator made before (see `scheduler.access`)."""
        actor = self.running
        if actor is None:
            creator = 0
        elif self._alone is not None:
            creator = self._alone
        else:
            creator = actor.index + 2
        n = self._made.get(creator, 0) + 1
        self._made[creator] = n
        return (creator << 24) | n

    def _on_tick(self) -> None:
        """A tick of `_step_timer`: raise `StepTimeout` in an actor stuck in one step
        for longer than ``step_seconds``."""
        steps, since = self._tick
        now = time.monotonic()
        if self.steps != steps:
            self._tick = (self.steps, now)
        elif (
            self.step_seconds is not None
            and now - since > self.step_seconds
            and self.running is not None
            and not self.aborted
        ):
            self._tick = (self.steps, now)
            raise StepTimeout

    def _take_footprint(self) -> None:
        """End the running step: its recorded accesses become `last_footprint`."""
        sink = access._sink
        if sink is not None:
            self.last_footprint = Footprint(sink) if sink else _NO_ACCESS
        access._sink = {} if self._recording and not self.aborted else None

    def _end_phase(self) -> None:
        """The actors' phase is over: hand the last footprint to the chooser's ``end``."""
        self._take_footprint()
        access._sink = None
        self.written, access._written = access._written, None
        self._recording = False
        end = getattr(self.chooser, "end", None)
        if end is not None:
            end(self)

    async def _actor_main(self, actor: Actor) -> None:
        actor.task = trio.lowlevel.current_task()
        self._parked += 1
        if self._parked == len(self.actors):
            trio.lowlevel.reschedule(self._root)
        try:
            await trio.lowlevel.wait_task_rescheduled(self._cancelled)
            self.event(actor, "start")
            actor.operations.append((actor.name, 0))
            await actor.fn()
            self.operation_end(actor)
            actor.done = True
            self.event(actor, "done")
            self._after_done(actor)
        except ExecutionAborted:
            return
        except StepTimeout as exc:
            where = _model_frames(exc)
            site = where[-1] if where else "?"
            self.report(
                "step-bound",
                (),
                ("step-bound", "time", actor.name, site),
                f"step bound exceeded: {actor.name} ran more than {self.step_seconds:g} s "
                f"without a scheduling point, at {site}",
                f"livelock? {actor.name} ran more than {self.step_seconds:g} s without reaching a "
                f"scheduling point; it was at {site}",
            )
            self._abort(actor)
        except SystemExit as exc:
            # a program's sys.exit() is its bug, not the tool's end
            self.report(
                "exception",
                (),
                ("exception", "SystemExit", actor.name),
                f"exception in {actor.name}: SystemExit({exc.code!r})",
                f"BUG: {actor.name} raised SystemExit({exc.code!r})",
            )
            self._abort(actor)
        except ScheduleMismatch as exc:
            self.error = exc.error
            self._abort(actor)
        except InvariantViolation as exc:
            self.report(
                "invariant",
                (),
                ("invariant", str(exc)),
                f"invariant: {exc}",
                _invariant_text(f"{actor.name} ({actor.operation})", exc),
            )
            self._abort(actor)
        except (KeyboardInterrupt, trio.Cancelled):
            raise
        except BaseException as exc:
            # any other exception, GeneratorExit or a program's own BaseException included,
            # is the program's bug: a finding, never the tool's crash
            where = _model_frames(exc)
            self.report(
                "exception",
                (),
                ("exception", type(exc).__name__, where[-1] if where else ""),
                f"exception in {actor.name}: {type(exc).__name__}: {exc}",
                _exception_text(actor, exc, where),
            )
            self._abort(actor)

    def _after_done(self, actor: Actor) -> None:
        """``actor`` returned: hand over to the next actor, end the phase, or deadlock."""
        runnable = [a for a in self.actors if a.runnable()]
        if runnable:
            self._hand_to(self._choose(runnable))
        elif all(a.done for a in self.actors):
            trio.lowlevel.reschedule(self._root)
        else:
            self._deadlock(actor)
            self._abort(actor)

    def _stalled(self) -> None:
        """Every task waited on something other than the scheduler: the running actor
        awaited a real trio primitive. The virtual clock jumped to the watchdog's deadline."""
        actor = self.running
        name = actor.name if actor is not None else "setup"
        self.report(
            "exception",
            (),
            ("exception", "stalled", name),
            f"{name} blocked outside the scheduler",
            f"BUG: {name} blocked outside the scheduler: model code awaited a real trio "
            "primitive (an Event, a channel, a sleep without end); actors may only wait on "
            "emulated locks",
        )

    def _cancelled(self, _: object) -> trio.lowlevel.Abort:
        """Trio cancels a parked task only when the runtime itself crashed: unwind quietly,
        so that the crash surfaces from ``trio.run`` instead of hanging the nursery."""
        self.aborted = True
        return trio.lowlevel.Abort.SUCCEEDED

    async def switch(self, actor: Actor, label: str) -> None:
        """A scheduling point of the running ``actor``, about to do ``label``.

        Chooses who takes the next step; parks ``actor`` unless it is chosen itself. Returns
        when ``actor`` is chosen to run (and, if it was blocked, the lock is grantable).
        """
        if self.aborted:
            raise ExecutionAborted
        actor.pending = label
        self.steps += 1
        if self.steps > self.step_bound:
            self.report(
                "step-bound",
                (),
                ("step-bound",),
                f"step bound exceeded: more than {self.step_bound} steps",
                _step_bound_text(self),
            )
            self._abort(actor)
            raise ExecutionAborted
        # `Actor.runnable`, inline: this is the hottest line of an execution
        runnable = [
            a
            for a in self.actors
            if not a.done and (a.blocked_on is None or a.blocked_on._grantable(a, a.blocked_write))
        ]
        if not runnable:
            self._deadlock(actor)
            self._abort(actor)
            raise ExecutionAborted
        chosen = self._choose(runnable, actor)
        if chosen is actor:
            return
        self._hand_to(chosen)
        await trio.lowlevel.wait_task_rescheduled(self._cancelled)

    def _choose(self, runnable: list[Actor], running: Actor | None = None) -> Actor:
        if self._recording:
            self._take_footprint()
        step = self._step
        if step is not None:
            chosen = step(runnable, running)
            if len(runnable) > 1:
                self.choices.append(chosen.index)
            return chosen
        if len(runnable) == 1:
            return runnable[0]
        options = [a.index for a in runnable]
        if running is not None and running in runnable:
            options.remove(running.index)
            options.insert(0, running.index)
        index = self.chooser.choose(options)
        self.choices.append(index)
        return self.actors[index]

    def _hand_to(self, actor: Actor) -> None:
        self.running = actor
        assert actor.task is not None
        trio.lowlevel.reschedule(actor.task)

    def _abort(self, running: Actor | None) -> None:
        """End the execution early: resume every parked actor with `ExecutionAborted`, and
        the root task unless it is the one running (``running`` is None)."""
        self.aborted = True
        if access._sink is not None:
            self._take_footprint()
            self.blocked_at_end = [
                (a.index, a.blocked_on.key, a.blocked_write)
                for a in self.actors
                if a.blocked_on is not None and not a.done
            ]
        for actor in self.actors:
            if actor is not running and not actor.done and actor.task is not None:
                trio.lowlevel.reschedule(actor.task, outcome.Error(ExecutionAborted()))
        if running is not None:
            assert self._root is not None
            trio.lowlevel.reschedule(self._root)

    def _deadlock(self, running: Actor) -> None:
        from lockstep.scheduler.deadlock import deadlock_report

        self.deadlocked = True
        self.add(deadlock_report(self))

    # -- records ----------------------------------------------------------------------

    def event(
        self, actor: Actor, kind: str, obj: str = "", detail: str = "", where: str = ""
    ) -> None:
        if self.trace is not None:
            self.trace.append(Event(self.steps, actor.name, kind, obj, detail, where))

    def site(self, actor: Actor) -> Site | None:
        if self.lockdep is None:
            return None
        key = (actor.name, actor.operation, model_where(3))
        site = _SITES.get(key)
        if site is None:
            site = _SITES[key] = Site(*key)
        return site

    def report(
        self,
        kind: str,
        classes: tuple[str, ...],
        key: tuple[object, ...],
        title: str,
        message: str,
        executions: tuple[int, ...] = (),
    ) -> None:
        self.add(RawFinding(kind, classes, key, title, message, executions))

    def add(self, finding: RawFinding) -> None:
        """Record a finding with where it happened: the running actor and the trace position.

        Findings are not trace events: a lockdep report depends on the edges that earlier
        executions recorded, while the trace depends only on the choices, so that a replay's
        trace equals the original's event for event.
        """
        running = self.running
        finding.actor = running.name if running is not None else ""
        finding.position = len(self.trace) if self.trace is not None else None
        if running is not None and not running.done:
            finding.entry = " > ".join(name for name, _ in running.operations[1:])
        self.findings.append(finding)

    # -- the operations locks and model code call -------------------------------------

    async def acquire(self, lock: _Lock, write: bool, subclass: int, trylock: bool) -> bool:
        """Acquire ``lock`` for the running actor (``mode`` exclusive unless ``write`` is false).

        Lockdep validates the attempt before the scheduling point, as ``lock_acquire`` runs
        before the kernel's lock slow path: an inversion is reported even if this attempt
        then deadlocks. A trylock never waits and adds no dependency into its lock.

        The actor reaches the lock, then the scheduling point; it is runnable again only
        once the lock is grantable to it, and the step it is chosen for takes the lock. So
        waiting is no step of its own: how long an actor waited, and when the holder
        released, make no difference to the execution, only who took the lock in which
        order does (the lock-aware equivalence of `scheduler.dpor`).
        """
        if self.aborted:
            raise ExecutionAborted
        actor = self.running
        assert actor is not None
        key = lock.cls.key(subclass)
        site = self.site(actor)
        if lock.sleeping and actor.atomic and not trylock:
            self._sleep_in_atomic(actor, f"lock({key})", key)
        if self.trace is not None:
            where = site.where if site else ""
            self.event(actor, "acquire", lock.name, _mode(write, trylock), where)
        if self.lockdep is not None and not trylock:
            self.lockdep.check_acquire(self, actor, lock, key, not write, site)
        if trylock:
            await self.switch(actor, f"trylock {lock.name}")
            held = any(holder is actor for holder, _ in lock._holders())
            access.record(lock.key, PEEK_HELD if held else PEEK)
            self._check_not_freed(lock, "used")
            if not lock._grantable(actor, write):
                self.event(actor, "trylock-failed", lock.name)
                return False
        else:
            entry = (actor, write)
            lock.waiters.append(entry)
            actor.blocked_on, actor.blocked_write = lock, write
            if lock.queues:
                access.record(lock.key, QUEUE_WRITER if write else QUEUE_READER)
            if self.trace is not None and not lock._grantable(actor, write):
                self._show_wait(actor, lock)
            try:
                await self.switch(actor, f"lock {lock.name}")
            finally:
                actor.blocked_on = None
                lock.waiters.remove(entry)
                self._shown_waiting.discard(actor)
            if lock.freed:
                self._check_not_freed(lock, "used")
        access.record_change(lock.key, ACQUIRE if write else READ_ACQUIRE, lock)
        lock._take(actor, write)
        actor.held.append(HeldLock(lock, key, not write, trylock, site))
        if not lock.sleeping:
            actor.atomic += 1
        if self.trace is not None:
            self.event(actor, "acquired", lock.name, _mode(write, trylock))
            for other, wants_write in lock.waiters:
                if other not in self._shown_waiting and not lock._grantable(other, wants_write):
                    self._show_wait(other, lock)
        return True

    def _show_wait(self, actor: Actor, lock: _Lock) -> None:
        """The trace's ``wait`` event: ``actor`` cannot have ``lock`` now, whether it found
        it taken or someone took it after it arrived (for the pictures; no step)."""
        self._shown_waiting.add(actor)
        self.event(actor, "wait", lock.name, _holders_text(lock))

    def _check_not_freed(self, lock: _Lock, what: str) -> None:
        if lock.freed:
            raise RuntimeError(f"{lock.label()} {what} after its object was freed")

    async def release(self, lock: _Lock, write: bool) -> None:
        """Release ``lock``; releasing a lock the actor does not hold is a bad unlock.

        The scheduling point comes after the release: what runs next, unlocked, can be
        preempted, while the release itself needs no point of its own (nobody can observe
        it before the next acquisition).
        """
        if self.aborted:
            return
        actor = self.running
        assert actor is not None
        access.record_change(lock.key, RELEASE if write else READ_RELEASE, lock)
        if lock.freed:
            self._check_not_freed(lock, "released")
        for i in range(len(actor.held) - 1, -1, -1):
            held = actor.held[i]
            if held.lock is lock and held.read != write:
                break
        else:
            self._bad_unlock(actor, lock, write)
            return
        del actor.held[i]
        lock._drop(actor, write)
        if not lock.sleeping:
            actor.atomic -= 1
        if self.trace is not None:
            self.event(actor, "release", lock.name, "" if write else "read")
        await self.switch(actor, f"after unlock {lock.name}")

    async def point(self, obj: str | None, write: bool) -> None:
        actor = self.running
        assert actor is not None
        await self.switch(actor, obj or "point")
        if obj:
            access.record(obj, WRITE if write else READ)
            if write:
                access.changed_untracked()
        self.event(actor, "point", obj or "", "write" if write else "read")

    async def fault_point(self, name: str, errno: int) -> bool:
        actor = self.running
        assert actor is not None
        await self.switch(actor, name)
        if self._alone is not None:
            return False
        n = self.fault_points[actor.index] = self.fault_points.get(actor.index, 0) + 1
        if (actor.index, n) != self.fail_nth:
            return False
        self.fault_fired = True
        self.event(actor, "fault", name, f"fails with -{errno}")
        return True

    def operation_end(self, actor: Actor) -> None:
        """Leaving an operation with locks taken inside it: lock held when returning to user."""
        name, depth = actor.operations.pop()
        leaked = [h for h in actor.held[depth:] if not h.reported_at_return]
        if leaked:
            from lockstep.scheduler.lockdep import held_at_return_report

            for held in leaked:
                held.reported_at_return = True
            self.add(held_at_return_report(self, actor, name, leaked))

    def _bad_unlock(self, actor: Actor, lock: _Lock, write: bool) -> None:
        from lockstep.scheduler.lockdep import bad_unlock_report

        self.add(bad_unlock_report(self, actor, lock, write, model_where(4)))

    def _sleep_in_atomic(self, actor: Actor, what: str, sleeping: str | None = None) -> None:
        from lockstep.scheduler.lockdep import sleep_in_atomic_report

        self.add(sleep_in_atomic_report(self, actor, what, model_where(4), sleeping))


class ProgramError(TypeError):
    """The program callable did not build something lockstep can run: the user's mistake,
    told in one line, not a finding and not the tool's bug."""


class StepTimeout(BaseException):
    """Raised in an actor whose step ran longer than the execution's ``step_seconds``
    (a BaseException, so that model code's ``except Exception`` cannot swallow it)."""


class ScheduleMismatch(Exception):
    """Raised by a replay chooser inside an execution; carries the user-facing error."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _mode(write: bool, trylock: bool) -> str:
    return ("write" if write else "read") + (" trylock" if trylock else "")


def _holders_text(lock: _Lock) -> str:
    holders = lock.statistics().holders
    return "held by " + ", ".join(holders) if holders else "behind a waiting writer"


def _model_frames(exc: BaseException) -> list[str]:
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith((_HERE, _TRIO)):
            continue
        frames.append(f"{frame.name} ({os.path.basename(frame.filename)}:{frame.lineno})")
    return frames


def _exception_text(actor: Actor, exc: BaseException, where: list[str]) -> str:
    lines = [
        f"BUG: exception in {actor.name} during {actor.operation}",
        f"{type(exc).__name__}: {exc}",
        "model call trace (innermost last):",
    ]
    lines += [f"  {w}" for w in where]
    return "\n".join(lines)


def _invariant_text(who: str, exc: BaseException) -> str:
    return f"WARNING: invariant broken in {who}\n{exc}"


def _step_bound_text(ex: Execution) -> str:
    lines = [f"livelock? the execution took more than {ex.step_bound} steps", "actors:"]
    for actor in ex.actors:
        state = "done" if actor.done else f"at {actor.pending or '?'}"
        lines.append(f"  {actor.name}: {state}")
    return "\n".join(lines)


def run_all(executions: Generator[Execution, None, T]) -> T:
    """Run every execution the generator yields, one after another, in one ``trio.run``,
    and return what the generator returns.

    A fresh ``trio.run`` costs about a tenth of an execution; one run hosts them all. Each
    execution still starts from nothing trio keeps: its actors are new tasks in a new
    nursery, and every task of the one before has ended. The generator gets control back
    when its execution is over: an execution's error (a schedule that does not fit) is
    thrown in at its ``yield``, as `Execution.run` raises it. So is an exception that ends
    the trio run itself, such as Ctrl-C; if the generator then yields another execution, a
    fresh run hosts the rest.
    """
    host = _Host(executions)
    advance: Callable[[], Execution] = partial(executions.send, None)
    with _step_timer(), _ctrl_c_between_executions(), _young_collections():
        return _run_hosted(executions, host, advance)


#: objects allocated between two collections of the youngest generation, while executions
#: run (Python's default is 700)
_GC_YOUNG = 10_000


@contextlib.contextmanager
def _young_collections() -> Iterator[None]:
    """While executions run, the cyclic collector leaves alone what existed before them
    (``gc.freeze``: the modules, the snapshot's shared objects) and runs less often.

    An execution allocates thousands of short-lived objects (tasks, frames, footprints, the
    program's copy), and with the default settings a collection every few hundred of them
    scans the whole young heap: about 2% of an execution's instructions. Garbage is still
    collected, only in larger batches; nothing an execution does depends on when. A process
    that froze objects itself keeps its own freeze."""
    threshold = gc.get_threshold()
    freeze = gc.get_freeze_count() == 0
    if freeze:
        gc.freeze()
    gc.set_threshold(max(threshold[0], _GC_YOUNG), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if freeze:
            gc.unfreeze()


def _run_hosted(
    executions: Generator[Execution, None, T], host: _Host, advance: Callable[[], Execution]
) -> T:
    while True:
        try:
            first = advance() if not _take_ctrl_c() else executions.throw(KeyboardInterrupt())
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            trio.run(host.run, first, clock=trio.testing.MockClock(autojump_threshold=0))
        except BaseException as exc:
            if not host.in_execution:
                raise
            advance = partial(executions.throw, exc)
            continue
        return host.result  # type: ignore[return-value]


@contextlib.contextmanager
def _step_timer() -> Iterator[None]:
    """A step may run at most `Execution.step_seconds` of wall time: a SIGALRM tick each
    second checks that the running execution's step count moved, and raises `StepTimeout`
    in the stuck actor if it did not. Only in the main thread (signals are delivered
    there), else no bound."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _on_tick)
    signal.setitimer(signal.ITIMER_REAL, _TICK_SECONDS, _TICK_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Ctrl-C came while executions ran, and waits for the current one to end
_ctrl_c = False


@contextlib.contextmanager
def _ctrl_c_between_executions() -> Iterator[None]:
    """Ctrl-C stops the executions between two of them, where the explorer's state is
    whole: the generator gets a KeyboardInterrupt at its ``yield``, as if the execution had
    raised it. Trio would raise it anywhere, even in the task an actor is about to wake,
    and leave the run broken. A second Ctrl-C before the execution ends interrupts at
    once. Only in the main thread, and only if nobody else handles SIGINT."""
    global _ctrl_c
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    _ctrl_c = False
    signal.signal(signal.SIGINT, _on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _ctrl_c = False


def _on_ctrl_c(signum: int, frame: object) -> None:
    global _ctrl_c
    if _ctrl_c:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt
    _ctrl_c = True


def _take_ctrl_c() -> bool:
    """Whether Ctrl-C came since the last execution ended (and forget it)."""
    global _ctrl_c
    pending, _ctrl_c = _ctrl_c, False
    return pending


def _on_tick(signum: int, frame: object) -> None:
    ex = _current
    if ex is not None:
        ex._on_tick()


class _Host:
    """The task of `run_all`'s trio run: runs an execution, hands it back, takes the next."""

    def __init__(self, executions: Generator[Execution, None, object]) -> None:
        self.executions = executions
        self.in_execution = False
        self.result: object = None

    async def run(self, ex: Execution) -> None:
        while True:
            self.in_execution = True
            await ex._hosted()
            self.in_execution = False
            try:
                if ex.error is not None:
                    ex = self.executions.throw(ex.error)
                elif _take_ctrl_c():
                    ex = self.executions.throw(KeyboardInterrupt())
                else:
                    ex = self.executions.send(None)
            except StopIteration as stop:
                self.result = stop.value
                return


def _one(ex: Execution) -> Generator[Execution, None, None]:
    yield ex


# -- the public functions model code calls ------------------------------------------------


async def point(obj: str | None = None, *, write: bool = True) -> None:
    """A scheduling point: an explicit preemption window.

    Accesses to tracked state are recorded without it (`scheduler.access`); ``obj`` names
    untracked state the next step reads or writes, declared by hand.
    """
    await current().point(obj, write)


async def fault_point(name: str, errno: int) -> bool:
    """A call that can fail in the kernel (an allocation, a driver op). True: it fails now,
    and the caller must return ``-errno`` as the kernel does there."""
    return await current().fault_point(name, errno)


def fault_injected() -> bool:
    """Whether this execution's failing fault point (fail_nth) has failed already: a program
    may then accept an error it would otherwise report, as fail_nth tests do."""
    return current().fault_fired


@contextlib.contextmanager
def operation(name: str) -> Iterator[None]:
    """One kernel entry (an ioctl): locks it takes and still holds at its end are reported."""
    ex = current()
    actor = ex.running
    assert actor is not None
    actor.operations.append((name, len(actor.held)))
    ex.event(actor, "begin", name)
    yield
    if not ex.aborted:
        ex.operation_end(actor)
        ex.event(actor, "end", name)


def current_actor() -> str:
    """The name of the actor whose code is running (the kernel's ``current``)."""
    actor = current().running
    assert actor is not None
    return actor.name


def might_sleep() -> None:
    """Mark a point that may sleep (a GFP_KERNEL allocation): a bug in atomic context."""
    ex = current()
    actor = ex.running
    assert actor is not None
    if actor.atomic:
        ex._sleep_in_atomic(actor, "might_sleep()")


def lockdep_assert_held(lock: _Lock) -> None:
    """WARN unless the running actor holds ``lock`` (the kernel's ``lockdep_assert_held``).

    It reads only whether *this* actor holds the lock, which no other actor can change, so
    it records no access (a check of other actors' holds does: `debug_check_no_locks_freed`).
    """
    _assert_held(lock, True)


def lockdep_assert_not_held(lock: _Lock) -> None:
    """WARN if the running actor holds ``lock``."""
    _assert_held(lock, False)


def lockdep_assert_held_write(lock: _Lock) -> None:
    """WARN unless the running actor holds ``lock`` exclusively (a read hold is not enough)."""
    _assert_held(lock, True, write=True)


def lockdep_assert_held_read(lock: _Lock) -> None:
    """WARN unless the running actor holds ``lock`` shared."""
    _assert_held(lock, True, write=False)


def _assert_held(lock: _Lock, expect: bool, write: bool | None = None) -> None:
    ex = current()
    actor = ex.running
    assert actor is not None
    held = any(h.lock is lock and (write is None or h.read != write) for h in actor.held)
    if held != expect:
        from lockstep.scheduler.lockdep import assert_report

        check = "lockdep_assert_held" if expect else "lockdep_assert_not_held"
        if write is not None:
            check += "_write" if write else "_read"
        ex.add(assert_report(ex, actor, lock, expect, model_where(3), check))


def debug_check_no_locks_freed(*locks: _Lock) -> None:
    """An object is freed with these locks: none may still be held (lockdep's check)."""
    from lockstep.scheduler.lockdep import freed_report

    ex = current()
    actor = ex.running
    assert actor is not None
    where = model_where(2)
    for lock in locks:
        holders = lock._holders()
        access.record_change(lock.key, FREE_HELD if (actor, True) in holders else FREE, lock)
        if holders:
            ex.add(freed_report(ex, actor, lock, holders, where))
        lock.freed = True
