"""Checkpoints: an exploration's frontier on disk, so an interrupted one resumes.

Design note. As loom's ``LOOM_CHECKPOINT_FILE``, but for the whole exploration state: the
strategy (for dfs, DPOR's stack of nodes with their wakeup trees and sleep sets; for naive
dfs the path; for random and pct the next execution's index), the chooser of the execution
about to run, the lock graph (lockdep reports depend on edges of earlier executions), and
the findings so far. The exploration state never holds a live execution between two
executions, so all of it is plain data, and a checkpoint is a JSON document of data only.

The format. The state is an object graph (DPOR's nodes share branches and footprints), so
the document is a flat table of its objects, each referring to others by number
(``{"r": n}``); nesting stays a few levels deep however deep a wakeup tree is. An entry is
a container (``["l", items]``, ``["t", items]``, ``["d", pairs]``, ``["s", items]``,
``["f", items]``), a ``random.Random`` state (``["R", state]``), a member of an enum
(``["e", class, name]``), or an instance of a class (``["i", class, attributes]``).

Loading never runs code a file names. Classes are looked up only among those this
package's ``scheduler`` modules define, and an instance is made without calling anything of
its class: ``__new__`` unchanged from ``object``, then its declared attributes set one by
one; a name that is not one of the class's fields is refused. JSON itself can only say
numbers, strings and lists. The table's SHA-256 is kept beside it: a file changed by a
byte is refused as corrupt rather than resumed into a state that fails later. The file is
written to a temporary name and renamed, so an interruption mid-write leaves the previous
checkpoint intact; it is removed when the exploration ends. Resuming checks that the file
is for the same scenario, strategy and options, and that its format is this one.

A resumed exploration runs exactly the executions the uninterrupted one would have run after
that point, so it ends with the same result.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import json
import os
import random
import stat
import sys
from typing import Any

#: The checkpoint format; a file of another version is refused, not misread.
VERSION = 5
FORMAT = "lockstep-checkpoint"
#: a checkpoint larger than this is refused unread (DPOR's state is far smaller)
MAX_BYTES = 1 << 30

_ATOMS = (type(None), bool, int, float, str)
_CONTAINERS = {list: "l", tuple: "t", dict: "d", set: "s", frozenset: "f"}
#: the entries made from their contents (no empty shell comes first)
_IMMUTABLE = frozenset({"t", "f", "R", "e"})
_PACKAGE = "lockstep.scheduler."


class CheckpointError(ValueError):
    """A checkpoint file that cannot be resumed from (another scenario, version, or broken)."""


def save(path: str, identity: tuple[object, ...], state: dict[str, Any]) -> None:
    """Write ``state`` for the exploration ``identity`` (scenario, strategy, options)."""
    objects = encode({"identity": identity, "state": state})
    document = {
        "format": FORMAT,
        "version": VERSION,
        "sha256": _digest(objects),
        "objects": objects,
    }
    temporary = f"{path}.tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(document, f, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot write the checkpoint: {exc.strerror}") from None


def load(path: str, identity: tuple[object, ...]) -> dict[str, Any] | None:
    """The saved state, or None if there is no checkpoint yet."""
    if not os.path.exists(path):
        return None
    try:
        document = _read(path)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a lockstep checkpoint")
        if document.get("version") != VERSION:
            raise CheckpointError(f"{path}: checkpoint of another lockstep version")
        objects = document.get("objects")
        if document.get("sha256") != _digest(objects):
            raise CheckpointError(f"{path}: corrupt checkpoint (its sha256 does not match)")
        data = decode(objects)
    except CheckpointError:
        raise
    except (
        OSError,
        ImportError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        RecursionError,
    ) as exc:
        message = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{path}: not a readable lockstep checkpoint ({message})") from None
    if not isinstance(data, dict) or not isinstance(data.get("state"), dict):
        raise CheckpointError(f"{path}: not a readable lockstep checkpoint")
    if data.get("identity") != identity:
        raise CheckpointError(
            f"{path}: checkpoint of another exploration {data.get('identity')!r}, not {identity!r}"
        )
    return data["state"]  # type: ignore[no-any-return]


def remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def _digest(objects: Any) -> str:
    """The SHA-256 of the object table as `save` writes it: a changed byte is a corrupt
    file, not a state that breaks the exploration somewhere later."""
    text = json.dumps(objects, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _read(path: str) -> Any:
    """The JSON of a regular file no larger than `MAX_BYTES` (a FIFO would hang)."""
    with open(path, "rb", opener=_nonblocking) as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise CheckpointError(f"{path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise CheckpointError(f"{path}: larger than {MAX_BYTES >> 20} MiB")
        return json.loads(f.read(MAX_BYTES + 1))


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


# -- the object table -----------------------------------------------------------------


def encode(root: object) -> list[Any]:
    """The table of ``root``'s object graph: entry 0 is ``root`` (see the module note)."""
    table: list[Any] = []
    numbers: dict[int, int] = {}
    keep: list[object] = []  # holds every numbered object, so that no id is reused
    pending: list[tuple[int, object]] = []

    def ref(value: object) -> Any:
        if type(value) in _ATOMS:
            return value
        number = numbers.get(id(value))
        if number is None:
            number = numbers[id(value)] = len(table)
            table.append(None)
            keep.append(value)
            pending.append((number, value))
        return {"r": number}

    ref(root)
    while pending:
        number, value = pending.pop()
        table[number] = _entry(value, ref)
    return table


