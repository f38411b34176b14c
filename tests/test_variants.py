"""Historical bugs as model variants: each is caught by the exploration a user would run,
with the kind and lock class of the issue, and the same exploration is clean without it."""

from __future__ import annotations

import json

import pytest

from lockstep.actors.ctx import (
    ObjType,
    iommufd_get_object,
    iommufd_object_destroy_user,
    iommufd_put_object,
)
from lockstep.actors.system import System
from lockstep.actors.variant import Variant
from lockstep.scenarios import variants
from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.scenarios.spec import build_program
from lockstep.scenarios.toml_scenario import load_spec
from lockstep.scheduler import Program, explore, replay
from lockstep.tools.cli import run

NAMES = [v.name for v in variants.VARIANTS]

#: Where each is caught: a line of its report names the kernel function or operation.
WHERE = {
    "v4-detach-unlocked": "at iommufd_hw_pagetable_detach_v4 (",
    "v5-abort-via-destroy": "iommufd_hw_pagetable_destroy (",
    "v5-alloc-unlock-early": "at iommufd_hw_pagetable_abort (",
    "finalize-after-unlock": "unfinalized object hwpt",
    "shared-destroy-rwsem-class": "IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE]",
    "destroy-elevates-refcount": "invariant broken in idev1 (iommufd_device_unbind)",
}


def lockstep_json(capsys, *args):
    code = run([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", NAMES)
def test_variant_is_caught_with_its_kind_and_class(capsys, name):
    variant = variants.get(name)
    code, result = lockstep_json(capsys, *variant.command())
    assert code == 1
    found = {(f["kind"], tuple(f["classes"])) for f in result["findings"]}
    expected = (variant.kind, (variant.lock_class,) if variant.lock_class else ())
    assert expected in found, found
    [caught, *_] = [f for f in result["findings"] if f["kind"] == variant.kind]
    assert WHERE[name] in caught["message"]
    for finding in result["findings"]:
        assert f"variant={name}" in finding["schedule"]


@pytest.mark.parametrize("name", NAMES)
def test_with_faults_dfs_runs_every_variant_to_exhaustion(capsys, name):
    """Every variant's exploration with --faults under dfs (fault points counted per actor)
    ends exhausted, and still catches the variant."""
    variant = variants.get(name)
    command = [*variant.command(), *([] if variant.faults else ["--faults"])]
    code, result = lockstep_json(capsys, *command, "--no-minimize")
    assert code == 1 and result["exhausted"] and result["fault_points"] > 0
    assert variant.kind in {f["kind"] for f in result["findings"]}


@pytest.mark.parametrize("name", NAMES)
def test_same_exploration_without_the_variant_is_clean(capsys, name):
    command = variants.get(name).command()
    without = command[:2] + command[4:]
    code, result = lockstep_json(capsys, *without)
    assert code == 0, [f["title"] for f in result["findings"]]


@pytest.mark.parametrize("name", NAMES)
def test_every_finding_replays_from_its_line(capsys, name):
    _, result = lockstep_json(capsys, *variants.get(name).command())
    for finding in result["findings"]:
        code, replayed = lockstep_json(capsys, "replay", finding["schedule"])
        assert code == 1
        assert finding["title"] in [f["title"] for f in replayed["findings"]]


def test_b2_deadlocks_the_actor_on_itself(capsys):
    _, result = lockstep_json(capsys, *variants.get("v5-abort-via-destroy").command())
    [deadlock] = [f for f in result["findings"] if f["kind"] == "deadlock"]
    assert deadlock["classes"] == ["&ioas->mutex"]


def test_b1_is_also_caught_by_a_fault_while_filling_the_new_domain():
    """v5's changelog: the fail_nth test needs a mapped page to fail inside the domain
    fill (iopt_fill_domain's iommu_map). The model reaches the unlocked detach from it."""
    name = "v4-detach-unlocked"
    program = build_program(
        load_spec(DIRECTORY / "selftest-device.toml"), variant=variants.get(name).flags
    )
    for nth in range(1, 46):
        result = replay(program, f"ls1:selftest-device:fail=0_{nth},variant={name}:-")
        [fault] = [e for e in result.trace if e.kind == "fault"]
        if fault.obj == "iommu_map":
            break
    else:
        pytest.fail("no iommu_map fault point in selftest-device")
    assert ("assert-held", ("&igroup->lock",)) in {(f.kind, f.classes) for f in result.findings}


def _hold_one_hwpt_destroy_another(system: System):
    """One ioctl holds hwpt X through iommufd_get_object (a trylock of its destroy_rwsem) and
    destroys hwpt Y: down_write of Y's destroy_rwsem, of the same class."""
    from lockstep.actors import ops

    async def actor():
        ioas = (await ops.ioas_alloc(system)).out["ioas_id"]
        idev = (await ops.mock_domain(system, ioas)).out["idev_id"]
        x = (await ops.hwpt_alloc(system, idev, ioas)).out["hwpt_id"]
        y = (await ops.hwpt_alloc(system, idev, ioas)).out["hwpt_id"]
        held = await iommufd_get_object(system.ictx, x, ObjType.HW_PAGETABLE)
        victim = await iommufd_get_object(system.ictx, y, ObjType.HW_PAGETABLE)
        await victim.destroy_rwsem.up_read()
        await iommufd_object_destroy_user(system.ictx, victim)
        await iommufd_put_object(held)

    return actor


def test_b5_per_type_classes_still_report_same_type_nesting():
    """With obj_keys[type] the SELFTEST -> HW_PAGETABLE nesting of MOCK_DOMAIN_REPLACE is
    fine, but holding one hwpt and destroying another is still a recursive-locking report,
    as lockdep gives on the kernel."""

    def program():
        return Program({"t1": _hold_one_hwpt_destroy_another(System())})

    result = explore(program, scenario="same-type")
    assert [(f.kind, f.classes) for f in result.findings] == [
        ("recursive-locking", ("&obj->destroy_rwsem/hwpt",))
    ]


def test_list_shows_each_variant_on_one_line(capsys):
    assert run(["list"]) == 0
    out = capsys.readouterr().out
    for variant in variants.VARIANTS:
        [line] = [ln for ln in out.splitlines() if ln.startswith(variant.name + " ")]
        assert variant.bug in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["explore", "selftest-device", "--variant", "nope"], "unknown variant 'nope'"),
        (["explore", "abba", "--variant", "v4-detach-unlocked"], "has no variants"),
        (["replay", "ls1:selftest-device:variant=nope:-"], "unknown variant 'nope'"),
    ],
)
def test_bad_variant_is_exit_2(capsys, args, message):
    assert run(args) == 2
    assert message in capsys.readouterr().err


