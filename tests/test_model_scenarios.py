"""The shipped iommufd scenarios on the merged (v8) model.

dfs (optimal DPOR) exhausts all but one of them in seconds, one execution per Mazurkiewicz
trace; their execution counts are pinned here, so a change to the model's scheduling points
shows up. Naive dfs needed 5,132 / 10,751 / 5,837 executions for the three small races and did
not finish the two bigger ones in 100,000. two-devices-one-group is still too big to exhaust in
a test: seeded random walks cover it.
"""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scenarios.iommufd import ORDER, SCENARIOS
from lockstep.scheduler import explore
from tests.model_support import explored

#: scenario -> executions of an exhaustive dfs (DPOR) on the merged model
EXHAUSTIVE = {
    "selftest-device": 1,
    "replace-vs-destroy": 5,
    "attach-vs-destroy-ioas": 6,
    "dma-owner-vs-bind": 3,
    "destroy-vs-unbind": 3,
    "auto-domain-vs-auto-domain": 24,
    "replace-vs-alloc": 47,
    "map-vs-attach": 1321,
    "two-devices-one-dev-set": 6,
    "access-pin-vs-unmap": 2388,
    "access-replace-two-accesses": 5,
    "copy-vs-unmap": 55,
}
RANDOM_CLEAN = ("replace-vs-alloc", "map-vs-attach")


def test_every_shipped_scenario_is_registered() -> None:
    names = [s.name for s in SCENARIOS]
    assert names == list(ORDER)
    for name in names:
        assert scenarios.get(name).description


@pytest.mark.parametrize("name", sorted(EXHAUSTIVE))
def test_small_scenarios_exhaust_clean(name: str) -> None:
    result = explored(name).result
    assert result.exhausted
    assert result.executions == EXHAUSTIVE[name]
    assert result.clean, "\n\n".join(f.message for f in result.findings)


@pytest.mark.parametrize("name", RANDOM_CLEAN)
def test_big_scenarios_random_clean(name: str) -> None:
    scenario = scenarios.get(name)
    result = explore(scenario.program, strategy="random", executions=300, seed=7, scenario=name)
    assert result.clean, "\n\n".join(f.message for f in result.findings)
    assert explored(name).result.clean


def test_two_devices_one_group_finds_the_detach_race() -> None:
    """iommufd_hw_pagetable_detach() reads ``igroup->hwpt`` before taking igroup->lock. When
    the other device of the group replaces the group's hwpt in between, the detach puts the
    old hwpt (already destroyed by the replace: a use-after-free) and leaves its reference on
    the new one (and, for a device that reports reserved regions, those regions in the new
    IOAS). The v6.6 code has this shape; the
    model finds it with a few hundred random executions."""
    scenario = scenarios.get("two-devices-one-group")
    result = explore(
        scenario.program, strategy="random", executions=300, seed=1, scenario=scenario.name
    )
    messages = "\n".join(f.message for f in result.findings)
    assert "users = 3, expected 2" in messages
    assert "use-after-free" in messages
    assert {f.kind for f in result.findings} >= {"invariant"}


def test_replace_vs_replace_leaves_an_auto_domain_without_devices() -> None:
    """Found by lockstep fuzz: iommufd_device_auto_get_domain() marks the new hwpt an auto
    domain and finalizes it only after do_replace dropped igroup->lock, so the other
    device's replace can move the group back and put the new hwpt first (refcount_dec: it is
    no auto domain yet; or a failed remove: it is not published yet). dfs finds both."""
    result = explored("replace-vs-replace-one-group").result
    assert result.exhausted and result.executions == 299
    titles = sorted(f.title for f in result.findings)
    assert titles == [
        "invariant: auto hwpt6 outlived its last device",
        "invariant: hwpt6.users = 2, expected 1; auto hwpt6 outlived its last device",
    ]


#: Every outcome each small race can have, and only those (actor -> its return codes); the
#: post part, closing the files, succeeds in each.
OUTCOMES = {
    "replace-vs-destroy": {
        (("hwpt:M", ("EBUSY",)), ("idev1", ("ok",)), ("post", ("ok",))),
        (("hwpt:M", ("ok",)), ("idev1", ("ENOENT",)), ("post", ("ok",))),
    },
    "attach-vs-destroy-ioas": {
        (("idev1", ("ok",)), ("ioas1", ("EBUSY",)), ("post", ("ok",))),
        (("idev1", ("ENOENT",)), ("ioas1", ("ok",)), ("post", ("ok",))),
    },
    "dma-owner-vs-bind": {
        (("group0", ("EPERM",)), ("idev1", ("ok",)), ("post", ("ok",))),
        (("group0", ("ok",)), ("idev1", ("EPERM",)), ("post", ("ok",))),
    },
    "destroy-vs-unbind": {
        (("idev1", ("ok",)), ("post", ("ok",)), ("user", ("EBUSY",))),
        (("idev1", ("ok",)), ("post", ("ok",)), ("user", ("ENOENT",))),
    },
}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_races_reach_every_outcome(name: str) -> None:
    """Exhaustive exploration reaches both sides of each race, and nothing else."""
    assert explored(name).outcomes == OUTCOMES[name]


#: the one WARN closing the files gives on the merged model: v6.6's iopt_add_access() bug
#: (Linux 6.8's "iommufd: Fix iopt_access_list_id overwrite bug"), after a failed replace
CLOSING_WARNS = {
    ("access-replace-two-accesses", True): ["WARNING: iopt_remove_access(ioas1): erased None"],
}


@pytest.mark.parametrize("faults", [False, True], ids=["", "faults"])
def test_closing_the_files_warns_only_where_the_kernel_did(faults: bool) -> None:
    """Every shipped scenario ends with close (the access files, each bound device's file,
    then iommufd_fops_release); on the merged model it WARNs only where v6.6 does, whatever
    the race or the failed fault point left. The other findings in the post part are the
    end check's, which runs before the close (the known races of tests above). Capped at
    300 executions, 30 a fault round."""
    for scenario in scenarios.all_scenarios():
        if scenario.name not in ORDER:
            continue
        cap = 30 if faults else 300
        result = explore(scenario.program, scenario=scenario.name, faults=faults, executions=cap)
        assert result.executions
        closing = sorted(
            {f.title for f in result.findings if f.actor == "post" and f.entry != "the end check"}
        )
        expected = CLOSING_WARNS.get((scenario.name, faults), [])
        assert closing == [f"invariant: {w}" for w in expected], (scenario.name, closing)
