"""Access tracking: every read and write of shared state, as the program really made it.

Design note. Partial-order reduction is only as good as its dependence relation. If the
explorer trusted a footprint the model author declared, a forgotten declaration would make
two racing steps look independent, and the race would never be run the other way. So, as in
loom (``rt/object.rs``), shared state lives in tracked objects and containers, and each of
their accesses is recorded while the program runs. A step's footprint is what it was seen to
touch, never what someone said it would.

- `shared` turns a class's fields into tracked fields: reading one records ``READ`` and
  assigning one records ``WRITE`` on that (object, field). A list, dict or set assigned to a
  tracked field is wrapped in `SharedList`, `SharedDict` or `SharedSet`, so that mutating it
  in place is recorded too: there is no container to forget.
- `SharedList`, `SharedDict`, `SharedSet`: containers whose every method records a read or
  a write of the whole container (coarse, and therefore sound).
- Locks record their own operations (`scheduler.runtime.Execution.acquire`).

Accesses go to the *sink*: the footprint of the step being run. The runtime installs a
fresh one at every scheduling point of the actors' phase, and none during the sequential
setup, the end check or an aborting execution, where nothing can race and recording costs
one global load and a test.

Keys are stable across executions, which DPOR needs to compare a step of one execution with
a step of another: an object's id is made of who created it (the program's build, the setup,
or actor *i*) and how many objects that creator had made before, as Nidhugg names events by
thread and index. A field's key is ``oid * 64 + field number``; a lock's is ``oid * 64 + 63``.

What a user must do for their own state (the Python API): keep it in a `shared` class or a
tracked container. A plain module-level dict or a closure variable is invisible to the
explorer; ``point("name")`` still declares an access to a named thing by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, TypeVar

from lockstep.scheduler.events import READ, WRITE, Key

#: The footprint of the step being run, or None when nothing is recorded.
_sink: dict[Key, int] | None = None
#: What the actors' phase changed, by key: the tracked object, container or lock whose state
#: at the phase's end `scheduler.memo` fingerprints; None when no memo wants it.
_written: dict[Key, object] | None = None
#: Makes an object id: set by the runtime for the execution that is running.
_oid_source: Callable[[], int] | None = None
_global_oids = 0

FIELDS_PER_OBJECT: Final = 64
LOCK_SLOT: Final = FIELDS_PER_OBJECT - 1
_OUTSIDE: Final = 1 << 40


def new_oid() -> int:
    """A stable id for a new tracked object (see the module note)."""
    global _global_oids
    if _oid_source is not None:
        return _oid_source()
    _global_oids += 1
    return _OUTSIDE + _global_oids


def record(key: Key, mode: int) -> None:
    """Record an access of ``mode`` to ``key`` in the running step's footprint."""
    sink = _sink
    if sink is not None:
        sink[key] = sink.get(key, 0) | mode


def record_change(key: Key, mode: int, state: object) -> None:
    """Record an access of ``mode`` to ``key`` that changed ``state`` (a lock's): in the
    running step's footprint, and for the end-state memo."""
    sink = _sink
    if sink is not None:
        sink[key] = sink.get(key, 0) | mode
        written = _written
        if written is not None:
            written[key] = state


def changed(key: Key, state: object) -> None:
    """``state`` (a container made in the actors' phase) is new: the end-state memo looks
    at it."""
    written = _written
    if written is not None:
        written[key] = state


def changed_untracked() -> None:
    """The actors' phase declared a write of state nobody tracks (``point(name, write=True)``):
    its end state has no fingerprint."""
    global _written
    _written = None


class _Field:
    """A tracked field: a data descriptor over the instance's ``__dict__`` entry."""

    __slots__ = ("name", "number")

    def __init__(self, name: str, number: int) -> None:
        self.name = name
        self.number = number

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        sink = _sink
        if sink is not None:
            key = d["_oid"] + self.number
            sink[key] = sink.get(key, 0) | READ
        try:
            return d[self.name]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj: Any, value: Any) -> None:
        d = obj.__dict__
        sink = _sink
        if sink is not None:
            key = d["_oid"] + self.number
            sink[key] = sink.get(key, 0) | WRITE
            written = _written
            if written is not None:
                written[key] = obj
        d[self.name] = _wrap(value)


