"""Tell apart the findings of fuzz campaigns on the merged model: which known bug each is.

For every scenario file a campaign wrote (``bench/fuzz.py --keep DIR``), the finding is
checked again on the merged model, then with a fix of each known bug switched on
(`actors.variant.Variant`):

- the two-devices-one-group detach race, fixed as v6.15 did (75f990aef38e: igroup->hwpt
  read under igroup->lock);
- the ``err_unresv`` unwind of ``iommufd_device_do_replace()``, fixed to remove reserved
  regions only from an IOAS the group was not already on;
- the access-list id that v6.6's ``iopt_add_access()`` writes into the access before the
  add can fail, fixed as Linux 6.8 did ("iommufd: Fix iopt_access_list_id overwrite bug").

A finding one fix removes is that bug. One that stays with all of them is compared with what the
shipped scenario of the auto-domain race, replace-vs-replace-one-group (the auto domain
finalized after igroup->lock is dropped), shows with every fix on; anything else is
printed as unexplained, to be read by hand.

    python bench/audit.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lockstep.actors.variant import MERGED, Variant
from lockstep.scenarios import toml_scenario
from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.scheduler.events import Fault, Signature, describe
from lockstep.tools import DEFAULT_BUDGET
from lockstep.tools.fuzz import read_meta, verdict

FIXES = {
    "two-devices detach race": Variant(later_detach_reads_hwpt_locked=True),
    "err_unresv unwind": Variant(fix_err_unresv_same_ioas=True),
    "access-list id overwrite": Variant(fix_access_list_id=True),
}
BOTH = Variant(
    later_detach_reads_hwpt_locked=True, fix_err_unresv_same_ioas=True, fix_access_list_id=True
)


def shows(path: Path, variant: Variant, fail_nth: Fault | None) -> set[Signature]:
    spec = toml_scenario.load_spec(path)
    found = verdict(spec, budget=DEFAULT_BUDGET, variant=variant, fail_nth=fail_nth)
    return set(found.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    auto_domain = shows(DIRECTORY / "replace-vs-replace-one-group.toml", BOTH, None)
    tally: dict[str, int] = {}
    print("| file | finding | verdict |")
    print("|---|---|---|")
    for path in sorted(p for d in args.dirs for p in d.rglob("*.toml")):
        meta = read_meta(path)
        if meta is None:
            continue
        raw = tuple(meta["signature"])  # type: ignore[arg-type]
        sig = (str(raw[0]), tuple(raw[1]), str(raw[2]))
        fail = meta.get("fail_nth")  # type: ignore[assignment]
        if sig not in shows(path, MERGED, fail):  # type: ignore[arg-type]
            kind = "does not reproduce"
        else:
            removed = [bug for bug, fix in FIXES.items() if sig not in shows(path, fix, fail)]  # type: ignore[arg-type]
            left = shows(path, BOTH, fail)  # type: ignore[arg-type]
            if removed:
                kind = " or ".join(removed)
            elif sig in left and left <= auto_domain:
                kind = "auto-domain race (replace-vs-replace-one-group)"
            else:
                kind = "unexplained: " + "; ".join(describe(s) for s in sorted(left))
        tally[kind] = tally.get(kind, 0) + 1
        where = f"{path.parent.parent.name}/{path.parent.name}/{path.name}"
        print(f"| {where} | {describe(sig).replace('|', '/')} | {kind} |", flush=True)
    print()
    for kind, count in sorted(tally.items()):
        print(f"{count:4d}  {kind}")


if __name__ == "__main__":
    main()
