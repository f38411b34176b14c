"""Setup snapshots: run a program's setup once, then start each later execution from a copy
of the state it built.

Design note. The setup runs alone and fault-free, so every execution of an exploration
runs it the same way; in the shipped scenarios it is more than half of each execution's
steps. So after the first execution's setup the program (its actors, its end check and
everything they reach) is pickled once, and every later execution unpickles a fresh copy,
which costs a fraction of building the program and running the setup again. What the
execution itself kept from the setup comes back with it: the object-id and lock-instance
counters (so ids and names are the ones a full run makes), the step count, the setup's
trace events, and the lock-graph edges the setup took. An execution restored this way and
one that ran its setup are the same execution: the explorer sees the same steps, ids and
findings, and a replay (which always runs the setup) gives the same result byte for byte.

What is copied and what is shared. Closures, their cells and every object they reach are
copied, with the cells' identities kept (two closures over one cell still share it). Shared
by reference, never copied: code; module globals; classes and functions that live at
module level; every value a module of the program holds at module level (so ``x is
CONSTANT`` holds in the copy as it does in a fresh build); and the objects the program
lists in `Program.share`. Tracked containers keep their keys.

When. Only for a program that opts in with ``Program(copy_setup=True)``: its state must be
its own. A program whose actors reach an object made outside the program, such as a list a
test collects results in, names it in ``share`` or stays opted out. No snapshot is taken if
the setup reported anything or did not finish, or if its state cannot be pickled (a
generator, a socket): every execution then runs the setup, as without a snapshot.
"""

from __future__ import annotations

import io
import pickle
import sys
import types
from typing import TYPE_CHECKING, Any

from attrs import frozen

from lockstep.scheduler.access import SharedDict, SharedList, SharedSet
from lockstep.scheduler.events import Event
from lockstep.scheduler.memo import PostMemo

if TYPE_CHECKING:
    from lockstep.scheduler.lockdep import Lockdep, Pairs
    from lockstep.scheduler.runtime import Execution, Program


@frozen
class _Taken:
    """The setup's result, pickled, and what the execution kept of it."""

    blob: bytes
    refs: tuple[object, ...]
    steps: int
    instances: tuple[tuple[str, int], ...]
    made: tuple[tuple[int, int], ...]
    trace: tuple[Event, ...] | None
    #: the lock-graph pairs the setup took, and how often each
    taken: Pairs


class SetupSnapshot:
    """One exploration's snapshot: empty until an execution's setup fills it.

    It belongs to one lock graph (the setup's new edges went into that graph only) and to
    one trace setting; an execution with another runs its setup.
    """

    def __init__(self) -> None:
        self._taken: _Taken | None = None
        self._graph: Lockdep | None = None
        self._failed = False
        #: restores so far (for the benchmark and the tests)
        self.restored = 0
        #: the post parts of the executions restored from it (`scheduler.memo`)
        self.post = PostMemo()

    def wants(self, program: Program) -> bool:
        """Whether the setup of ``program`` should be taken once it has run."""
        return self._taken is None and not self._failed and program.copy_setup

    def take(
        self, ex: Execution, program: Program, counts_before: dict[tuple[str, str], int]
    ) -> None:
        """Keep ``program`` as its setup left it in ``ex``, if the setup ended cleanly."""
        if ex.aborted or ex.findings or ex.error is not None:
            self._failed = True
            return
        try:
            # a first pass finds the modules whose values are shared, so that the second
            # shares them wherever they first appear
            survey = _Pickler(io.BytesIO(), [], program.share, ())
            survey.dump(program)
            refs: list[object] = []
            buffer = io.BytesIO()
            _Pickler(buffer, refs, program.share, tuple(survey.modules)).dump(program)
        except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
            self._failed = True
            return
        graph = ex.lockdep
        self._graph = graph
        self._taken = _Taken(
            buffer.getvalue(),
            tuple(refs),
            ex.steps,
            tuple(ex.instances.items()),
            tuple(ex._made.items()),
            tuple(ex.trace) if ex.trace is not None else None,
            graph.pairs_since(counts_before) if graph is not None else (),
        )

    def restore(self, ex: Execution) -> Program | None:
        """A copy of the program as the setup left it, with ``ex`` set as the setup left
        it; None when ``ex`` must run its setup."""
        taken = self._taken
        if taken is None or ex.lockdep is not self._graph:
            return None
        if (taken.trace is None) != (ex.trace is None):
            return None
        unpickler = pickle.Unpickler(io.BytesIO(taken.blob))
        # a C method: the shared objects come back without a Python call each
        unpickler.persistent_load = taken.refs.__getitem__
        program = unpickler.load()
        ex.steps = taken.steps
        ex.instances = dict(taken.instances)
        ex._made = dict(taken.made)
        ex.actor_names = ["setup"]
        if taken.trace is not None:
            ex.trace = list(taken.trace)
        if ex.lockdep is not None:
            ex.lockdep.take_again(taken.taken)
        self.restored += 1
        return program  # type: ignore[no-any-return]