def _wrap(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return SharedList(value)
    if kind is dict:
        return SharedDict(value)
    if kind is set:
        return SharedSet(value)
    return value


T = TypeVar("T", bound=type)


def shared(cls: T) -> T:
    """Track every field of ``cls``: an attrs class made with ``slots=False``, or a plain
    class whose fields are its annotations.

    ::

        @shared
        @attrs.define(slots=False, eq=False)
        class Counter:
            n: int = 0
    """
    if "__slots__" in cls.__dict__:
        raise TypeError(f"@shared needs a class with a __dict__: {cls.__name__} has __slots__")
    names = [a.name for a in getattr(cls, "__attrs_attrs__", ())]
    if not names:
        names = [n for n in getattr(cls, "__annotations__", {}) if not n.startswith("__")]
    if len(names) >= LOCK_SLOT:
        raise TypeError(f"@shared tracks at most {LOCK_SLOT - 1} fields per class")
    for number, name in enumerate(names, start=1):
        setattr(cls, name, _Field(name, number))
    init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self.__dict__["_oid"] = new_oid() * FIELDS_PER_OBJECT
        init(self, *args, **kwargs)

    __init__.__doc__ = init.__doc__
    cls.__init__ = __init__  # type: ignore[misc]
    return cls


def _recording(base: type, name: str, mode: int) -> Callable[..., Any]:
    """``base.name``, recording an access of ``mode`` to the container first."""
    inner = getattr(base, name)

    def reader(self: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _sink
        if sink is not None:
            key = self._key
            sink[key] = sink.get(key, 0) | mode
        return inner(self, *args, **kwargs)

    def writer(self: Any, *args: Any, **kwargs: Any) -> Any:
        sink = _sink
        if sink is not None:
            key = self._key
            sink[key] = sink.get(key, 0) | mode
            written = _written
            if written is not None:
                written[key] = self
        return inner(self, *args, **kwargs)

    method = writer if mode == WRITE else reader
    method.__name__ = name
    return method


def _tracked(base: type, reads: Iterable[str], writes: Iterable[str]) -> dict[str, Any]:
    methods: dict[str, Any] = {name: _recording(base, name, READ) for name in reads}
    methods.update({name: _recording(base, name, WRITE) for name in writes})
    return methods


class SharedList(list):  # type: ignore[type-arg]
    """A list whose reads and writes are recorded (as one piece of state)."""

    __slots__ = ("_key",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._key = new_oid() * FIELDS_PER_OBJECT
        changed(self._key, self)

    def __iter__(self) -> Iterator[Any]:
        record(self._key, READ)
        return super().__iter__()

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (list(super().__iter__()),))

    locals().update(
        _tracked(
            list,
            (
                "__getitem__",
                "__len__",
                "__contains__",
                "index",
                "count",
                "__reversed__",
                "copy",
                "__eq__",
                "__repr__",
            ),
            (
                "__setitem__",
                "__delitem__",
                "append",
                "extend",
                "insert",
                "pop",
                "remove",
                "clear",
                "sort",
                "reverse",
                "__iadd__",
                "__imul__",
            ),
        )
    )


class SharedDict(dict):  # type: ignore[type-arg]
    """A dict whose reads and writes are recorded (as one piece of state)."""

    __slots__ = ("_key",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self._key = new_oid() * FIELDS_PER_OBJECT
        changed(self._key, self)

    def __iter__(self) -> Iterator[Any]:
        record(self._key, READ)
        return super().__iter__()

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(super().items()),))

    locals().update(
        _tracked(
            dict,
            (
                "__getitem__",
                "__len__",
                "__contains__",
                "get",
                "keys",
                "values",
                "items",
                "copy",
                "__eq__",
                "__repr__",
            ),
            (
                "__setitem__",
                "__delitem__",
                "pop",
                "popitem",
                "setdefault",
                "update",
                "clear",
                "__ior__",
            ),
        )
    )


class SharedSet(set):  # type: ignore[type-arg]
    """A set whose reads and writes are recorded (as one piece of state)."""

    __slots__ = ("_key",)

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._key = new_oid() * FIELDS_PER_OBJECT
        changed(self._key, self)

    def __iter__(self) -> Iterator[Any]:
        record(self._key, READ)
        return super().__iter__()

    def __reduce__(self) -> tuple[Any, ...]:
        return (set, (set(super().__iter__()),))

    locals().update(
        _tracked(
            set,
            (
                "__len__",
                "__contains__",
                "copy",
                "__eq__",
                "__repr__",
                "issubset",
                "issuperset",
                "isdisjoint",
                "union",
                "intersection",
                "difference",
            ),
            (
                "add",
                "discard",
                "remove",
                "pop",
                "clear",
                "update",
                "difference_update",
                "intersection_update",
                "__ior__",
                "__iand__",
                "__isub__",
                "__ixor__",
                "symmetric_difference_update",
            ),
        )
    )
