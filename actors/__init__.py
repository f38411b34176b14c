"""The iommufd object model of "Add iommufd physical device operations for replace and alloc
hwpt" as merged (v8, Linux 6.6), on top of the scheduler's emulated locks.

One module per kernel file, with the kernel's function names: `ctx` (main.c), `ioas` (ioas.c),
`io_pagetable` (io_pagetable.c), `hwpt` (hw_pagetable.c), `device` and `group` (device.c),
`iommu_core` (iommu.c), `selftest` (selftest.c); `kernel` holds the C idioms (ERR_PTR,
WARN_ON, failing allocations) and `system` the emulated machine. `ops` is what actors call:
one ioctl or kernel entry each, and `invariants` checks a finished execution.

Shared state: every model object is a ``@shared`` class, so each read and write of its
fields (refcounts included) and of the lists and dicts it holds is recorded for the
explorer (`scheduler.access`); nothing is declared by hand. Scheduling points: every lock
operation and every fault point already is one (the runtime makes them). Model code adds a
bare ``point()`` only as an extra preemption window where the kernel touches state outside
any lock: the atomics (``refcount_t users``, the igroup kref) and the one unlocked read, of
``igroup->hwpt`` in ``iommufd_hw_pagetable_detach``.

Importing this package fills ``iommufd_object_ops`` for every object type.
"""

from lockstep.actors import ctx, device, hwpt, ioas, selftest

__all__ = ["ctx", "device", "hwpt", "ioas", "selftest"]
