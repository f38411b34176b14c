"""Tell apart the findings of fuzz campaigns on the merged model: which known bug each is.

For every scenario file a campaign wrote (``bench/fuzz.py --keep DIR``), the finding is
checked again on the merged model, then with the later fix of the two-devices-one-group
detach race switched on (`Variant.later_detach_reads_hwpt_locked`, v6.15's 75f990aef38e).
A finding the fix removes is that race. One that stays is compared with what the shipped
scenario of the other known race, replace-vs-replace-one-group, shows; anything else is
printed as unexplained, for reading by hand.

    python bench/audit.py DIR [DIR ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lockstep.actors.variant import MERGED, Variant
from lockstep.scenarios import toml_scenario
from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.scheduler.events import Signature, describe
from lockstep.tools import DEFAULT_BUDGET
from lockstep.tools.fuzz import read_meta, verdict

FIXED = Variant(later_detach_reads_hwpt_locked=True)


def shows(path: Path, variant: Variant, fail_nth: object) -> set[Signature]:
    spec = toml_scenario.load_spec(path)
    return set(verdict(spec, budget=DEFAULT_BUDGET, variant=variant, fail_nth=fail_nth).findings)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("dirs", type=Path, nargs="+")
    args = parser.parse_args()
    other = shows(DIRECTORY / "replace-vs-replace-one-group.toml", MERGED, None)
    other |= shows(DIRECTORY / "two-devices-one-group.toml", FIXED, None)
    tally: dict[str, int] = {}
    print("| file | finding | merged | with the v6.15 detach fix | verdict |")
    print("|---|---|---|---|---|")
    for path in sorted(p for d in args.dirs for p in d.rglob("*.toml")):
        meta = read_meta(path)
        if meta is None:
            continue
        sig = tuple(meta["signature"])  # type: ignore[arg-type]
        sig = (str(sig[0]), tuple(sig[1]), str(sig[2]))
        fail = meta.get("fail_nth")
        merged = shows(path, MERGED, fail)
        fixed = shows(path, FIXED, fail)
        if sig not in merged:
            kind = "does not reproduce"
        elif sig not in fixed:
            kind = "two-devices detach race"
        elif fixed <= other:
            kind = "auto-domain race (replace-vs-replace-one-group)"
        else:
            kind = "unexplained: " + "; ".join(describe(s) for s in sorted(fixed - other))
        tally[kind] = tally.get(kind, 0) + 1
        print(
            f"| {path.parent.name}/{path.name} | {describe(sig).replace('|', '/')} | "
            f"{len(merged)} findings | "
            f"{len(fixed)} findings | {kind} |",
            flush=True,
        )
    print()
    for kind, count in sorted(tally.items()):
        print(f"{count:4d}  {kind}")


if __name__ == "__main__":
    main()