def _entry(value: Any, ref: Any) -> list[Any]:
    kind = type(value)
    tag = _CONTAINERS.get(kind)
    if tag == "d":
        return ["d", [[ref(k), ref(v)] for k, v in value.items()]]
    if tag is not None:
        return [tag, [ref(item) for item in value]]
    if kind is random.Random:
        version, words, gauss = value.getstate()
        return ["R", [version, list(words), gauss]]
    name = _class_name(kind)
    if isinstance(value, enum.Enum):
        return ["e", name, value.name]
    return ["i", name, {field: ref(v) for field, v in _fields(value)}]


def _class_name(kind: type) -> str:
    if not kind.__module__.startswith(_PACKAGE):
        raise TypeError(f"a checkpoint cannot hold a {kind.__module__}.{kind.__qualname__}")
    return f"{kind.__module__}:{kind.__qualname__}"


def _fields(value: object) -> list[tuple[str, object]]:
    """An instance's attributes: its ``__dict__`` and every slot that is set, less those
    its class names ``transient`` (a cached hash: they are None when loaded)."""
    transient = getattr(type(value), "transient", ())
    fields = list(getattr(value, "__dict__", {}).items())
    for name in _slots(type(value)):
        if hasattr(value, name):
            fields.append((name, getattr(value, name)))
    return [(name, v) for name, v in fields if name not in transient]


def _slots(kind: type) -> list[str]:
    names: list[str] = []
    for base in kind.__mro__:
        slots = base.__dict__.get("__slots__", ())
        slots = [slots] if isinstance(slots, str) else slots
        names += [s for s in slots if s not in ("__dict__", "__weakref__")]
    return names


def decode(table: Any) -> Any:
    """The object graph `encode` made ``table`` of: its entry 0.

    Without recursion, however deep the graph: the mutable objects and instances are made
    empty first (a reference to one is then just its identity), the immutable ones (tuples,
    frozensets) are built items first with an explicit stack, and the mutable ones are
    filled last."""
    if not isinstance(table, list) or not table:
        raise ValueError("no objects")
    for number, entry in enumerate(table):
        if not isinstance(entry, list) or len(entry) not in (2, 3):
            raise ValueError(f"entry {number} is not an object")
    made: list[Any] = [_shell(entry) for entry in table]

    def number_of(raw: Any) -> int:
        if not isinstance(raw, dict) or set(raw) != {"r"} or type(raw["r"]) is not int:
            raise ValueError(f"not a value: {str(raw)[:40]}")
        if not 0 <= raw["r"] < len(table):
            raise ValueError(f"no object {raw['r']}")
        return raw["r"]  # type: ignore[no-any-return]

    def value(raw: Any) -> Any:
        return raw if type(raw) in _ATOMS else made[number_of(raw)]

    built = [table[n][0] not in _IMMUTABLE for n in range(len(table))]
    for first in range(len(table)):
        stack, expanded = [first], set()
        while stack:
            number = stack[-1]
            if built[number]:
                stack.pop()
            elif number not in expanded:
                expanded.add(number)
                for raw in _items(table[number]):
                    if type(raw) in _ATOMS or built[number_of(raw)]:
                        continue
                    if number_of(raw) in expanded:
                        raise ValueError(f"object {number} contains itself")
                    stack.append(number_of(raw))
            else:
                stack.pop()
                made[number] = _fill(None, table[number], value)
                built[number] = True
    for number, entry in enumerate(table):
        if entry[0] not in _IMMUTABLE:
            _fill(made[number], entry, value)
    return made[0]