class _Pickler(pickle.Pickler):
    """Pickles closures by value and module-level things by reference (see the note)."""

    def __init__(
        self,
        file: io.BytesIO,
        refs: list[object],
        share: tuple[object, ...],
        modules: tuple[str, ...],
    ) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.refs = refs
        #: id -> index in ``refs`` of everything passed by reference
        self.by_id: dict[int, int] = {}
        self.modules: set[str] = set()
        for obj in share:
            self._share(obj)
        for name in modules:
            self._module(name)

    def _share(self, obj: object) -> None:
        if id(obj) not in self.by_id:
            self.by_id[id(obj)] = len(self.refs)
            self.refs.append(obj)

    def _module(self, name: str) -> None:
        """Share every module-level value of module ``name``, and its globals."""
        if name in self.modules:
            return
        self.modules.add(name)
        module = sys.modules.get(name)
        if module is None:
            return
        self._share(vars(module))
        for value in list(vars(module).values()):
            self._share(value)

    def persistent_id(self, obj: Any) -> int | None:
        kind = type(obj)
        if kind is types.CodeType:
            self._share(obj)
        elif kind is types.FunctionType:
            self._module(obj.__module__)
        elif kind.__module__ not in ("builtins", __name__):
            self._module(kind.__module__)
        return self.by_id.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is types.FunctionType and not _at_module_level(obj):
            self._share(obj.__globals__)
            return (
                _function,
                (
                    obj.__code__,
                    obj.__globals__,
                    obj.__name__,
                    obj.__defaults__,
                    obj.__closure__,
                ),
                (obj.__qualname__, obj.__kwdefaults__, obj.__dict__ or None),
                None,
                None,
                _set_function,
            )
        if kind is types.CellType:
            try:
                contents = (obj.cell_contents,)
            except ValueError:
                contents = None
            return (_new_cell, (), contents, None, None, _fill_cell)
        if kind is SharedList:
            return (_new_container, (SharedList, obj._key), None, iter(list.__iter__(obj)))
        if kind is SharedDict:
            return (_new_container, (SharedDict, obj._key), None, None, iter(dict.items(obj)))
        if kind is SharedSet:
            return (
                _new_container,
                (SharedSet, obj._key),
                list(set.__iter__(obj)),
                None,
                None,
                _fill_set,
            )
        return NotImplemented


def _at_module_level(fn: types.FunctionType) -> bool:
    """Whether pickle's by-name lookup of ``fn`` finds ``fn`` itself."""
    if fn.__closure__ is not None:
        return False
    found: Any = sys.modules.get(fn.__module__)
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)
    return found is fn


def _function(
    code: types.CodeType,
    globals_: dict[str, Any],
    name: str,
    defaults: tuple[object, ...] | None,
    closure: tuple[types.CellType, ...] | None,
) -> types.FunctionType:
    return types.FunctionType(code, globals_, name, defaults, closure)


def _set_function(fn: types.FunctionType, state: tuple[str, Any, Any]) -> None:
    fn.__qualname__, fn.__kwdefaults__, attributes = state
    if attributes:
        fn.__dict__.update(attributes)


def _new_cell() -> types.CellType:
    return types.CellType()


def _fill_cell(cell: types.CellType, contents: tuple[object]) -> None:
    cell.cell_contents = contents[0]


def _new_container(kind: type, key: int) -> Any:
    container = kind.__new__(kind)
    container._key = key
    return container


def _fill_set(container: SharedSet, items: list[object]) -> None:
    set.update(container, items)
