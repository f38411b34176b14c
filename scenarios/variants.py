"""The named model variants: one historical bug of the series each (reference §4).

Each names the `actors.variant.Variant` switch it turns on, the bug, and the exploration a
user would run to catch it, with the finding kind and lock class it gives. The same
exploration without the variant is clean: that is what the tests check.
"""

from __future__ import annotations

from attrs import frozen

from lockstep.actors.variant import Variant


@frozen
class NamedVariant:
    name: str
    bug: str
    description: str
    flags: Variant
    #: The exploration that catches it: scenario, and whether it needs --faults.
    scenario: str
    faults: bool
    #: What it is caught as: finding kind and lock class ("" for an invariant).
    kind: str
    lock_class: str
    #: The strategy of that exploration.
    strategy: str = "dfs"

    def command(self) -> list[str]:
        """``lockstep`` arguments of the exploration that catches it."""
        args = ["explore", self.scenario, "--variant", self.name, "--strategy", self.strategy]
        return args + (["--faults"] if self.faults else [])


VARIANTS: tuple[NamedVariant, ...] = (
    NamedVariant(
        "v4-detach-unlocked",
        "B1",
        "v4: the hwpt_alloc unwind detaches without igroup->lock (syzkaller, reverted in v5)",
        Variant(detach_unlocked=True),
        "selftest-device",
        True,
        "assert-held",
        "&igroup->lock",
    ),
    NamedVariant(
        "v5-abort-via-destroy",
        "B2",
        "<=v5: no hwpt .abort op, abort_and_destroy runs destroy under ioas->mutex (fixed v6)",
        Variant(abort_via_destroy=True),
        "selftest-device",
        True,
        "recursive-locking",
        "&ioas->mutex",
    ),
    NamedVariant(
        "v5-alloc-unlock-early",
        "B3",
        "v5: IOMMU_HWPT_ALLOC drops ioas->mutex before respond, finalize and abort (fixed v6)",
        Variant(alloc_unlock_early=True),
        "selftest-device",
        True,
        "assert-held",
        "&ioas->mutex",
    ),
    NamedVariant(
        "finalize-after-unlock",
        "B4",
        "auto_get_domain unlocks ioas->mutex before finalizing its hwpt (v6 11/19 fixed it)",
        Variant(finalize_after_unlock=True),
        "auto-domain-vs-auto-domain",
        False,
        "invariant",
        "",
    ),
    NamedVariant(
        "shared-destroy-rwsem-class",
        "B5",
        "one lock class for every destroy_rwsem: MOCK_DOMAIN_REPLACE trips lockdep (v6 15/19)",
        Variant(shared_destroy_rwsem_class=True),
        "selftest-device",
        False,
        "recursive-locking",
        "&obj->destroy_rwsem",
    ),
    NamedVariant(
        "destroy-elevates-refcount",
        "B0",
        "IOMMU_DESTROY keeps a users ref outside destroy_rwsem: WARN in unbind (CVE-2023-53795)",
        Variant(destroy_elevates_refcount=True),
        "destroy-vs-unbind",
        False,
        "invariant",
        "",
    ),
)


def get(name: str) -> NamedVariant:
    """The variant called ``name``; `KeyError` with the known names if there is none."""
    for variant in VARIANTS:
        if variant.name == name:
            return variant
    known = ", ".join(v.name for v in VARIANTS)
    raise KeyError(f"unknown variant {name!r} (known: {known})")
