"""The end-state memo: the post part and the end check run once per state the actors leave.

Design note. After the actors' phase the post part (the scenarios' ``close``) and the end
check run alone, fault-free and unrecorded: what they do is a function of the state the
actors left, and of nothing else the execution chose. Many executions of an exploration
leave the same state (two orders of independent steps always do, and DPOR runs one of each
class of orders, not one of each end state), so the second time an end state comes round,
the post part would take the same steps, take the same locks in the same order at the same
sites, and find nothing new. The memo skips it then, and gives the execution what the first
run did to it: the steps it counted and the lock-graph pairs it took.

The fingerprint. Every execution of an exploration starts from the same state, a copy of the
setup's snapshot (`scheduler.snapshot`). So the end state is that state changed by the
actors' phase, and `scheduler.access` already sees every change of tracked state: each write
of a tracked field or container, each lock taken, released or freed is also noted in
``access._written``. The fingerprint is the value of each changed thing at the phase's end,
in key order, where a tracked object, a container or a lock *as a value* is its stable key
and its class (never its Python ``id``), so that it compares across executions. Two things
the post part reads besides the state go with it: the lock-instance counters (the names of
locks it makes) and whether an injected fault fired (the scenarios' post part then tolerates
a failed operation). And a hit that would take the execution past its step bound is no hit:
the post part runs, and runs into the bound. A value the fingerprint cannot name stably (an
object of a class it does not know), or a write the program declared by hand with
``point(name, write=True)``, leaves the execution without one: it runs its post part.

When. Only for a program that says its post part and end check read tracked state and
nothing else (``Program(post_reads_state=True)``) and copies its setup; only in executions
that started from the snapshot, record no trace, and reach the post part; and a post part is
kept only if it ran clean: no finding of its own, no error, not cut short. So a post part
that finds a bug runs in every execution that reaches it, and the findings an exploration
reports are the ones it reports without the memo. Lockdep loses nothing: a post part's first
run put its edges in the exploration's graph, and a run again would only find them there (a
lockdep report comes with a new edge); the pairs it took are counted again, as if it ran.

``PostMemo.check_hits`` (for the tests) runs the post part on a hit as well, and fails
loudly if it did not do exactly what the memo says.
"""

from __future__ import annotations

import enum
import types
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, ClassVar

import attr._make
import attrs

from lockstep.scheduler import access
from lockstep.scheduler.access import SharedDict, SharedList, SharedSet, _Field

if TYPE_CHECKING:
    from lockstep.scheduler.lockdep import Pairs
    from lockstep.scheduler.runtime import Execution

#: a fingerprint: each changed key with its state, the lock-instance counters, and whether
#: an injected fault fired (the post part tolerates a failure then: `fault_injected`)
EndState = tuple[tuple[tuple[int, Hashable], ...], tuple[tuple[str, int], ...], bool]


class _Opaque(Exception):
    """A value the fingerprint cannot name the same way in another execution."""


_MISSING = object()
#: what attrs makes a frozen class's ``__setattr__`` (as attrs itself tells one apart)
_FROZEN_SETATTR = getattr(attr._make, "_frozen_setattrs", _MISSING)


@attrs.frozen
class Before:
    """An execution as its post part found it: what the post part did is measured from it."""

    steps: int
    findings: int
    #: the lock-graph pairs taken so far, and how often each
    counts: dict[tuple[str, str], int]


@attrs.frozen
class _Kept:
    """What a clean post part did to its execution."""

    steps: int
    #: the lock-graph pairs it took, and how often each
    taken: Pairs


class PostMemo:
    """One exploration's memo (it belongs to the exploration's snapshot and lock graph)."""

    #: run the post part on a hit too, and check it did what the memo says (tests)
    check_hits: ClassVar[bool] = False
    #: end states kept at most: the memo's memory is bounded, whatever the exploration
    LIMIT: ClassVar[int] = 2048

    def __init__(self) -> None:
        self._kept: dict[EndState, _Kept] = {}
        #: post parts skipped so far (for the benchmark and the tests)
        self.hits = 0

    def key(self, ex: Execution) -> EndState | None:
        """The fingerprint of the state ``ex``'s actors left, or None if it has none."""
        written = ex.written
        if written is None:
            return None
        readers = _STATE
        state = []
        try:
            for key in sorted(written):  # type: ignore[type-var]
                thing = written[key]
                kind = type(thing)
                reader = readers.get(kind)
                if reader is None:
                    reader = readers[kind] = _state_of(kind)
                state.append((key, reader(thing, key)))
        except _Opaque:
            return None
        return tuple(state), tuple(sorted(ex.instances.items())), ex.fault_fired

    def replay(self, ex: Execution, key: EndState) -> bool:
        """Give ``ex`` what its post part did the first time, if it ran before: True when
        the post part and the end check need not run."""
        kept = self._kept.get(key)
        if kept is None or self.check_hits or ex.steps + kept.steps > ex.step_bound:
            # past the step bound, the post part would run into it: it runs and says so
            return False
        self.hits += 1
        ex.steps += kept.steps
        if ex.lockdep is not None:
            ex.lockdep.take_again(kept.taken)
        return True

    def before(self, ex: Execution) -> Before:
        """``ex`` as its post part finds it."""
        graph = ex.lockdep
        return Before(ex.steps, len(ex.findings), dict(graph.counts) if graph is not None else {})

    def keep(self, ex: Execution, key: EndState, before: Before) -> None:
        """Keep what the post part of ``ex`` did since ``before``, if it ran clean."""
        old = self._kept.get(key)
        if ex.aborted or ex.error is not None or len(ex.findings) > before.findings:
            if old is not None and before.steps + old.steps <= ex.step_bound:
                raise AssertionError(f"a kept end state's post part did not run clean: {key}")
            return
        graph = ex.lockdep
        kept = _Kept(
            ex.steps - before.steps,
            graph.pairs_since(before.counts) if graph is not None else (),
        )
        if old is not None and old != kept:
            raise AssertionError(f"one end state, two post parts: {old} then {kept}")
        if old is None and len(self._kept) < self.LIMIT:
            self._kept[key] = kept