def _items(entry: list[Any]) -> list[Any]:
    """The references an immutable entry's items make (a tuple's, a frozenset's)."""
    body = entry[1]
    if entry[0] in ("t", "f"):
        if not isinstance(body, list):
            raise ValueError("a container without items")
        return body
    return []


def _shell(entry: list[Any]) -> Any:
    """What an entry becomes before its contents are known (cycles go through shells)."""
    tag = entry[0]
    if tag == "l":
        return []
    if tag == "d":
        return {}
    if tag == "s":
        return set()
    if tag in _IMMUTABLE:
        return None
    if tag == "i":
        kind = _checkpoint_class(entry[1])
        if kind.__new__ is not object.__new__:
            raise ValueError(f"{entry[1]} is not a plain class")
        shell = object.__new__(kind)
        for name in getattr(kind, "transient", ()):
            object.__setattr__(shell, name, None)
        return shell
    raise ValueError(f"unknown entry {str(tag)[:20]!r}")


def _fill(shell: Any, entry: list[Any], value: Any) -> Any:
    tag, body = entry[0], entry[1]
    if tag in ("l", "t", "s", "f", "d") and not isinstance(body, list):
        raise ValueError("a container without items")
    if tag == "l":
        shell.extend(value(item) for item in body)
        return shell
    if tag == "t":
        return tuple(value(item) for item in body)
    if tag == "s":
        shell.update(value(item) for item in body)
        return shell
    if tag == "f":
        return frozenset(value(item) for item in body)
    if tag == "d":
        for pair in body:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ValueError("a dict entry that is not a pair")
            shell[value(pair[0])] = value(pair[1])
        return shell
    if tag == "R":
        version, words, gauss = body
        state = random.Random()
        state.setstate((version, tuple(words), gauss))
        return state
    if tag == "e":
        kind = _checkpoint_class(body)
        if not issubclass(kind, enum.Enum) or not isinstance(entry[2], str):
            raise ValueError(f"{body} is not an enum")
        return kind[entry[2]]
    kind = type(shell)
    attributes = entry[2]
    if not isinstance(attributes, dict):
        raise ValueError(f"{body} without attributes")
    allowed = set(_slots(kind))
    for name, raw in attributes.items():
        plain = hasattr(shell, "__dict__") and name.isidentifier() and not name.startswith("__")
        if name not in allowed and not plain:
            raise ValueError(f"{body} has no field {name[:40]!r}")
        object.__setattr__(shell, name, value(raw))
    return shell


def _checkpoint_class(name: Any) -> type:
    """A class this package's ``scheduler`` modules define, by ``module:qualname``."""
    if not isinstance(name, str) or name.count(":") != 1:
        raise ValueError(f"not a class name: {str(name)[:60]!r}")
    module, qualname = name.split(":")
    if not module.startswith(_PACKAGE) or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"refusing {name[:60]}: not a checkpoint class")
    found: Any = sys.modules.get(module) or importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part, None) if part.isidentifier() else None
    if not isinstance(found, type) or found.__module__ != module:
        raise ValueError(f"refusing {name[:60]}: not a checkpoint class")
    return found
