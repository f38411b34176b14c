"""Toy scenarios: small lock programs with known findings, no iommufd in them.

Each one shows one thing the runtime must find (or, for ``nested-ok``, must not).
"""

from __future__ import annotations

from lockstep.scenarios.registry import Scenario
from lockstep.scheduler import LockClass, Mutex, Program, RwSem, SpinLock


def abba() -> Program:
    a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))

    async def t1() -> None:
        async with a, b:
            pass

    async def t2() -> None:
        async with b, a:
            pass

    return Program({"t1": t1, "t2": t2})


def abbcca() -> Program:
    a, b, c = Mutex(LockClass("A")), Mutex(LockClass("B")), Mutex(LockClass("C"))

    def nest(first: Mutex, second: Mutex):  # noqa: ANN202 - an actor factory
        async def actor() -> None:
            async with first, second:
                pass

        return actor

    return Program({"t1": nest(a, b), "t2": nest(b, c), "t3": nest(c, a)})


def aa() -> Program:
    cls = LockClass("A")
    first, second = Mutex(cls, "a1"), Mutex(cls, "a2")

    async def t1() -> None:
        async with first, second:
            pass

    return Program({"t1": t1})


def nested_ok() -> Program:
    cls = LockClass("A")
    parent, child = Mutex(cls, "parent"), Mutex(cls, "child")

    def walk():  # noqa: ANN202 - an actor factory
        async def actor() -> None:
            await parent.lock()
            await child.lock_nested(1)
            await child.unlock()
            await parent.unlock()

        return actor

    return Program({"t1": walk(), "t2": walk()})


def rwsem_reader_writer() -> Program:
    a, b = RwSem(LockClass("A")), Mutex(LockClass("B"))

    async def t1() -> None:
        async with a.read(), b:
            pass

    async def t2() -> None:
        async with b, a.read():
            pass

    async def t3() -> None:
        async with a.write():
            pass

    return Program({"t1": t1, "t2": t2, "t3": t3})


def held_at_return() -> Program:
    a = Mutex(LockClass("A"))

    async def t1() -> None:
        await a.lock()

    return Program({"t1": t1})


def bad_unlock() -> Program:
    a = Mutex(LockClass("A"))

    async def t1() -> None:
        await a.unlock()

    return Program({"t1": t1})


def sleep_in_atomic() -> Program:
    s, m = SpinLock(LockClass("S")), Mutex(LockClass("M"))

    async def t1() -> None:
        async with s, m:
            pass

    return Program({"t1": t1})


SCENARIOS = [
    Scenario("abba", "two actors take A then B, and B then A: an inversion and a deadlock", abba),
    Scenario("abbcca", "three actors take A->B, B->C, C->A: a three-lock cycle", abbcca),
    Scenario(
        "aa",
        "one actor takes two locks of one class without nesting notation: recursive locking",
        aa,
    ),
    Scenario(
        "nested-ok",
        "two actors take two locks of one class, the inner with lock_nested(1): clean",
        nested_ok,
    ),
    Scenario(
        "rwsem-reader-writer",
        "down_read(A) then B, B then down_read(A), and a writer "
        "on A: it deadlocks only through the waiting writer",
        rwsem_reader_writer,
    ),
    Scenario("held-at-return", "an actor returns with a lock held", held_at_return),
    Scenario("bad-unlock", "an actor unlocks a lock it does not hold", bad_unlock),
    Scenario("sleep-in-atomic", "an actor takes a mutex under a spinlock", sleep_in_atomic),
]
