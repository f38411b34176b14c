"""`lockstep fuzz`: generated scenarios are valid scenario files, a historical bug is found
with no hand-written scenario, shrunk, written, and replayed first by the next run."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.scenarios import generate, iommufd, variants
from lockstep.scenarios.spec import Op, build_program
from lockstep.scenarios.toml_scenario import load, load_spec, parse
from lockstep.scheduler import Finding, explore
from lockstep.scheduler.events import describe
from lockstep.scheduler.parallel import in_process
from lockstep.tools.cli import run
from lockstep.tools.fuzz import Campaign, fuzz_parallel, read_meta, refault, signature

#: The variant the campaign test fuzzes: the v6 11/19 bug (auto_get_domain unlocks
#: ioas->mutex before finalizing its hwpt), caught as a broken end invariant.
VARIANT = "finalize-after-unlock"
#: a seed whose first scenarios show VARIANT's bug (see the first test that uses it)
FINDING_SEED = 1


@settings(max_examples=150, deadline=None, derandomize=True)
@given(generate.specs())
def test_generated_specs_are_valid_scenario_files(spec):
    """Every drawn scenario reads back as itself, names only what it declares, and drives
    each device from one actor (VFIO serializes a device's calls)."""
    assert parse(Path("generated.toml"), tomllib.loads(generate.dump(spec))) == spec
    owner: dict[str, str] = {}
    for who, script in spec.actors.items():
        assert 1 <= len(script) <= 4
        for op in script:
            assert op.accept is None
            device = op.params.get("device")
            if isinstance(device, str):
                assert owner.setdefault(device, who) == who
    assert 2 <= len(spec.actors) <= 3
    assert sum(len(devices) for devices in spec.groups.values()) <= 3


@settings(max_examples=25, deadline=None, derandomize=True)
@given(generate.specs(), st.integers(0, 3))
def test_generated_specs_keep_the_callers_contract(spec, seed):
    """A generated scenario never trips the model's own asserts of what its callers must
    do (use before bind, a release nobody claimed): those would be findings of the
    generator, not of the kernel."""
    result = explore(build_program(spec), strategy="random", executions=3, seed=seed)
    for finding in result.findings:
        assert "AssertionError" not in finding.title, finding.message
        assert "owner_cnt" not in finding.title, finding.message


@settings(max_examples=40, deadline=None, derandomize=True)
@given(generate.specs())
def test_smaller_scenarios_are_valid_and_one_removal_smaller(spec):
    """Each candidate of the removal pass is a scenario file that loads, with exactly one
    thing less: an actor, an operation, an object, a setup step, or the device sets or a
    device's properties (`generate.size` cannot see the last two)."""
    before = generate.size(spec)
    for smaller in generate.smaller(spec):
        assert parse(Path("smaller.toml"), tomllib.loads(generate.dump(smaller))) == smaller
        after = generate.size(smaller)
        assert after <= before
        if after == before:
            assert smaller.dev_sets != spec.dev_sets or smaller.devices != spec.devices
        assert smaller.actors and smaller.groups


def test_removal_pass_finds_the_hand_written_scenario():
    """B0 drawn with padding (a third actor, operations and objects it does not need)
    reduces to exactly what the hand-written destroy-vs-unbind scenario has: one bound
    device, its unbind racing an IOMMU_DESTROY of its id."""
    padded = parse(
        Path("padded.toml"),
        tomllib.loads(
            """
name = "padded"
description = "B0 with padding"
[objects]
ioas = ["ioas1", "ioas2"]
maps = { ioas2 = 1 }
groups = { group0 = ["dev1", "dev2"], group1 = ["dev3"] }
[[setup]]
op = "bind"
device = "dev1"
[[setup]]
op = "bind"
device = "dev2"
[[setup]]
op = "attach"
device = "dev2"
pt = "ioas1"
[actors]
t1 = [{ op = "map", ioas = "ioas2", expect = "any" },
      { op = "unbind", device = "dev1", expect = "any" }]
t2 = [{ op = "ioas_alloc", as = "new", expect = "any" },
      { op = "destroy", id = "dev1", expect = "any" },
      { op = "detach", device = "dev2", expect = "any" }]
t3 = [{ op = "bind", device = "dev3", expect = "any" }]
[[post]]
op = "unmap"
ioas = "ioas2"
expect = "any"
"""
        ),
    )
    campaign = Campaign(variant="destroy-elevates-refcount", budget=100)
    sig = next(s for s in campaign._verdict(padded, None).findings if "-EBUSY" in s[2])
    small, fault = campaign._reduce(padded, None, sig, deadline=float("inf"))
    assert fault is None
    hand = load_spec(iommufd.DIRECTORY / "destroy-vs-unbind.toml")
    assert generate.size(small) == (2, 2, 2, 1)
    assert sorted(op.op for script in small.actors.values() for op in script) == sorted(
        op.op for script in hand.actors.values() for op in script
    )
    assert [op.op for op in small.setup] == [op.op for op in hand.setup] == ["bind"]


def test_removal_pass_keeps_the_fault_on_its_actor():
    """The `err_unresv` unwind needs idev1's 2nd fault point to fail. With a padding actor
    before idev1, that fault is (1, 2); once the padding (and the destroy, which the unwind
    does not need) goes, it is (0, 2), as in the hand-written replace-vs-destroy (whose dfs
    reports ``fail=0_2``)."""
    hand = load_spec(iommufd.DIRECTORY / "replace-vs-destroy.toml")
    pad = (Op("map", {"ioas": "ioas1"}, None),)
    padded = attrs.evolve(hand, actors={"pad": pad, **hand.actors})
    campaign = Campaign(budget=100, faults=True)
    sig = next(s for s in campaign._verdict(padded, (1, 2)).findings if "lost" in s[2])
    assert sig not in campaign._verdict(padded, None).findings
    small, fault = campaign._reduce(padded, (1, 2), sig, deadline=float("inf"))
    assert list(small.actors) == ["idev1"], "the failed replace needs no destroy beside it"
    assert fault == (0, 2)
    assert refault(padded, hand, (2, 1)) == (1, 1)
    assert refault(padded, hand, (0, 1)) is None


UNRESV_THREE_ACTORS = """
name = "unresv"
description = "the err_unresv unwind as a --faults campaign found it, in three actors"
[objects]
ioas = ["ioas1"]
groups = { group0 = ["dev1", "dev2"] }
devices = { dev2 = { sw_msi = true, enforce_cache_coherency = true } }
[[setup]]
op = "bind"
device = "dev1"
[[setup]]
op = "attach"
device = "dev1"
pt = "ioas1"
[[setup]]
op = "bind"
device = "dev2"
[actors]
t1 = [{ op = "hwpt_alloc", dev_id = "dev1", pt = "ioas1", as = "hwpt1", expect = "any" }]
t2 = [{ op = "attach", device = "dev2", pt = "ioas1", expect = "any" }]
t3 = [{ op = "attach", device = "dev1", pt = "hwpt1", expect = "any" }]
"""


def test_removal_pass_moves_what_need_not_race_into_the_setup():
    """The unwind needs dev2 attached and hwpt1 allocated before dev1's replace fails, not
    concurrently: no actor can be removed, but moving t1's and t2's operations into the
    setup leaves one actor with one operation, the replace, and its fault follows it."""
    spec = parse(Path("unresv.toml"), tomllib.loads(UNRESV_THREE_ACTORS))
    campaign = Campaign(budget=200, faults=True)
    sig = next(s for s in campaign._verdict(spec, (2, 2)).findings if "lost" in s[2])
    small, fault = campaign._reduce(spec, (2, 2), sig, deadline=float("inf"))
    assert generate.size(small)[:2] == (1, 1)
    assert [op.op for op in small.setup][-2:] == ["hwpt_alloc", "attach"]
    assert fault == (0, 2)


def _finding(kind: str, key: tuple[object, ...], classes: tuple[str, ...] = ()) -> Finding:
    return Finding(kind, classes, "ls1:x:-:0", kind, "", key=key)


def test_signature_leaves_out_numbers_and_lines():
    a = _finding("exception", ("exception", "RuntimeError", "put (ctx.py:327)"))
    b = _finding("exception", ("exception", "RuntimeError", "put (ctx.py:331)"))
    assert signature(a) == signature(b) == ("exception", (), "RuntimeError | put")
    first = _finding("invariant", ("invariant", "hwpt6.users = 3, expected 2; ioas2 has x"))
    other = _finding("invariant", ("invariant", "hwpt9.users = 1, expected 4"))
    assert signature(first) == signature(other)
    listed = _finding("invariant", ("invariant", "ioas2 keeps the reserved regions of ['dev1']"))
    more = _finding(
        "invariant", ("invariant", "ioas1 keeps the reserved regions of ['dev1', 'dev2']")
    )
    assert signature(listed) == signature(more)
    held = _finding("held-lock-freed", ("held-lock-freed", "&A", "kfree (ctx.py:1)"), ("&A",))
    assert signature(held) == ("held-lock-freed", ("&A",), "&A | kfree")


def test_fuzz_finds_a_variant_shrinks_it_and_replays_it_first(tmp_path, capsys):
    """No hand-written scenario: fuzz finds the variant's bug as its expected kind, shrinks
    it to a scenario file that `explore` and `replay` reproduce, and the next fuzz replays
    that file first (and says when a saved finding no longer reproduces)."""
    expected = variants.get(VARIANT)
    out = tmp_path / "findings"
    # a count of scenarios, not seconds, so that a loaded machine draws the same ones; seed
    # 1 draws the race in its 39th scenario (seeds 0, 2, 3 and 4 not in 100), so a change to
    # what the strategy draws may need another seed here
    campaign = Campaign(
        seed=FINDING_SEED,
        max_time=600,
        max_scenarios=100,
        variant=VARIANT,
        out=out,
        budget=100,
        shrink_seconds=10,
    )
    campaign.run()
    kinds = {f.signature[0] for f in campaign.found}
    assert expected.kind in kinds, [f.signature for f in campaign.found]
    for found in campaign.found:
        actors, ops, _, _ = generate.size(found.spec)
        assert actors <= 3 and ops <= 12
        meta = read_meta(found.path)
        assert meta is not None and meta["variant"] == VARIANT
        assert tuple(meta["signature"][:1]) == found.signature[:1]
        scenario = load(found.path)
        assert scenario.with_variant is not None
        code = run(["explore", str(found.path), "--variant", VARIANT, "--executions", "400"])
        assert code == 1
        assert found.replay, found.path
        assert run(["replay", found.replay]) == 1
    capsys.readouterr()

    bogus = out / "invariant-bogus.toml"
    text = next(out.glob("*.toml")).read_text()
    meta_line = next(line for line in text.splitlines() if line.startswith("# lockstep-fuzz: "))
    meta = json.loads(meta_line.removeprefix("# lockstep-fuzz: "))
    meta["signature"] = ["invariant", [], "nothing like this ever fires"]
    bogus.write_text(text.replace(meta_line, "# lockstep-fuzz: " + json.dumps(meta)))

    code = run(["fuzz", "--max-time", "0", "--variant", VARIANT, "--out", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    states = {Path(s["file"]).name: s["reproduces"] for s in report["saved"]}
    assert states.pop("invariant-bogus.toml") is False
    assert states and all(states.values())
    assert report["scenarios"] == 0 and report["found"] == []

    # explore pointed at the folder says the same, and a saved file still reproducing is 1
    code = run(["explore", str(out), "--variant", VARIANT, "--json"])
    explored = json.loads(capsys.readouterr().out)
    assert code == 1
    assert {Path(s["file"]).name: s["reproduces"] for s in explored["saved"]} == {
        **states,
        "invariant-bogus.toml": False,
    }
    for path in out.glob("*.toml"):
        if path.name != "invariant-bogus.toml":
            path.unlink()
    assert run(["explore", str(out), "--variant", VARIANT]) == 0
    assert "FIXED: no longer reproduces" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert run(["explore", str(tmp_path / "empty")]) == 2
    assert "no scenario file lockstep fuzz saved in it" in capsys.readouterr().err


def test_shares_merge_into_one_folder_by_signature(tmp_path):
    """``--jobs``: each share searches with its own seed stream into its own folder; the
    merge keeps one file per signature in the output folder, with its replay line pointing
    there, and leaves no share folder behind."""
    out = tmp_path / "findings"
    campaign = Campaign(
        seed=0,
        max_time=60,
        variant=VARIANT,
        out=out,
        stop_on_first=True,
        shrink_seconds=5,
        budget=60,
    )
    fuzz_parallel(campaign, 2, engine=in_process(2))
    assert campaign.found
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(f.path.name for f in campaign.found)
    signatures = [f.signature for f in campaign.found]
    assert len(set(signatures)) == len(signatures)
    for found in campaign.found:
        assert found.path.parent == out
        assert str(out) in found.replay and ".share-" not in found.path.read_text()
        assert run(["replay", found.replay]) == 1


def test_a_local_worker_tells_each_finding_as_it_finds_it(tmp_path, capfd):
    """fuzz --jobs N on this machine: each worker process tells a finding on stderr from
    its own search, as it finds it (the files are merged only when the run ends)."""
    from lockstep.tools.fuzz import _share

    config = {
        "seed": FINDING_SEED,
        "max_time": 600.0,
        "max_scenarios": 80,
        "faults": False,
        "variant": VARIANT,
        "budget": 100,
        "out": str(tmp_path),
        "shrink_seconds": 5.0,
        "stop_on_first": True,
    }
    found, _, _ = _share(config, 0, 1, [], True)
    told = capfd.readouterr().err
    assert found
    for entry in found:
        assert f"found {describe(entry.signature)}\n  by worker 0 after" in told
