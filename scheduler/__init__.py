"""The lockstep runtime: a controlled scheduler for trio actors, emulated kernel locks with
lock classes, a lockdep validator and deadlock detection, with exact replay.

It knows nothing of iommufd: a toy model uses it as well as the iommufd model does.
"""

from lockstep.scheduler.events import FINDING_KINDS, Event, Finding, Footprint, Site
from lockstep.scheduler.explore import ExploreResult, ReplayResult, explore, replay
from lockstep.scheduler.locks import LockClass, LockStatistics, Mutex, RwLock, RwSem, SpinLock
from lockstep.scheduler.runtime import (
    InvariantViolation,
    Program,
    current_actor,
    debug_check_no_locks_freed,
    fault_injected,
    fault_point,
    lockdep_assert_held,
    lockdep_assert_held_read,
    lockdep_assert_held_write,
    lockdep_assert_not_held,
    might_sleep,
    operation,
    point,
)
from lockstep.scheduler.schedule import Schedule, ScheduleError

__all__ = [
    "FINDING_KINDS",
    "Event",
    "ExploreResult",
    "Finding",
    "Footprint",
    "InvariantViolation",
    "LockClass",
    "LockStatistics",
    "Mutex",
    "Program",
    "ReplayResult",
    "RwLock",
    "RwSem",
    "Schedule",
    "ScheduleError",
    "Site",
    "SpinLock",
    "current_actor",
    "debug_check_no_locks_freed",
    "explore",
    "fault_injected",
    "fault_point",
    "lockdep_assert_held",
    "lockdep_assert_held_read",
    "lockdep_assert_held_write",
    "lockdep_assert_not_held",
    "might_sleep",
    "operation",
    "point",
    "replay",
]
