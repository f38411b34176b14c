"""The fuzz benchmark: does `lockstep fuzz`, with no hand-written scenario, find the bugs the
merged model is known to have, how fast, and how small does it shrink them?

A finding is a known bug when that bug's fix removes it (`audit.py`: the detach race's v6.15
fix, the ``err_unresv`` fix, and with ``--faults`` Linux 6.8's fix of the access-list id),
checked after the campaign on the scenario file it wrote. With
``--variant``, the bug is the variant's, recognised by its expected finding kind. Every
finding is listed with its time to find, time to shrink, size and what it is.

    python bench/fuzz.py [--seeds 0 1 2 3 4] [--max-time 600] [--faults] [--variant NAME]
                         [--keep DIR] [--until-found]

``--keep DIR`` keeps each seed's findings folder as DIR/seed-N, for reading them one by one;
``--until-found`` ends a seed's campaign once every bug it looks for is found (variants).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from audit import FIXES, MERGED, shows

from lockstep.scenarios import generate, variants
from lockstep.scheduler.events import describe
from lockstep.tools.fuzz import Campaign, Found


def removed_by(entry: Found) -> list[str]:
    """The known bugs whose fix removes ``entry``'s finding from its scenario file."""
    if entry.signature not in shows(entry.path, MERGED, entry.fail_nth):
        return []
    return [
        bug
        for bug, fix in FIXES.items()
        if entry.signature not in shows(entry.path, fix, entry.fail_nth)
    ]


def first(found: list[Found], is_bug: Callable[[Found], bool]) -> Found | None:
    return next((entry for entry in found if is_bug(entry)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--max-time", type=float, default=600.0)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--variant", default=None)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--until-found", action="store_true")
    args = parser.parse_args()
    what: dict[int, list[str]] = {}

    def attributed(entry: Found) -> list[str]:
        if id(entry) not in what:
            what[id(entry)] = removed_by(entry)
        return what[id(entry)]

    bugs: dict[str, Callable[[Found], bool]]
    if args.variant:
        kind = variants.get(args.variant).kind
        bugs = {
            args.variant: lambda entry: kind in {entry.signature[0], *(s[0] for s in entry.also)}
        }
    else:
        bugs = {"two-devices detach race": lambda e: "two-devices detach race" in attributed(e)}
        if args.faults:
            bugs["err_unresv unwind"] = lambda e: "err_unresv unwind" in attributed(e)
            bugs["access-list id overwrite"] = lambda e: "access-list id overwrite" in attributed(e)
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
                    if all(first(campaign.found, is_bug) for is_bug in bugs.values()):
                        campaign.max_time = 0.0

                campaign.on_found = stop_when_all_found
            campaign.run()
            print(
                f"seed {seed}: {campaign.scenarios} scenarios, {campaign.executions:,} "
                f"executions, {len(campaign.found)} findings",
                flush=True,
            )
            for entry in campaign.found:
                actors, ops = generate.size(entry.spec)[:2]
                bug = ", ".join(attributed(entry)) if not args.variant else ""
                print(
                    f"  {describe(entry.signature)}: after {entry.found_after:.0f} s, shrunk in "
                    f"{entry.shrink_seconds:.0f} s to {actors}x{ops}"
                    f"{f' ({bug})' if bug else ''}: {entry.path.name}",
                    flush=True,
                )
            for bug, is_bug in bugs.items():
                rows[bug].append(first(campaign.found, is_bug))
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
