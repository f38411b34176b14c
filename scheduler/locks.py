"""Emulated kernel locks, each made with a lock class.

A lock here is thin, as in loom: it records what it is (its class and instance name), who
holds it and who waits for it, and answers one question for the scheduler, "could this actor
take me now?" (`_grantable`). It never blocks anything itself: acquiring goes through the
running execution (`runtime.Execution.acquire`), which makes the scheduling point, parks an
actor that cannot have the lock, and only chooses it again once `_grantable` says yes. So an
actor blocked on a lock stays parked in the scheduler, out of the runnable set, and no actor
ever waits on a real trio primitive.

Semantics follow Linux: a mutex has one owner; an rwsem has one writer or many readers, and a
new reader waits while a writer waits (so a waiting writer can close a cycle of readers); a
spinlock puts its holder in atomic context, where taking a sleeping lock is a bug.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from attrs import frozen

from lockstep.scheduler import access, runtime
from lockstep.scheduler.events import PEEK, PEEK_HELD

if TYPE_CHECKING:
    from lockstep.scheduler.runtime import Actor


@frozen
class LockClass:
    """The identity lockdep reasons about: one per lock kind per object type.

    Every instance made with an equal class shares its dependency edges. ``mutex_lock_nested``
    style annotations make a subclass, which lockdep treats as a class of its own (``name/1``).
    """

    name: str

    def key(self, subclass: int = 0) -> str:
        return self.name if subclass == 0 else f"{self.name}/{subclass}"

    def __str__(self) -> str:
        return self.name


@frozen
class LockStatistics:
    """A snapshot of a lock: its class, instance name, holders (``actor`` or ``actor(read)``)
    and waiters."""

    lock_class: str
    name: str
    holders: tuple[str, ...]
    waiters: tuple[str, ...]


class _Lock:
    """Common state of every emulated lock. Subclasses define `_grantable`, `_take`, `_drop`."""

    sleeping = True
    #: whether the order of arrivals matters (a waiting writer holds back later readers)
    queues = False
    #: whether its read acquisitions are recursive reads (lockdep's ``read == 2``)
    recursive_read = False
    __slots__ = ("cls", "freed", "key", "name", "waiters")

    def __init__(self, cls: LockClass, name: str | None = None) -> None:
        if not isinstance(cls, LockClass):
            raise TypeError(f"a lock needs a LockClass, not {cls!r}")
        self.cls = cls
        self.name = name if name is not None else runtime.instance_name(cls.name)
        self.freed = False
        #: actors that reached the lock and do not have it yet, with the mode they want
        #: (True = exclusive), in arrival order.
        self.waiters: list[tuple[Actor, bool]] = []
        #: what its operations are recorded on (`scheduler.access`): stable across executions
        self.key = access.new_oid() * access.FIELDS_PER_OBJECT + access.LOCK_SLOT

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} ({self.cls.name})>"

    def label(self, key: str | None = None) -> str:
        """``(class)``, preceded by the instance name when it says more than the class."""
        key = key or self.cls.name
        return f"({key})" if self.name == self.cls.name else f"{self.name} ({key})"

    def _grantable(self, actor: Actor, write: bool) -> bool:
        raise NotImplementedError

    def _take(self, actor: Actor, write: bool) -> None:
        raise NotImplementedError

    def _drop(self, actor: Actor, write: bool) -> None:
        raise NotImplementedError

    def _holders(self) -> list[tuple[Actor, bool]]:
        raise NotImplementedError

    def _state(self) -> tuple[object, ...]:
        """What the end-state memo compares of a lock the actors used (`scheduler.memo`)."""
        return (self.freed, tuple((a.index, w) for a, w in self._holders()), len(self.waiters))

    def init(self) -> None:
        """Initialize it again (``spin_lock_init``, ``mutex_init``, ``init_rwsem``,
        ``rwlock_init``): they all start with ``debug_check_no_locks_freed`` on the lock's
        memory, so initializing a held lock is lockdep's "held lock freed!" report."""
        runtime.debug_check_no_locks_freed(self)
        self.freed = False

    def is_locked(self) -> bool:
        """Whether anyone holds it (``mutex_is_locked``, ``rwsem_is_locked``): a read of
        its holders, recorded as such."""
        holders = self._holders()
        ex = runtime._current
        mine = ex is not None and any(holder is ex.running for holder, _ in holders)
        access.record(self.key, PEEK_HELD if mine else PEEK)
        return bool(holders)

    def statistics(self) -> LockStatistics:
        return LockStatistics(
            self.cls.name,
            self.name,
            tuple(a.name if w else f"{a.name}(read)" for a, w in self._holders()),
            tuple(a.name if w else f"{a.name}(read)" for a, w in self.waiters),
        )