def _list_state(thing: Any, key: int) -> Hashable:
    return tuple(map(_value, list.__iter__(thing)))


def _set_state(thing: Any, key: int) -> Hashable:
    return tuple(map(_value, set.__iter__(thing)))


def _dict_state(thing: Any, key: int) -> Hashable:
    return tuple((_value(k), _value(v)) for k, v in dict.items(thing))


def _own_state(thing: Any, key: int) -> Hashable:
    return thing._state()  # type: ignore[no-any-return]


def _state_of(kind: type) -> Callable[[Any, int], Hashable]:
    """How to read the state of a changed thing of class ``kind`` (the one with ``key``):
    a tracked field's value, a container's contents, a lock's holders."""
    if kind is SharedList:
        return _list_state
    if kind is SharedSet:
        return _set_state
    if kind is SharedDict:
        return _dict_state
    if hasattr(kind, "_state"):
        return _own_state
    names = _field_names(kind)
    if not names:
        return _opaque_state

    def field_state(thing: Any, key: int) -> Hashable:
        value = thing.__dict__.get(names[key % access.FIELDS_PER_OBJECT], _MISSING)
        kind = type(value)
        if kind is int or kind is str or value is None:
            return value  # type: ignore[no-any-return]
        return _value(value)

    return field_state


def _opaque_state(thing: Any, key: int) -> Hashable:
    raise _Opaque(type(thing).__name__)


_STATE: dict[type, Callable[[Any, int], Hashable]] = {}
_FIELDS: dict[type, dict[int, str]] = {}


def _field_names(kind: type) -> dict[int, str]:
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = {
            d.number: d.name
            for base in reversed(kind.__mro__)
            for d in vars(base).values()
            if isinstance(d, _Field)
        }
    return names


def _same(v: Any) -> Hashable:
    return v  # type: ignore[no-any-return]


def _tagged(v: Any) -> Hashable:
    return (type(v), v)


def _sequence(v: Any) -> Hashable:
    return (type(v), *map(_value, v))


def _set(v: Any) -> Hashable:
    return (type(v), frozenset(map(_value, v)))


def _function(v: Any) -> Hashable:
    """A module-level function is shared by every copy; a closure is copied with its cells,
    a new object in each execution, which the memo must not keep alive."""
    if v.__closure__ is not None or "<locals>" in v.__qualname__:
        raise _Opaque(v.__qualname__)
    return v  # type: ignore[no-any-return]


def _method(v: Any) -> Hashable:
    return (types.MethodType, _value(v.__self__), _value(v.__func__))


def _object_identity(v: Any) -> Hashable:
    """A tracked object as a value: which one it is, not what it holds."""
    return (type(v), v.__dict__["_oid"])


def _container_identity(v: Any) -> Hashable:
    return (type(v), v._key)


def _lock_identity(v: Any) -> Hashable:
    return (type(v), v.key)


def _frozen(v: Any) -> Hashable:
    return (type(v), *(_value(getattr(v, a.name)) for a in type(v).__attrs_attrs__))


def _kind_of(kind: type) -> Callable[[Any], Hashable]:
    """How to name a value of class ``kind`` stably across executions."""
    if kind in (int, str, type(None)):
        return _same
    if kind in (bool, float, bytes) or issubclass(kind, enum.Enum):
        # an IntEnum member equals its int, True equals 1: the class tells them apart
        return _tagged
    if kind is tuple:
        return _sequence
    if kind is frozenset:
        return _set
    if kind in (types.BuiltinFunctionType, type) or issubclass(kind, enum.EnumType):
        # classes and built-ins the snapshot shares with every copy: the same object each time
        return _same
    if kind is types.FunctionType:
        return _function
    if kind is types.MethodType:
        return _method
    if kind in (SharedList, SharedDict, SharedSet):
        return _container_identity
    if hasattr(kind, "_state"):
        return _lock_identity
    if _field_names(kind):
        return _object_identity
    if attrs.has(kind) and kind.__setattr__ is _FROZEN_SETATTR:
        return _frozen
    return _opaque


def _opaque(v: Any) -> Hashable:
    raise _Opaque(type(v).__name__)


_KIND: dict[type, Callable[[Any], Hashable]] = {}


def _value(v: Any) -> Hashable:
    kind = type(v)
    name = _KIND.get(kind)
    if name is None:
        name = _KIND[kind] = _kind_of(kind)
    return name(v)
