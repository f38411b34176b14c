"""Model variants: switches that bring back one historical mistake of the series each (and two
that fix the merged code's known bugs, to tell which findings each fix removes).

The model as merged (v8, Linux 6.6) is `MERGED`, every switch off. A `Variant` is a frozen
value handed to the model when a program is built (it lives on the `IommufdCtx`), so every
execution of one exploration runs the same code and a replay runs it again. Each switch names
the bug of reference §4 it restores; the model function that reads it says, at the switch,
what the kernel code looked like then. The named, user-facing list is `scenarios.variants`.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Variant:
    """Which historical mistakes the model makes (all False: the code as merged)."""

    #: B1, v4: the IOMMU_HWPT_ALLOC/auto-domain unwind calls the v4
    #: ``iommufd_hw_pagetable_detach()`` (caller must hold igroup->lock) without the lock.
    detach_unlocked: bool = False
    #: B2, <= v5: no hwpt ``.abort`` op, so ``iommufd_object_abort_and_destroy()`` runs the
    #: destroy op, which takes ioas->mutex, under the caller's ioas->mutex.
    abort_via_destroy: bool = False
    #: B3, v5: ``iommufd_hwpt_alloc()`` drops ioas->mutex straight after the alloc, before
    #: respond, finalize and abort.
    alloc_unlock_early: bool = False
    #: B4, before v6 11/19: ``iommufd_device_auto_get_domain()`` unlocks ioas->mutex before it
    #: finalizes its new hwpt.
    finalize_after_unlock: bool = False
    #: B5, before v6 15/19: one lock class for every object's destroy_rwsem (``init_rwsem``).
    shared_destroy_rwsem_class: bool = False
    #: B0, before the 6.5-rc fix: IOMMU_DESTROY takes a users reference through
    #: ``iommufd_get_object()`` and keeps it after ``up_read`` (``iommufd_ref_to_users``).
    destroy_elevates_refcount: bool = False
    #: Not a mistake but a later fix, for telling findings apart: v6.15 (75f990aef38e,
    #: "Wrap igroup->hwpt and igroup->device_list into attach struct") reads
    #: ``igroup->hwpt`` in ``iommufd_hw_pagetable_detach()`` under igroup->lock. A finding
    #: that this switch makes go away is the two-devices-one-group detach race.
    later_detach_reads_hwpt_locked: bool = False
    #: Not a mistake but a fix, for telling findings apart: ``iommufd_device_do_replace()``'s
    #: ``err_unresv`` removes the devices' reserved regions only from an IOAS the group
    #: was not already on (v6.6 removes them unconditionally, which this tool reports). A
    #: finding this switch makes go away is that unwind.
    fix_err_unresv_same_ioas: bool = False
    #: Not a mistake but a later fix, for telling findings apart: Linux 6.8's "iommufd: Fix
    #: iopt_access_list_id overwrite bug" (found by syzkaller) makes ``iopt_add_access()``
    #: store the new access-list id in the access only once the add succeeded; v6.6 lets
    #: ``xa_alloc`` write it there at once, so a replace that fails on the new IOAS leaves
    #: the access with the new IOAS's id on the old one.
    fix_access_list_id: bool = False


#: The model as merged.
MERGED = Variant()
