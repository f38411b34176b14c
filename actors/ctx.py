"""The iommufd context and its object table: drivers/iommu/iommufd/main.c.

``ictx->objects`` is an xarray: `_iommufd_object_alloc` reserves an id with a zero entry
(``XA_ZERO_ENTRY``, invisible to ``xa_load``), `iommufd_object_finalize` publishes the object,
`iommufd_object_abort` erases the reservation. Both xarrays of the context (``objects`` and
``groups``) are protected by their ``xa_lock``, a spinlock, modelled as one `SpinLock` each.

Every object has ``users`` (a refcount_t starting at 1, the xarray's reference) and a
``destroy_rwsem`` whose lock class is per object type (v6 15/19, ``obj_keys[type]``):
ioctls take it by trylock through `iommufd_get_object`, and only destruction takes it for
write, blocking. `destroy_rwsem_class` is the one place that decides the class.

Model-only checks: a freed object that is touched again, and an unpublished object used by an
actor other than its creator (reference §3 invariant I2), are `InvariantViolation`s.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from lockstep.actors.kernel import (
    ERR_PTR,
    IS_ERR,
    WARN_ON,
    ErrPtr,
    copy_to_user,
    kzalloc,
    xa_find_after,
)
from lockstep.actors.variant import MERGED, Variant
from lockstep.scheduler import (
    InvariantViolation,
    LockClass,
    RwSem,
    SpinLock,
    current_actor,
    debug_check_no_locks_freed,
    fault_point,
    point,
)
from lockstep.scheduler.access import shared

if TYPE_CHECKING:
    from lockstep.actors.group import IommufdGroup


class ObjType(enum.Enum):
    """``enum iommufd_object_type`` of v6.6 (ANY is a wildcard for lookups only)."""

    NONE = "none"
    ANY = "any"
    DEVICE = "device"
    HW_PAGETABLE = "hwpt"
    IOAS = "ioas"
    ACCESS = "access"
    SELFTEST = "selftest"


def destroy_rwsem_class(type_: ObjType, variant: Variant = MERGED) -> LockClass:
    """The lockdep class of ``obj->destroy_rwsem``: one per object type, ``obj_keys[type]``
    (v6 15/19); before it, ``init_rwsem()`` gave every object the one class (variant B5)."""
    if variant.shared_destroy_rwsem_class:
        return LockClass("&obj->destroy_rwsem")
    return LockClass(f"&obj->destroy_rwsem/{type_.value}")


XA_ZERO_ENTRY = "XA_ZERO_ENTRY"


@shared
@attrs.define(eq=False, slots=False)
class IommufdObject:
    """``struct iommufd_object``, embedded in each object as ``obj`` (``container_of``)."""

    ictx: IommufdCtx
    type: ObjType
    #: the xarray index `_iommufd_object_alloc` reserved
    id: int
    #: refcount_t users: 1 for the xarray, plus each holder (ioctl, attachment, driver)
    users: int
    destroy_rwsem: RwSem
    #: the object this one is embedded in (hwpt, ioas, idev, selftest object)
    container: Any = None
    #: the actor that allocated it; only that actor may use it before finalize (I2)
    creator: str = ""
    finalized: bool = False
    freed: bool = False

    @property
    def name(self) -> str:
        """Instance name for traces and footprints: type and id, e.g. ``hwpt3``."""
        return f"{self.type.value}{self.id}"


def check_live(obj: IommufdObject, what: str) -> None:
    """Model check: touching a freed object is a use-after-free."""
    if obj.freed:
        raise InvariantViolation(f"use-after-free: {what} on freed object {obj.name}")


async def refcount_inc(obj: IommufdObject) -> None:
    """``refcount_inc(&obj->users)``: an atomic; incrementing 0 is a refcount_t WARN."""
    await point()
    check_live(obj, "refcount_inc")
    WARN_ON(obj.users == 0, lambda: f"refcount_t: addition on 0; use-after-free ({obj.name})")
    obj.users += 1


async def refcount_add(n: int, obj: IommufdObject) -> None:
    """``refcount_add(n, &obj->users)``."""
    await point()
    check_live(obj, "refcount_add")
    WARN_ON(obj.users == 0, lambda: f"refcount_t: addition on 0; use-after-free ({obj.name})")
    obj.users += n


async def refcount_dec(obj: IommufdObject) -> None:
    """``refcount_dec(&obj->users)``: reaching 0 here is a refcount_t WARN (leak)."""
    await point()
    check_live(obj, "refcount_dec")
    obj.users -= 1
    WARN_ON(obj.users <= 0, lambda: f"refcount_t: decrement hit 0; leaking memory ({obj.name})")


async def refcount_sub_and_test(n: int, obj: IommufdObject) -> bool:
    """``refcount_sub_and_test(n, &obj->users)``: true when it reaches 0."""
    await point()
    check_live(obj, "refcount_sub_and_test")
    obj.users -= n
    WARN_ON(obj.users < 0, lambda: f"refcount_t: underflow ({obj.name})")
    return obj.users == 0


@attrs.define(eq=False)
class ObjectOps:
    """An entry of ``iommufd_object_ops[]``: ``.destroy`` and the optional ``.abort``."""

    destroy: Callable[[IommufdObject], Awaitable[None]]
    abort: Callable[[IommufdObject], Awaitable[None]] | None = None


#: ``iommufd_object_ops[]``: filled by each object's module when it is imported.
iommufd_object_ops: dict[ObjType, ObjectOps] = {}


@shared
@attrs.define(eq=False, slots=False)
class IommufdCtx:
    """``struct iommufd_ctx``: the two xarrays and their xa_locks (iommufd_fops_open)."""

    #: ``ictx->objects``: id -> object, or XA_ZERO_ENTRY while reserved (XA_FLAGS_ALLOC1)
    objects: dict[int, IommufdObject | str] = attrs.field(factory=dict)
    objects_xa_lock: SpinLock = attrs.field(
        factory=lambda: SpinLock(LockClass("&ictx->objects.xa_lock"), name="ictx.objects.xa_lock")
    )
    #: ``ictx->groups``: iommu_group id -> iommufd_group
    groups: dict[int, IommufdGroup] = attrs.field(factory=dict)
    groups_xa_lock: SpinLock = attrs.field(
        factory=lambda: SpinLock(LockClass("&ictx->groups.xa_lock"), name="ictx.groups.xa_lock")
    )
    #: ``ictx->vfio_ioas``: the VFIO compatibility IOAS, cleared when it is destroyed
    vfio_ioas: Any = None
    #: ``ictx->account_mode`` is IOPT_PAGES_ACCOUNT_MM (IOMMU_OPTION_RLIMIT_MODE 1), not the
    #: default IOPT_PAGES_ACCOUNT_USER (0)
    account_mode_mm: bool = False
    #: which historical mistakes the model makes (model-only; `MERGED`: none)
    variant: Variant = MERGED

    async def xa_alloc(self) -> int:
        """``xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b)``: reserve the
        lowest free id; returns it, or a negative errno."""
        if await fault_point("xa_alloc", errno.ENOMEM):
            return -errno.ENOMEM
        async with self.objects_xa_lock:
            new_id = 1
            while new_id in self.objects:
                new_id += 1
            self.objects[new_id] = XA_ZERO_ENTRY
        return new_id

    async def xa_store(self, id_: int, obj: IommufdObject) -> object:
        """``xa_store(&ictx->objects, id, obj)``: returns the old entry (NULL for a zero entry)."""
        async with self.objects_xa_lock:
            old = self.objects.get(id_)
            self.objects[id_] = obj
        return None if old == XA_ZERO_ENTRY else old

    async def xa_erase(self, id_: int) -> object:
        """``xa_erase(&ictx->objects, id)``: returns the old entry (NULL for a zero entry)."""
        async with self.objects_xa_lock:
            old = self.objects.pop(id_, None)
        return None if old == XA_ZERO_ENTRY else old


async def _iommufd_object_alloc(ictx: IommufdCtx, type_: ObjType) -> IommufdObject | ErrPtr:
    """``_iommufd_object_alloc()``: kzalloc, per-type destroy_rwsem, users = 1, reserve an id.

    The model reserves the id before it makes the rwsem (the kernel inits it first; nobody can
    see the object yet), so that the lock instance is named after its object."""
    if not await kzalloc("iommufd_object_alloc"):
        return ERR_PTR(-errno.ENOMEM)
    new_id = await ictx.xa_alloc()
    if new_id < 0:
        # out_free: kfree(obj)
        return ERR_PTR(new_id)
    name = f"{type_.value}{new_id}"
    return IommufdObject(
        ictx=ictx,
        type=type_,
        id=new_id,
        users=1,
        destroy_rwsem=RwSem(destroy_rwsem_class(type_, ictx.variant), name=f"{name}.destroy_rwsem"),
        creator=current_actor(),
    )


async def iommufd_object_finalize(ictx: IommufdCtx, obj: IommufdObject) -> None:
    """``iommufd_object_finalize()``: publish the object in place of its zero entry."""
    check_live(obj, "iommufd_object_finalize")
    # the model's mark (for I2) goes first: once stored, anyone may look the object up
    obj.finalized = True
    old = await ictx.xa_store(obj.id, obj)
    # obj->id was returned from xa_alloc() so the xa_store() cannot fail
    WARN_ON(old is not None, lambda: f"iommufd_object_finalize: {obj.name} was already published")


def kfree_object(obj: IommufdObject) -> None:
    """``kfree(obj)``: its destroy_rwsem goes with it and must not be held.

    Model check: a published object is freed only after ``iommufd_object_remove()`` took
    its last reference (``refcount_dec_if_one``), so users is 0. An aborted object was
    never published and nobody else can hold it; the v6.6 unwinds leave counts on it
    (``iommufd_hw_pagetable_alloc``'s ``out_detach`` drops the detached hwpt's return value),
    so its count is not checked."""
    check_live(obj, "kfree")
    debug_check_no_locks_freed(obj.destroy_rwsem)
    WARN_ON(
        obj.finalized and obj.users > 0,
        lambda: f"{obj.name} freed with users = {obj.users}: someone still holds it",
    )
    obj.freed = True


async def iommufd_object_abort(ictx: IommufdCtx, obj: IommufdObject) -> None:
    """``iommufd_object_abort()``: undo an alloc that was never finalized."""
    old = await ictx.xa_erase(obj.id)
    WARN_ON(old is not None, lambda: f"iommufd_object_abort: {obj.name} was published")
    kfree_object(obj)


async def iommufd_object_abort_and_destroy(ictx: IommufdCtx, obj: IommufdObject) -> None:
    """``iommufd_object_abort_and_destroy()``: the type's ``.abort`` (else ``.destroy``), then
    abort. Since v6 10/19 a hwpt has ``.abort``, which runs under the caller's ioas->mutex;
    before it (variant B2) the hwpt destroy op ran there and took ioas->mutex again."""
    ops = iommufd_object_ops[obj.type]
    if ops.abort is not None and not ictx.variant.abort_via_destroy:
        await ops.abort(obj)
    else:
        await ops.destroy(obj)
    await iommufd_object_abort(ictx, obj)


async def iommufd_lock_obj(obj: IommufdObject) -> bool:
    """``iommufd_lock_obj()``: ``down_read_trylock(destroy_rwsem)`` + ``refcount_inc_not_zero``.

    A trylock: lockdep records no edge into it, only out of it. The model also checks I2
    here: an object that is not finalized may be locked only by the task that allocated it.
    """
    check_live(obj, "iommufd_lock_obj")
    if not await obj.destroy_rwsem.down_read_trylock():
        return False
    await point()
    if obj.users == 0:
        await obj.destroy_rwsem.up_read()
        return False
    obj.users += 1
    if not obj.finalized and obj.creator != current_actor():
        raise InvariantViolation(
            f"unfinalized object {obj.name} used by {current_actor()}, not by its creator "
            f"{obj.creator} (I2)"
        )
    return True


async def iommufd_get_object(ictx: IommufdCtx, id_: int, type_: ObjType) -> IommufdObject | ErrPtr:
    """``iommufd_get_object()``: look up and lock an object; -ENOENT if missing, of another
    type, unpublished or being destroyed."""
    if await fault_point("iommufd_should_fail", errno.ENOENT):
        return ERR_PTR(-errno.ENOENT)
    result: IommufdObject | ErrPtr
    async with ictx.objects_xa_lock:
        obj = ictx.objects.get(id_)
        if (
            not isinstance(obj, IommufdObject)
            or (type_ is not ObjType.ANY and obj.type is not type_)
            or not await iommufd_lock_obj(obj)
        ):
            result = ERR_PTR(-errno.ENOENT)
        else:
            result = obj
    return result


async def iommufd_put_object(obj: IommufdObject) -> None:
    """``iommufd_put_object()``: ``refcount_dec(&obj->users); up_read(&obj->destroy_rwsem)``."""
    await refcount_dec(obj)
    await obj.destroy_rwsem.up_read()


async def iommufd_object_remove(
    ictx: IommufdCtx, id_: int, extra_put: bool
) -> IommufdObject | ErrPtr:
    """``iommufd_object_remove()`` (v6.6): under xa_lock, drop the caller's reference if asked,
    then remove the object only if the xarray holds the last one (-EBUSY otherwise)."""
    result: IommufdObject | ErrPtr
    async with ictx.objects_xa_lock:
        obj = ictx.objects.get(id_)
        if not isinstance(obj, IommufdObject):
            result = ERR_PTR(-errno.ENOENT)
        else:
            # If the caller is holding a ref on obj we put it here under the spinlock.
            if extra_put:
                obj.users -= 1
            # refcount_dec_if_one()
            if obj.users != 1:
                result = ERR_PTR(-errno.EBUSY)
            else:
                obj.users = 0
                del ictx.objects[id_]
                if ictx.vfio_ioas is obj.container:
                    ictx.vfio_ioas = None
                result = obj
    return result


async def __iommufd_object_destroy_user(
    ictx: IommufdCtx, obj: IommufdObject, allow_fail: bool
) -> None:
    """``__iommufd_object_destroy_user()``: the caller holds a users reference and wants the
    object gone. The only blocking (write) use of destroy_rwsem."""
    check_live(obj, "__iommufd_object_destroy_user")
    await obj.destroy_rwsem.down_write()
    ret = await iommufd_object_remove(ictx, obj.id, True)
    await obj.destroy_rwsem.up_write()
    if allow_fail and IS_ERR(ret):
        return
    # If there is a bug and we couldn't destroy the object then we did put back the caller's
    # refcount and will eventually try to free it again during close.
    if WARN_ON(IS_ERR(ret), lambda: f"__iommufd_object_destroy_user({obj.name}): {ret}"):
        return
    await iommufd_object_ops[obj.type].destroy(obj)
    kfree_object(obj)


async def iommufd_object_destroy_user(ictx: IommufdCtx, obj: IommufdObject) -> None:
    """``iommufd_object_destroy_user()``: destroy; failing to is a WARN."""
    await __iommufd_object_destroy_user(ictx, obj, False)


async def iommufd_object_deref_user(ictx: IommufdCtx, obj: IommufdObject) -> None:
    """``iommufd_object_deref_user()``: destroy if ours was the last user, else just put."""
    await __iommufd_object_destroy_user(ictx, obj, True)


async def iommufd_destroy(ictx: IommufdCtx, id_: int) -> int:
    """``iommufd_destroy()``: the IOMMU_DESTROY ioctl (v6.6 form, no refcount elevation)."""
    if ictx.variant.destroy_elevates_refcount:
        return await _iommufd_destroy_elevated(ictx, id_)
    obj = await iommufd_object_remove(ictx, id_, False)
    if IS_ERR(obj):
        return obj.rc
    await iommufd_object_ops[obj.type].destroy(obj)
    kfree_object(obj)
    return 0


async def _iommufd_destroy_elevated(ictx: IommufdCtx, id_: int) -> int:
    """``iommufd_destroy()`` before "iommufd: IOMMUFD_DESTROY should not increase the
    refcount" (99f98a7c0d69, variant B0): ``iommufd_get_object``, ``iommufd_ref_to_users``
    (``up_read`` but keep the users reference), then ``iommufd_object_destroy_user``, -EBUSY
    if that fails. Between the ``up_read`` and the ``down_write`` the elevated users count
    is covered by no destroy_rwsem, so a kernel-side destroy_user of the same object fails
    and WARNs."""
    obj = await iommufd_get_object(ictx, id_, ObjType.ANY)
    if IS_ERR(obj):
        return obj.rc
    # iommufd_ref_to_users(): iommufd_lock_obj() obtains users as well
    await obj.destroy_rwsem.up_read()
    await obj.destroy_rwsem.down_write()
    ret = await iommufd_object_remove(ictx, obj.id, True)
    await obj.destroy_rwsem.up_write()
    if IS_ERR(ret):
        return -errno.EBUSY
    await iommufd_object_ops[obj.type].destroy(obj)
    kfree_object(obj)
    return 0


async def iommufd_fops_release(ictx: IommufdCtx) -> None:
    """``iommufd_fops_release()`` (main.c, v6.6): the last reference to the iommufd file is
    gone, so no ioctl runs; destroy what is left, depth first.

    Each pass destroys every object whose users count is 1 (``refcount_dec_if_one``: only the
    xarray holds it), in index order as ``xa_for_each`` visits them; destroying a leaf drops
    the counts of what it used, so the next pass finds those. A pass that destroys nothing
    is a refcounting bug: ``WARN_ON(!destroyed)``. Then ``WARN_ON(!xa_empty(&ictx->groups))``:
    every iommufd_group went with its last device. A reserved id (a zero entry nobody
    finalized or aborted) keeps the xarray from being empty, and ``xa_for_each`` skips it,
    so it ends in the first WARN."""
    while ictx.objects:
        destroyed = 0
        index = 0
        while (found := xa_find_after(ictx.objects, index, XA_ZERO_ENTRY)) is not None:
            index, obj = found
            assert isinstance(obj, IommufdObject)
            # refcount_dec_if_one(&obj->users)
            await point()
            if obj.users != 1:
                continue
            obj.users = 0
            destroyed += 1
            await ictx.xa_erase(index)
            await iommufd_object_ops[obj.type].destroy(obj)
            kfree_object(obj)
        # Bug related to users refcount
        if WARN_ON(
            not destroyed,
            lambda: (
                "iommufd_fops_release: no object can be destroyed, left: " + ", ".join(_left(ictx))
            ),
        ):
            break
    WARN_ON(
        bool(ictx.groups),
        lambda: f"iommufd_fops_release: ictx->groups not empty: {sorted(ictx.groups)}",
    )


def _left(ictx: IommufdCtx) -> list[str]:
    return [
        f"id {i} reserved" if entry == XA_ZERO_ENTRY else f"{entry.name} (users {entry.users})"
        for i, entry in sorted(ictx.objects.items())
        if isinstance(entry, IommufdObject) or entry == XA_ZERO_ENTRY
    ]


async def iommufd_ucmd_respond(site: str) -> int:
    """``iommufd_ucmd_respond()``: copy the reply to user space (-EFAULT)."""
    return await copy_to_user(site)