class Mutex(_Lock):
    """A kernel ``struct mutex``: ``lock``, ``lock_nested``, ``trylock``, ``unlock``."""

    __slots__ = ("owner",)

    def __init__(self, cls: LockClass, name: str | None = None) -> None:
        super().__init__(cls, name)
        #: ``None`` when unlocked: the actor that holds it.
        self.owner: Actor | None = None

    def _grantable(self, actor: Actor, write: bool) -> bool:
        return self.owner is None

    def _take(self, actor: Actor, write: bool) -> None:
        self.owner = actor

    def _drop(self, actor: Actor, write: bool) -> None:
        self.owner = None

    def _holders(self) -> list[tuple[Actor, bool]]:
        return [] if self.owner is None else [(self.owner, True)]

    async def lock(self) -> None:
        await runtime.current().acquire(self, True, 0, False)

    async def lock_nested(self, subclass: int) -> None:
        await runtime.current().acquire(self, True, subclass, False)

    async def trylock(self) -> bool:
        return await runtime.current().acquire(self, True, 0, True)

    async def unlock(self) -> None:
        await runtime.current().release(self, True)

    async def __aenter__(self) -> None:
        await self.lock()

    async def __aexit__(self, *exc: object) -> None:
        await self.unlock()


class SpinLock(Mutex):
    """A kernel ``spinlock_t``: a mutex whose holder is in atomic context."""

    __slots__ = ()
    sleeping = False


class _ReadWrite(_Lock):
    """What a reader-writer lock holds: one writer, or readers (an actor once per read)."""

    __slots__ = ("readers", "writer")

    def __init__(self, cls: LockClass, name: str | None = None) -> None:
        super().__init__(cls, name)
        #: ``None`` unless write-held: the writer.
        self.writer: Actor | None = None
        #: the read holders, one entry per read acquisition (an actor may appear twice).
        self.readers: list[Actor] = []

    def _take(self, actor: Actor, write: bool) -> None:
        if write:
            self.writer = actor
        else:
            self.readers.append(actor)

    def _drop(self, actor: Actor, write: bool) -> None:
        if write:
            self.writer = None
        else:
            self.readers.remove(actor)

    def _holders(self) -> list[tuple[Actor, bool]]:
        if self.writer is not None:
            return [(self.writer, True)]
        return [(a, False) for a in self.readers]


class RwSem(_ReadWrite):
    """A kernel ``struct rw_semaphore``.

    A writer needs no holders. A reader needs no writer holding it and no writer queued ahead
    of it: a reader that arrives while a writer waits queues behind it, as on Linux. Every
    actor queues when it reaches ``down_*``, so a writer that reached a free rwsem holds back
    later readers as the writer that took it at once would on Linux.
    """

    queues = True

    __slots__ = ()

    def _grantable(self, actor: Actor, write: bool) -> bool:
        if self.writer is not None:
            return False
        if write:
            return not self.readers
        for waiter, wants_write in self.waiters:
            if waiter is actor:
                return True
            if wants_write:
                return False
        return True

    async def down_read(self) -> None:
        await runtime.current().acquire(self, False, 0, False)

    async def down_read_nested(self, subclass: int) -> None:
        await runtime.current().acquire(self, False, subclass, False)

    async def down_read_trylock(self) -> bool:
        return await runtime.current().acquire(self, False, 0, True)

    async def down_write(self) -> None:
        await runtime.current().acquire(self, True, 0, False)

    async def down_write_nested(self, subclass: int) -> None:
        await runtime.current().acquire(self, True, subclass, False)

    async def down_write_trylock(self) -> bool:
        return await runtime.current().acquire(self, True, 0, True)

    async def up_read(self) -> None:
        await runtime.current().release(self, False)

    async def up_write(self) -> None:
        await runtime.current().release(self, True)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[None]:
        await self.down_read()
        try:
            yield
        finally:
            await self.up_read()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[None]:
        await self.down_write()
        try:
            yield
        finally:
            await self.up_write()


class RwLock(_ReadWrite):
    """A kernel ``rwlock_t``: a spinning reader-writer lock, its holder in atomic context.

    Its readers are recursive, as lockdep sees ``read_lock()`` in the kernel's locking
    selftests (``force_read_lock_recursive``) and in interrupt context: a reader is granted
    whenever no writer holds the lock, even while a writer waits, so one task may take it
    for read twice, and lockdep records its read acquisitions as recursive reads
    (`scheduler.lockdep`: they close a cycle only on a strong path). In process context a
    queued rwlock's reader waits behind a waiting writer instead (``read_lock_is_recursive()``);
    the model does not make that distinction.
    """

    sleeping = False
    recursive_read = True

    __slots__ = ()

    def _grantable(self, actor: Actor, write: bool) -> bool:
        if self.writer is not None:
            return False
        return not self.readers if write else True

    async def read_lock(self) -> None:
        await runtime.current().acquire(self, False, 0, False)

    async def read_trylock(self) -> bool:
        return await runtime.current().acquire(self, False, 0, True)

    async def read_unlock(self) -> None:
        await runtime.current().release(self, False)

    async def write_lock(self) -> None:
        await runtime.current().acquire(self, True, 0, False)

    async def write_trylock(self) -> bool:
        return await runtime.current().acquire(self, True, 0, True)

    async def write_unlock(self) -> None:
        await runtime.current().release(self, True)
