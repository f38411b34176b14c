"""The fuzz benchmark: does `lockstep fuzz`, with no hand-written scenario, find the bugs the
merged model is known to have, how fast, and how small does it shrink them?

A known bug is recognised by its signatures: those the hand-written scenario that shows it
gives (two-devices-one-group for the detach race; replace-vs-destroy --faults for the
``err_unresv`` unwind). A campaign finds it when one of its findings, or the ``also`` list
of one, has such a signature. With ``--variant``, the bug is the variant's, recognised by
its expected finding kind.

    python bench/fuzz.py [--seeds 0 1 2 3 4] [--max-time 600] [--faults] [--variant NAME]
                         [--keep DIR] [--until-found]

``--keep DIR`` keeps each seed's findings folder as DIR/seed-N, for reading them one by one;
``--until-found`` ends a seed's campaign once every bug it looks for is found.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from lockstep import scenarios
from lockstep.scenarios import generate, variants
from lockstep.scheduler import explore
from lockstep.tools.fuzz import Campaign, Found, Signature, signature


def known_signatures(name: str, faults: bool) -> set[Signature]:
    """The signatures the hand-written scenario ``name`` shows."""
    program = scenarios.get(name).program
    result = explore(program, scenario=name, faults=faults, executions=2000)
    return {signature(f) for f in result.findings}


def first(found: list[Found], wanted: set[Signature] | None, kind: str = "") -> Found | None:
    for entry in found:
        sigs = {entry.signature, *entry.also}
        if (wanted is not None and sigs & wanted) or (kind and entry.signature[0] == kind):
            return entry
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-time", type=float, default=600.0)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--variant", default=None)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--until-found", action="store_true")
    args = parser.parse_args()
    if args.variant:
        bugs = {args.variant: (None, variants.get(args.variant).kind)}
    else:
        bugs = {"two-devices detach race": (known_signatures("two-devices-one-group", False), "")}
        if args.faults:
            bugs["err_unresv unwind"] = (known_signatures("replace-vs-destroy", True), "")
    rows: dict[str, list[Found | None]] = {bug: [] for bug in bugs}
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as scratch:
            out = args.keep / f"seed-{seed}" if args.keep else Path(scratch)
            campaign = Campaign(
                seed=seed,
                max_time=args.max_time,
                faults=args.faults,
                variant=args.variant,
                out=out,
            )
            if args.until_found:

                def stop_when_all_found(_: Found, campaign: Campaign = campaign) -> None:
                    if all(first(campaign.found, *bug) for bug in bugs.values()):
                        campaign.max_time = 0.0

                campaign.on_found = stop_when_all_found
            campaign.run()
        for bug, (wanted, kind) in bugs.items():
            rows[bug].append(first(campaign.found, wanted, kind))
        print(
            f"seed {seed}: {campaign.scenarios} scenarios, {campaign.executions:,} executions, "
            f"{len(campaign.found)} findings",
            flush=True,
        )
    print()
    print("| bug | found (seeds) | time to find, s | time to shrink, s | actors x ops |")
    print("|---|---:|---|---|---|")
    for bug, hits in rows.items():
        got = [h for h in hits if h is not None]
        finds = [h.found_after for h in got]
        shrinks = [h.shrink_seconds for h in got]
        sizes = [f"{generate.size(h.spec)[0]}x{generate.size(h.spec)[1]}" for h in got]
        median_find = f"{statistics.median(finds):.0f}" if finds else "-"
        median_shrink = f"{statistics.median(shrinks):.0f}" if shrinks else "-"
        print(
            f"| {bug} | {len(got)}/{len(hits)} | median {median_find} "
            f"({', '.join(f'{x:.0f}' for x in finds)}) | median {median_shrink} | "
            f"{', '.join(sizes)} |"
        )


if __name__ == "__main__":
    main()
