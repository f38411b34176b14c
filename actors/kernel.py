"""Kernel idioms the model is written in: ERR_PTR returns, WARN_ON, failing allocations.

Error convention (one rule for the whole model, so a model function reads like its kernel
twin):

- a kernel function that returns ``int`` returns ``0`` or a *negative* errno from Python's
  `errno` module (``-errno.EBUSY``), exactly as the kernel returns it;
- a kernel function that returns a pointer or ``ERR_PTR(rc)`` returns the object, ``None``
  for ``NULL``, or an `ErrPtr` carrying the negative errno; `IS_ERR` and `PTR_ERR` read it.

Nothing raises for a kernel error. Exceptions are reserved for what the kernel reports
loudly: ``WARN_ON`` becomes `InvariantViolation` (a finding), as do model-level checks.
Error unwinds are written as the kernel writes them, as blocks under a comment that names
the kernel's label (``# err_unlock:``), in reverse order of setup.

Every allocation or driver call that can fail goes through `fault_point`, named after the
kernel call, with the errno the kernel returns there; GFP_KERNEL allocations also call
`might_sleep` so that an allocation under a spinlock is reported.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

import attrs

from lockstep.scheduler import InvariantViolation, fault_point, might_sleep

if TYPE_CHECKING:
    from typing_extensions import TypeIs

T = TypeVar("T")


@attrs.frozen
class ErrPtr:
    """``ERR_PTR(rc)``: a failed pointer return; ``rc`` is the negative errno."""

    rc: int

    def __attrs_post_init__(self) -> None:
        if self.rc >= 0:
            raise ValueError(f"ERR_PTR needs a negative errno, not {self.rc}")

    def __str__(self) -> str:
        """As the kernel's ``%pe`` prints an error pointer: ``-EBUSY``."""
        return f"-{errno_name(self.rc)}"


#: Where Python's ``errno.errorcode`` picks an alias the kernel's errno.h does not use
#: (Linux defines ENOTSUP as EOPNOTSUPP, 95).
_KERNEL_NAMES = {errno.EOPNOTSUPP: "EOPNOTSUPP", errno.EDEADLK: "EDEADLK"}


def errno_name(rc: int) -> str:
    """The errno.h name of ``-rc`` (or ``rc``), as the kernel's ``%pe`` prints it."""
    code = abs(rc)
    return _KERNEL_NAMES.get(code) or errno.errorcode.get(code, str(code))


def ERR_PTR(rc: int) -> ErrPtr:
    """``ERR_PTR()``: wrap a negative errno as a pointer return."""
    return ErrPtr(rc)


def IS_ERR(ptr: object) -> TypeIs[ErrPtr]:
    """``IS_ERR()``: true for an `ErrPtr`."""
    return isinstance(ptr, ErrPtr)


def PTR_ERR(ptr: ErrPtr) -> int:
    """``PTR_ERR()``: the negative errno of an `ErrPtr`."""
    return ptr.rc


def WARN_ON(cond: bool, what: str | Callable[[], str]) -> bool:
    """``WARN_ON()``: a kernel warning is a finding, so a true condition raises. ``what`` may
    be a function that builds the message: it is built only when the warning fires."""
    if cond:
        raise InvariantViolation(f"WARNING: {what if isinstance(what, str) else what()}")
    return False


async def kzalloc(site: str) -> bool:
    """``kzalloc(GFP_KERNEL)`` at `site`: may sleep, may fail with -ENOMEM. True = allocated."""
    might_sleep()
    return not await fault_point(site, errno.ENOMEM)


async def copy_to_user(site: str) -> int:
    """``copy_to_user()`` of an ioctl's reply: 0, or -EFAULT when the user page faults."""
    if await fault_point(site, errno.EFAULT):
        return -errno.EFAULT
    return 0


async def may_fail(site: str, err: int) -> int:
    """A call that can fail (a driver op, ``xa_reserve``, ``iommufd_should_fail``): 0 or -err."""
    if await fault_point(site, err):
        return -err
    return 0


def xa_find_after(
    entries: Mapping[int, T], index: int, skip: object = None
) -> tuple[int, T] | None:
    """``xa_find_after()``: the lowest index above ``index`` and its entry, ``skip``
    entries left out (``xa_for_each`` passes over zero entries); the xarray may have
    changed since the last visit, so each step looks again."""
    later = [i for i, entry in entries.items() if i > index and (skip is None or entry != skip)]
    if not later:
        return None
    found = min(later)
    return found, entries[found]
