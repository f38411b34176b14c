"""Lockdep's rules, one small program each, checked against the kernel's behaviour."""

from __future__ import annotations

from lockstep.scheduler import LockClass, Mutex, Program, RwSem, explore, point, replay


def kinds(result):
    return sorted((f.kind, tuple(sorted(f.classes))) for f in result.findings)


def edges(result):
    return sorted((e.prev, e.next) for e in result.edges)


def race():
    """Whoever passes the point first takes its two locks; the other takes none. No
    execution holds both orders."""
    a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))
    state = {"winner": None}

    def racer(name, first, second):
        async def actor():
            await point("winner")
            if state["winner"] is None:
                state["winner"] = name
                async with first, second:
                    pass

        return actor

    return Program({"t1": racer("t1", a, b), "t2": racer("t2", b, a)})


def test_an_inversion_seen_in_two_separate_executions_is_reported_and_replays():
    """Each execution takes only one order (whoever wins the race decides): no execution
    deadlocks or holds both edges, yet the exploration's graph closes the cycle."""
    program = race
    result = explore(program, scenario="race")
    assert kinds(result) == [("circular-dependency", ("A", "B"))]
    finding = result.findings[0]
    assert finding.schedule.count("/") == 1, "the line carries both executions"
    assert "recorded in 2 executions" in finding.message
    replayed = replay(program, finding.schedule)
    assert [f.message for f in replayed.findings] == [finding.message]


def test_a_sequential_execution_holding_both_edges_is_preferred():
    def program():
        a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))

        async def t1():
            async with a, b:
                pass
            async with b, a:
                pass

        return {"t1": t1}

    result = explore(program, scenario="seq")
    assert kinds(result) == [("circular-dependency", ("A", "B"))]
    assert "/" not in result.findings[0].schedule.split(":")[-1]
    assert "possible circular locking dependency detected" in result.findings[0].message
    assert "*** DEADLOCK ***" in result.findings[0].message


def test_trylock_adds_no_edge_into_it_but_edges_out_of_it():
    def program():
        a, b, c = (Mutex(LockClass(n)) for n in "ABC")

        async def t1():
            async with a:
                assert await b.trylock()
                async with c:
                    pass
                await b.unlock()

        return {"t1": t1}

    result = explore(program, scenario="try")
    assert result.clean
    assert edges(result) == [("A", "C"), ("B", "C")]


def test_a_failed_trylock_does_not_wait():
    def program():
        a = Mutex(LockClass("A"))
        got = []

        async def holder():
            async with a:
                await point("x")

        async def trier():
            if await a.trylock():
                got.append(True)
                await a.unlock()

        return {"holder": holder, "trier": trier}

    result = explore(program, scenario="try-fail")
    assert result.clean and result.exhausted


def test_a_nesting_subclass_is_its_own_class():
    def program():
        cls = LockClass("A")
        p, c = Mutex(cls, "p"), Mutex(cls, "c")

        async def t1():
            await p.lock()
            await c.lock_nested(1)
            await c.unlock()
            await p.unlock()

        return {"t1": t1}

    result = explore(program, scenario="nest")
    assert result.clean
    assert edges(result) == [("A", "A/1")]


def test_down_read_twice_is_recursive_locking():
    def program():
        sem = RwSem(LockClass("S"))

        async def t1():
            async with sem.read(), sem.read():
                pass

        return {"t1": t1}

    assert kinds(explore(program, scenario="rr")) == [("recursive-locking", ("S",))]


def test_the_same_mutex_twice_is_recursive_locking_and_a_self_deadlock():
    def program():
        m = Mutex(LockClass("M"))

        async def t1():
            async with m:
                await m.lock()

        return {"t1": t1}

    result = explore(program, scenario="self")
    assert kinds(result) == [("deadlock", ("M",)), ("recursive-locking", ("M",))]
    deadlock = next(f for f in result.findings if f.kind == "deadlock")
    assert "t1 waits for (M), held by t1" in deadlock.message


def test_each_distinct_report_once_per_exploration():
    def program():
        a, b = Mutex(LockClass("A")), Mutex(LockClass("B"))

        async def t1():
            for _ in range(3):
                async with a, b:
                    pass

        async def t2():
            async with b, a:
                pass

        return {"t1": t1, "t2": t2}

    result = explore(program, strategy="random", executions=50, scenario="once")
    assert [f.kind for f in result.findings].count("circular-dependency") == 1


def test_rwsem_readers_share_and_a_waiting_writer_blocks_new_readers():
    """Without the writer, two readers and a mutex in opposite orders never deadlock;
    lockdep still reports the inversion, since down_read is a non-recursive read."""

    def program(with_writer):
        def build():
            a, b = RwSem(LockClass("A")), Mutex(LockClass("B"))

            async def t1():
                async with a.read(), b:
                    pass

            async def t2():
                async with b, a.read():
                    pass

            async def t3():
                async with a.write():
                    pass

            actors = {"t1": t1, "t2": t2}
            if with_writer:
                actors["t3"] = t3
            return actors

        return build

    without = explore(program(False), scenario="rw2")
    assert without.exhausted
    assert kinds(without) == [("circular-dependency", ("A", "B"))]
    with_writer = explore(program(True), strategy="random", executions=400, seed=2, scenario="rw3")
    assert ("deadlock", ("A", "B")) in kinds(with_writer)


def test_a_trylock_under_a_spinlock_does_not_sleep():
    """``iommufd_get_object`` does ``down_read_trylock(destroy_rwsem)`` under the objects
    xa_lock: a trylock never sleeps, so it is allowed in atomic context."""
    from lockstep.scheduler import SpinLock

    def program():
        spin, sem = SpinLock(LockClass("&xa->xa_lock")), RwSem(LockClass("&obj->destroy_rwsem"))

        async def t1():
            async with spin:
                assert await sem.down_read_trylock()
            await sem.up_read()

        return {"t1": t1}

    assert explore(program, scenario="try-atomic").clean