#: naive dfs does not exhaust this one: its first executions must find nothing DPOR misses.
NAIVE_CAP = {"finalize-after-unlock": 2000}


@pytest.mark.parametrize("name", NAMES)
def test_dpor_finds_every_finding_naive_search_finds(capsys, name):
    command = variants.get(name).command()
    _, dpor = lockstep_json(capsys, *command)
    naive_args = [*command, "--strategy", "naive-dfs"]
    if name in NAIVE_CAP:
        naive_args += ["--executions", str(NAIVE_CAP[name])]
    _, naive = lockstep_json(capsys, *naive_args)
    found = {(f["kind"], tuple(f["classes"])) for f in dpor["findings"]}
    naive_found = {(f["kind"], tuple(f["classes"])) for f in naive["findings"]}
    assert dpor["exhausted"]
    assert naive_found <= found
    if name not in NAIVE_CAP:
        assert naive["exhausted"] and naive_found == found


def _signatures(name_or_text: str, variant: Variant, tmp_path=None) -> set[str]:
    path = DIRECTORY / f"{name_or_text}.toml"
    if tmp_path is not None:
        path = tmp_path / "s.toml"
        path.write_text(name_or_text)
    spec = load_spec(path)
    result = explore(build_program(spec, variant=variant), scenario=spec.name)
    assert result.exhausted
    return {f"{f.kind}: {f.signature[2]}" for f in result.findings}


def test_the_later_detach_fix_leaves_only_the_auto_domain_race():
    """With v6.15's detach (igroup->hwpt read under igroup->lock), two-devices-one-group
    loses the use-after-free and the freed held lock; what it still shows is what the
    other race, replace-vs-replace-one-group, shows."""
    fixed = Variant(later_detach_reads_hwpt_locked=True)
    merged = _signatures("two-devices-one-group", Variant())
    after = _signatures("two-devices-one-group", fixed)
    assert any(s.startswith("held-lock-freed") for s in merged)
    assert any("use-after-free" in s for s in merged)
    assert after and after < merged
    assert after <= _signatures("replace-vs-replace-one-group", Variant())


#: Found by fuzz (seed 0), before a direct replace honoured its callers' contract: dev2 is
#: bound, not attached, and replaces the group's domain under dev1.
REPLACE_UNATTACHED = """
name = "replace-unattached"
description = "replace of a device that never attached, while the attached one detaches"
[objects]
ioas = ["ioas1", "ioas2"]
groups = { group0 = ["dev1", "dev2"] }
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
t1 = [{ op = "replace", device = "dev2", pt = "ioas2", expect = "any" }]
t2 = [{ op = "detach", device = "dev1", expect = "any" }]
"""


def test_a_direct_replace_needs_an_attached_device(tmp_path):
    """iommufd_device_replace "can only be called if iommufd_device_attach() has already
    succeeded" (its kernel-doc), and VFIO calls it only then: a direct replace of a device
    that never attached is -EINVAL, not a race the model would blame on iommufd."""
    fixed = Variant(later_detach_reads_hwpt_locked=True)
    assert _signatures(REPLACE_UNATTACHED, fixed, tmp_path) == set()


def test_the_err_unresv_fix_removes_the_faults_finding_of_replace_vs_destroy():
    """The unwind this tool found: with err_unresv removing reservations only from an IOAS
    the group was not already on, replace-vs-destroy --faults is clean."""
    spec = load_spec(DIRECTORY / "replace-vs-destroy.toml")
    merged = explore(build_program(spec), scenario=spec.name, faults=True)
    fixed = explore(
        build_program(spec, variant=Variant(fix_err_unresv_same_ioas=True)),
        scenario=spec.name,
        faults=True,
    )
    assert [f.kind for f in merged.findings] == ["invariant"]
    assert "lost the reserved regions of its devices ['dev1']" in merged.findings[0].message
    assert fixed.exhausted and fixed.clean


def test_the_access_list_id_fix_removes_the_faults_finding_of_the_access_replace():
    """Linux 6.8 keeps the new access-list id in a local until iopt_add_access() succeeded;
    with it, access-replace-two-accesses --faults is clean, and without it (v6.6) the failed
    replace leaves the wrong id behind for the close to erase by."""
    spec = load_spec(DIRECTORY / "access-replace-two-accesses.toml")
    merged = explore(build_program(spec), scenario=spec.name, faults=True)
    fixed = explore(
        build_program(spec, variant=Variant(fix_access_list_id=True)),
        scenario=spec.name,
        faults=True,
    )
    assert [f.title for f in merged.findings] == [
        "invariant: WARNING: iopt_remove_access(ioas1): erased None"
    ]
    assert fixed.exhausted and fixed.clean
