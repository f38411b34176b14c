"""The iommufd object model of "Add iommufd physical device operations for replace and alloc
hwpt" as merged (v8, Linux 6.6), on top of the scheduler's emulated locks.

One module per kernel file, with the kernel's function names: `ctx` (main.c), `ioas` (ioas.c),
`io_pagetable` (io_pagetable.c), `hwpt` (hw_pagetable.c), `device` and `group` (device.c),
`iommu_core` (iommu.c), `selftest` (selftest.c); `kernel` holds the C idioms (ERR_PTR,
WARN_ON, failing allocations) and `system` the emulated machine. `ops` is what actors call:
one ioctl or kernel entry each, and `invariants` checks a finished execution.

Importing this package fills ``iommufd_object_ops`` for every object type.
"""

from actors import ctx, device, hwpt, ioas, selftest

__all__ = ["ctx", "device", "hwpt", "ioas", "selftest"]
