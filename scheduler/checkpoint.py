"""Checkpoints: an exploration's frontier on disk, so an interrupted one resumes.

Design note. As loom's ``LOOM_CHECKPOINT_FILE``, but for the whole exploration state: the
strategy (for dfs, DPOR's stack of nodes with their wakeup trees and sleep sets; for naive
dfs the path; for random and pct the next execution's index), the chooser of the execution
about to run, the lock graph (lockdep reports depend on edges of earlier executions), and
the findings so far. Everything is plain data, pickled (the exploration state never holds a
live execution between two executions). Loading never runs code a file names: the unpickler
resolves only classes defined in this package's ``scheduler`` modules and ``random.Random``
(`_Unpickler`), never a function, so a crafted checkpoint cannot call ``os.system`` or
anything else. The file is written to a temporary name and
renamed, so an interruption mid-write leaves the previous checkpoint intact; it is removed
when the exploration ends. Resuming checks that the file is for the same scenario, strategy
and options, and that its format is this one.

A resumed exploration runs exactly the executions the uninterrupted one would have run after
that point, so it ends with the same result.
"""

from __future__ import annotations

import importlib
import os
import pickle
import random
import sys
from typing import Any

#: The checkpoint format; a file of another version is refused, not misread.
VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint file that cannot be resumed from (another scenario, version, or broken)."""


def save(path: str, identity: tuple[object, ...], state: dict[str, Any]) -> None:
    """Write ``state`` for the exploration ``identity`` (scenario, strategy, options)."""
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as f:
        pickle.dump({"version": VERSION, "identity": identity, "state": state}, f)
    os.replace(temporary, path)


def load(path: str, identity: tuple[object, ...]) -> dict[str, Any] | None:
    """The saved state, or None if there is no checkpoint yet."""
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as f:
            data = _Unpickler(f).load()
    except Exception as exc:
        message = " ".join(str(exc).split())[:200]
        raise CheckpointError(f"{path}: not a readable lockstep checkpoint ({message})") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint of another lockstep version")
    if data.get("identity") != identity or not isinstance(data.get("state"), dict):
        raise CheckpointError(
            f"{path}: checkpoint of another exploration {data['identity']!r}, not {identity!r}"
        )
    return data["state"]


class _Unpickler(pickle.Unpickler):
    """Resolves only the classes a checkpoint holds (see the module note)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("random", "Random"):
            return random.Random
        if module.startswith("lockstep.scheduler.") and name.isidentifier():
            found = getattr(sys.modules.get(module) or importlib.import_module(module), name, None)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"refusing {module}.{name}: not a checkpoint class")


def remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
