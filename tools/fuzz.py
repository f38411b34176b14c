"""``lockstep fuzz``: races nobody wrote a scenario for.

Design note. Each round draws scenarios (`scenarios.generate.specs`) with Hypothesis until
one shows a finding whose signature (`signature`) is new, then shrinks that scenario while
it still shows that signature, and writes the smallest one as a scenario file with the
finding's replay line beside it. Hypothesis does the drawing and the shrinking (`find`, with
a seed per round), so the search is a function of ``--seed``.

The verdict on a scenario (`Verdict`) is a function of the scenario and the budget alone,
so that shrinking works: dfs for ``budget`` executions, and if that did not exhaust, seeded
random walks for as many again, the seed taken from the scenario's text. What counts is
every runtime finding (deadlock, lockdep reports, held-at-return, exceptions, WARN/BUG,
use-after-free) and the end invariants (`actors.invariants`: refcounts balanced, nothing
attached to a destroyed object, reserved regions consistent, every lock released). Each
operation accepts any result the kernel function may return; results are not compared
across actors (no linearizability check).

The output folder is the failure database: a later ``fuzz`` replays every scenario file in
it first, and says which still reproduce and which are fixed. Findings are deduplicated by
signature across scenarios and runs.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import attrs
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample, Unsatisfiable

from lockstep.actors.variant import MERGED, Variant
from lockstep.scenarios import generate, toml_scenario, variants
from lockstep.scenarios.spec import Spec, build_program
from lockstep.scheduler import Finding, explore
from lockstep.scheduler.events import FINDING_KINDS, Fault, Signature, describe
from lockstep.scheduler.parallel import Engine, open_engine
from lockstep.tools import DEFAULT_BUDGET, DEFAULT_OUT

#: Seconds a round may spend shrinking one finding.
SHRINK_SECONDS = 120.0
#: Seconds the removal pass (`Campaign._reduce`) has at least, after Hypothesis's shrinking.
REDUCE_SECONDS = 30.0


def signature(finding: Finding) -> Signature:
    """What identifies a finding across scenarios and runs (`Finding.signature`)."""
    return finding.signature


def _rank(sig: Signature) -> tuple[int, Signature]:
    kind = sig[0]
    return (FINDING_KINDS.index(kind) if kind in FINDING_KINDS else len(FINDING_KINDS), sig)


@attrs.frozen
class Verdict:
    """What exploring one scenario within the budget showed."""

    findings: dict[Signature, Finding]
    executions: int
    exhausted: bool


def refault(before: Spec, after: Spec, fail_nth: Fault | None) -> Fault | None:
    """The fault of ``before`` in ``after``, a scenario with something removed: the same
    actor's n-th fault point, at that actor's index in ``after``; no fault once the actor
    is gone."""
    if fail_nth is None:
        return None
    index, n = fail_nth
    names = list(before.actors)
    if index >= len(names) or names[index] not in after.actors:
        return None
    return (list(after.actors).index(names[index]), n)


def walk_seed(spec: Spec) -> int:
    """The seed of the random walks that follow dfs on ``spec``: from its text, so that a
    verdict is a function of the scenario alone."""
    return int(hashlib.sha256(generate.dump(spec).encode()).hexdigest()[:8], 16)


def verdict(
    spec: Spec, *, budget: int, variant: Variant = MERGED, fail_nth: Fault | None = None
) -> Verdict:
    """Explore ``spec``: dfs for ``budget`` executions, then random walks as many again
    (seeded by the scenario's text) if dfs did not exhaust."""
    program = build_program(spec, variant=variant)
    found: dict[Signature, Finding] = {}
    first = explore(program, executions=budget, scenario=spec.name, fail_nth=fail_nth)
    runs = [first]
    if not first.exhausted:
        seed = walk_seed(spec)
        runs.append(
            explore(
                program,
                strategy="random",
                executions=budget,
                seed=seed,
                scenario=spec.name,
                fail_nth=fail_nth,
            )
        )
    for result in runs:
        for f in result.findings:
            found.setdefault(signature(f), f)
    return Verdict(found, sum(r.executions for r in runs), first.exhausted)


@attrs.define
class Found:
    """A finding of the campaign, shrunk: the scenario file that shows it."""

    signature: Signature
    spec: Spec
    path: Path
    replay: str
    explore_command: str
    #: other signatures the same scenario shows (reported with it, not shrunk again)
    also: list[Signature]
    scenarios: int
    found_after: float
    shrink_seconds: float
    fail_nth: Fault | None

    def to_json(self) -> dict[str, object]:
        return {
            "signature": list(self.signature),
            "also": [list(s) for s in self.also],
            "file": str(self.path),
            "replay": self.replay,
            "explore": self.explore_command,
            "size": dict(
                zip(
                    ("actors", "operations", "objects", "setup"),
                    generate.size(self.spec),
                    strict=True,
                )
            ),
            "scenarios": self.scenarios,
            "found_after_s": round(self.found_after, 1),
            "shrink_s": round(self.shrink_seconds, 1),
            "fail_nth": self.fail_nth,
        }


@attrs.define
class Saved:
    """A scenario file of an earlier run, replayed first."""

    path: Path
    signature: Signature
    reproduces: bool

    def to_json(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "signature": list(self.signature),
            "reproduces": self.reproduces,
        }


@attrs.define
class Campaign:
    """One ``lockstep fuzz`` run (see the module note)."""

    seed: int = 0
    max_time: float = 60.0
    max_scenarios: int | None = None
    faults: bool = False
    variant: str | None = None
    budget: int = DEFAULT_BUDGET
    out: Path = DEFAULT_OUT
    shrink_seconds: float = SHRINK_SECONDS
    #: stop once one new finding is written
    stop_on_first: bool = False
    #: this campaign's share of a parallel one (`fuzz_parallel`): its own search
    worker: int = 0
    workers: int = 1
    #: called with each saved file replayed and each new finding, as they come
    on_saved: Callable[[Saved], None] | None = None
    on_found: Callable[[Found], None] | None = None
    on_progress: Callable[[int, int, int], None] | None = None
    scenarios: int = 0
    executions: int = 0
    known: set[Signature] = attrs.field(factory=set)
    saved: list[Saved] = attrs.field(factory=list)
    found: list[Found] = attrs.field(factory=list)
    _cache: dict[tuple[str, Fault | None], Verdict] = attrs.field(factory=dict)
    _start: float = 0.0

    @property
    def flags(self) -> Variant:
        return variants.get(self.variant).flags if self.variant else MERGED

    def run(self) -> None:
        self._start = time.monotonic()
        self.replay_saved()
        self.search()

    def search(self) -> None:
        """The rounds, until the time, the scenarios or (with ``stop_on_first``) the first
        finding says stop."""
        if not self._start:
            self._start = time.monotonic()
        round_ = 0
        while not self._out_of_time() and not self._out_of_scenarios():
            if not self._round(round_) or (self.stop_on_first and self.found):
                break
            round_ += 1

    # -- the database -----------------------------------------------------------------

    def replay_saved(self) -> None:
        """Explore every scenario file of the output folder for this variant: does its
        finding still reproduce?"""
        if not self.out.is_dir():
            return
        for path in sorted(self.out.glob("*.toml")):
            meta = read_meta(path)
            if meta is None or meta.get("variant") != self.variant:
                continue
            sig = tuple(meta["signature"])  # type: ignore[arg-type]
            sig = (str(sig[0]), tuple(sig[1]), str(sig[2]))
            spec = toml_scenario.load_spec(path)
            shown = self._verdict(spec, meta.get("fail_nth"))  # type: ignore[arg-type]
            saved = Saved(path, sig, sig in shown.findings)
            self.known.add(sig)
            self.known.update(shown.findings)
            self.saved.append(saved)
            if self.on_saved is not None:
                self.on_saved(saved)

    # -- rounds -----------------------------------------------------------------------

    def _round(self, round_: int) -> bool:
        """Draw until a scenario shows a new signature, shrink it, write it. False when
        the time or the scenarios ran out first."""
        target: list[tuple[Signature, Fault | None]] = []
        found_at = [0.0, 0]
        shrink_until = [0.0]

        def shows_new(drawn: tuple[Spec, Fault | None]) -> bool:
            spec, fail_nth = drawn
            if target:
                key = (self._text(spec), fail_nth)
                if time.monotonic() > shrink_until[0] and key not in self._cache:
                    return False
                return target[0][0] in self._verdict(spec, fail_nth).findings
            if self._out_of_time() or self._out_of_scenarios():
                raise _Stop
            self.scenarios += 1
            shown = self._verdict(spec, fail_nth)
            self.executions += shown.executions
            if self.on_progress is not None:
                self.on_progress(self.scenarios, self.executions, len(self.found))
            new = sorted((s for s in shown.findings if s not in self.known), key=_rank)
            if not new:
                return False
            target.append((new[0], fail_nth))
            found_at[:] = [time.monotonic() - self._start, self.scenarios]
            shrink_until[0] = time.monotonic() + self.shrink_seconds
            return True

        strategy = generate.specs()
        drawn = (
            strategy.flatmap(lambda spec: _with_fault(spec))
            if self.faults
            else strategy.map(lambda spec: (spec, None))
        )
        try:
            spec, fail_nth = find(
                drawn,
                shows_new,
                settings=settings(
                    database=None,
                    max_examples=10**9,
                    deadline=None,
                    phases=[Phase.generate, Phase.shrink],
                    suppress_health_check=list(HealthCheck),
                ),
                random=random.Random(
                    f"{self.seed}/{round_}"
                    if self.workers == 1
                    else f"{self.seed}/{self.worker}/{round_}"
                ),
            )
        except (_Stop, NoSuchExample, Unsatisfiable):
            return False
        sig = target[0][0]
        deadline = max(shrink_until[0], time.monotonic() + REDUCE_SECONDS)
        spec, fail_nth = self._reduce(spec, fail_nth, sig, deadline)
        shrink = time.monotonic() - self._start - found_at[0]
        self._write(sig, spec, fail_nth, found_at, shrink)
        return True

    def _reduce(
        self, spec: Spec, fail_nth: Fault | None, sig: Signature, deadline: float
    ) -> tuple[Spec, Fault | None]:
        """Remove, one at a time, what the finding does not need (`generate.smaller`),
        until nothing more can go or ``deadline`` passes. Hypothesis shrinks the choices
        that drew the scenario, and a removal in the middle of them often redraws the rest;
        this pass removes operations and objects directly, as Lincheck's minimization
        does. The fault is removed first if the finding does not need it, and follows its
        actor when an actor before it goes (`refault`)."""
        if fail_nth is not None and sig in self._verdict(spec, None).findings:
            fail_nth = None
        progress = True
        while progress and time.monotonic() < deadline:
            progress = False
            for candidate in generate.smaller(spec):
                if time.monotonic() >= deadline:
                    break
                fault = refault(spec, candidate, fail_nth)
                if sig in self._verdict(candidate, fault).findings:
                    spec, fail_nth, progress = candidate, fault, True
                    break
        return spec, fail_nth

    def _write(
        self,
        sig: Signature,
        spec: Spec,
        fail_nth: Fault | None,
        found_at: list[float],
        shrink: float,
    ) -> None:
        shown = self._verdict(spec, fail_nth)
        also = sorted((s for s in shown.findings if s != sig and s not in self.known), key=_rank)
        self.known.add(sig)
        self.known.update(also)
        self.out.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(repr(sig).encode()).hexdigest()[:8]
        path = self.out / f"{sig[0]}-{digest}.toml"
        command = f"lockstep explore {path}"
        command += " --faults" if fail_nth is not None else ""
        command += f" --variant {self.variant}" if self.variant else ""
        meta = {"signature": sig, "variant": self.variant, "fail_nth": fail_nth}
        lines = [
            f"# Found by lockstep fuzz --seed {self.seed}: {describe(sig)}",
            *(f"# also: {describe(s)}" for s in also),
            f"# {command}",
        ]
        tail = "# lockstep-fuzz: " + json.dumps(meta)
        path.write_text(generate.dump(spec, "\n".join([*lines, tail])), encoding="utf-8")
        replay_line = self._replay_line(path, spec, sig, fail_nth)
        if replay_line:
            lines.append(f"# lockstep replay '{replay_line}'")
            path.write_text(generate.dump(spec, "\n".join([*lines, tail])), encoding="utf-8")
        found = Found(
            sig,
            spec,
            path,
            replay_line,
            command,
            also,
            int(found_at[1]),
            found_at[0],
            shrink,
            fail_nth,
        )
        self.found.append(found)
        if self.on_found is not None:
            self.on_found(found)

    def _replay_line(self, path: Path, spec: Spec, sig: Signature, fail_nth: Fault | None) -> str:
        """The replay line of ``sig`` in the written file, as ``lockstep explore`` names
        it (by its path), so that ``lockstep replay`` runs it."""
        scenario = toml_scenario.load(path)
        program = (
            scenario.with_variant(self.flags)
            if self.variant and scenario.with_variant is not None
            else scenario.program
        )
        options = [("variant", self.variant)] if self.variant else []
        options += toml_scenario.digest_option(str(path))
        for strategy in ("dfs", "random"):
            result = explore(
                program,
                strategy=strategy,
                executions=self.budget,
                seed=walk_seed(spec),
                scenario=str(path),
                options=options,
                fail_nth=fail_nth,
            )
            for f in result.findings:
                if signature(f) == sig:
                    return f.schedule
        return ""

    def _verdict(self, spec: Spec, fail_nth: Fault | None) -> Verdict:
        key = (self._text(spec), fail_nth)
        cached = self._cache.get(key)
        if cached is None:
            cached = verdict(spec, budget=self.budget, variant=self.flags, fail_nth=fail_nth)
            self._cache[key] = cached
        return cached

    @staticmethod
    def _text(spec: Spec) -> str:
        return generate.dump(attrs.evolve(spec, name="x", description="x"))

    def _out_of_time(self) -> bool:
        return time.monotonic() - self._start > self.max_time

    def _out_of_scenarios(self) -> bool:
        return self.max_scenarios is not None and self.scenarios >= self.max_scenarios

    def adopt(self, found: Found) -> bool:
        """Take a share's finding into this campaign's folder, unless its signature is
        known already (then its file is dropped); whether it was new."""
        if found.signature in self.known:
            found.path.unlink(missing_ok=True)
            return False
        self.known.add(found.signature)
        self.known.update(found.also)
        old, new = str(found.path), str(self.out / found.path.name)
        text = found.path.read_text(encoding="utf-8").replace(old, new)
        (self.out / found.path.name).write_text(text, encoding="utf-8")
        found.path.unlink()
        found.path = Path(new)
        found.replay = found.replay.replace(old, new)
        found.explore_command = found.explore_command.replace(old, new)
        self.found.append(found)
        if self.on_found is not None:
            self.on_found(found)
        return True


def _share(
    config: dict[str, object], worker: int, workers: int, known: list[Signature], echo: bool
) -> tuple[list[Found], int, int]:
    """One process's share of a parallel campaign: its own search, into its own folder.
    With ``echo`` (a process of this machine, whose stderr is the user's), each finding is
    told on stderr as it is found; its file is merged into the folder when the run ends."""
    out = Path(str(config["out"])) / f".share-{worker}"
    campaign = Campaign(**{**config, "out": out}, worker=worker, workers=workers)  # type: ignore[arg-type]
    campaign.known.update(known)
    if echo:

        def tell(found: Found) -> None:
            actors, ops, _, _ = generate.size(found.spec)
            print(
                f"found {describe(found.signature)}\n  by worker {worker} after "
                f"{found.found_after:.1f} s, shrunk to {actors} actors and {ops} operations; "
                "its file is written when the run ends",
                file=sys.stderr,
                flush=True,
            )

        campaign.on_found = tell
    campaign.search()
    return campaign.found, campaign.scenarios, campaign.executions


def fuzz_parallel(
    campaign: Campaign,
    jobs: int,
    dask_scheduler: str | None = None,
    engine: Engine | None = None,
) -> None:
    """Run ``campaign`` as ``jobs`` independent searches (or one per Dask worker), each
    with its own seed stream, after replaying the saved findings here. Shares are merged in
    worker order, findings deduplicated by signature."""
    campaign._start = time.monotonic()
    campaign.replay_saved()
    config = {
        "seed": campaign.seed,
        "max_time": campaign.max_time,
        "max_scenarios": campaign.max_scenarios,
        "faults": campaign.faults,
        "variant": campaign.variant,
        "budget": campaign.budget,
        "out": str(campaign.out),
        "shrink_seconds": campaign.shrink_seconds,
        "stop_on_first": campaign.stop_on_first,
    }
    known = sorted(campaign.known)
    campaign.out.mkdir(parents=True, exist_ok=True)
    echo = dask_scheduler is None and engine is None and campaign.on_found is not None
    with open_engine(jobs, dask_scheduler, engine) as running:
        futures = [
            running.submit(_share, config, worker, running.workers, known, echo)
            for worker in range(running.workers)
        ]
        for worker, future in enumerate(futures):
            found, scenarios, executions = future.result()  # type: ignore[misc]
            campaign.scenarios += scenarios
            campaign.executions += executions
            for entry in found:
                campaign.adopt(entry)
            share = campaign.out / f".share-{worker}"
            if share.is_dir() and not any(share.iterdir()):
                share.rmdir()


class _Stop(Exception):
    """The campaign's time or scenario count ran out while drawing."""


def _with_fault(spec: Spec) -> st.SearchStrategy[tuple[Spec, Fault | None]]:
    """``spec`` with the fault point to fail (fail_nth: an actor's n-th), drawn with it."""
    fault = st.tuples(st.integers(0, len(spec.actors) - 1), st.integers(1, 12))
    return fault.map(lambda f: (spec, f))


def read_meta(path: Path) -> dict[str, object] | None:
    """The ``# lockstep-fuzz:`` line of a scenario file fuzz wrote, or None."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    for line in text.splitlines():
        if line.startswith("# lockstep-fuzz: "):
            try:
                meta = json.loads(line.removeprefix("# lockstep-fuzz: "))
            except json.JSONDecodeError:
                return None
            if not isinstance(meta, dict) or "signature" not in meta:
                return None
            fail = meta.get("fail_nth")
            if fail is not None:
                if not (
                    isinstance(fail, list)
                    and len(fail) == 2
                    and all(isinstance(x, int) and not isinstance(x, bool) for x in fail)
                ):
                    return None
                meta["fail_nth"] = (fail[0], fail[1])
            return meta
    return None
