"""The VFIO side of a physical device: its device set and the lock every cdev ioctl takes.

VFIO groups devices into device sets (``struct vfio_device_set``, drivers/vfio/vfio_main.c)
and serializes every open, close, bind, attach and detach of a device with its set's
``dev_set->lock``:

- ``vfio_df_ioctl_bind_iommufd()`` (drivers/vfio/device_cdev.c, VFIO_DEVICE_BIND_IOMMUFD)
  takes it around ``vfio_df_open()``, which binds (``vfio_iommufd_physical_bind``);
- ``vfio_df_ioctl_attach_pt()`` and ``vfio_df_ioctl_detach_pt()``
  (VFIO_DEVICE_ATTACH/DETACH_IOMMUFD_PT) take it around ``device->ops->attach_ioas`` and
  ``detach_ioas``;
- closing the device file (``vfio_device_fops_release()`` -> ``vfio_df_unbind_iommufd()``)
  takes it around ``vfio_df_close()``, which unbinds.

Which devices share a set is the driver's choice. ``vfio_register_group_dev()`` gives a
device a set of its own unless the driver assigned one (``vfio_assign_device_set``).
vfio-pci (``vfio_pci_core_register_device``) gives a device on a root bus a set of its
own, and otherwise shares one per slot that can reset, else per bus. So two functions of
one multifunction device on a root bus, in one iommu group for want of ACS, are in two
sets: their ioctls run concurrently. Two devices behind one bridge share a set and do not.

The legacy group path (drivers/vfio/group.c, `VfioGroup`): VFIO_GROUP_GET_DEVICE_FD opens
a device through its group's file (``vfio_df_group_open``), and closing that file closes it
(``vfio_df_group_close``), each under ``group->group_lock`` and then ``dev_set->lock``. The
first open binds the device and attaches it to the IOAS the group's iommufd compat layer
chose (IOMMU_VFIO_IOAS); the last close detaches and unbinds it. One VFIO group is one
iommu group, so through this path the devices of a group never attach or detach
concurrently, whatever their device sets.

The two paths exclude each other per group (drivers/vfio/group.c): binding a device through
its cdev first counts it in ``group->cdev_device_open_cnt`` (``vfio_device_block_group``,
-EBUSY while the group's file is open), and opening the group's file fails with -EBUSY while
that count is not zero (``vfio_group_fops_open``). So the devices of one group are all driven
through one path at a time.
"""

from __future__ import annotations

import errno

import attrs

from lockstep.scheduler import LockClass, Mutex
from lockstep.scheduler.access import shared

#: ``mutex_init(&new_dev_set->lock)`` in ``vfio_assign_device_set()``: one class for all.
DEV_SET_LOCK = LockClass("&new_dev_set->lock")


@shared
@attrs.define(eq=False, slots=False)
class VfioDeviceSet:
    """``struct vfio_device_set``: the devices that reset together, and their lock."""

    name: str
    lock: Mutex = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.lock = Mutex(DEV_SET_LOCK, name=f"{self.name}.lock")


#: ``mutex_init(&group->group_lock)`` in ``vfio_group_alloc()``: one class for all.
GROUP_LOCK = LockClass("&group->group_lock")


@shared
@attrs.define(eq=False, slots=False)
class VfioGroup:
    """``struct vfio_group``: one per iommu group, its ``group_lock``, whether the
    process has the group's file open (``opened_file``; it keeps it open until it closes
    its files), and how many of its devices are bound through their cdev."""

    name: str
    opened_file: bool = False
    cdev_device_open_cnt: int = 0
    group_lock: Mutex = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.group_lock = Mutex(GROUP_LOCK, name=f"{self.name}.group_lock")


async def vfio_device_block_group(group: VfioGroup) -> int:
    """``vfio_device_block_group()``: a cdev bind counts the device in its group, unless
    the group's file is open (-EBUSY)."""
    async with group.group_lock:
        if group.opened_file:
            return -errno.EBUSY
        group.cdev_device_open_cnt += 1
    return 0


async def vfio_device_unblock_group(group: VfioGroup) -> None:
    """``vfio_device_unblock_group()``: the cdev bind is undone or closed."""
    async with group.group_lock:
        group.cdev_device_open_cnt -= 1


async def vfio_group_fops_open(group: VfioGroup) -> int:
    """``vfio_group_fops_open()``: -EBUSY while a device of the group is bound through
    its cdev; the file is opened once (a second opener gets -EBUSY in the kernel; the
    model's actors are one process, which shares its one group file)."""
    async with group.group_lock:
        if group.cdev_device_open_cnt:
            return -errno.EBUSY
        group.opened_file = True
    return 0


async def vfio_group_fops_release(group: VfioGroup) -> None:
    """``vfio_group_fops_release()``: the process closes the group's file (after its
    device files, which hold a reference to it)."""
    async with group.group_lock:
        group.opened_file = False
