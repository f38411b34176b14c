"""What a scenario says about a device reaches the model: reserved regions, the MSI windows
(``iopt_table_enforce_dev_resv_regions``, ``iommufd_group_setup_msi``) and cache coherency
(``iommufd_hw_pagetable_enforce_cc``), as drivers/iommu/iommufd/device.c and
io_pagetable.c of v6.6 use them."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockstep.actors.io_pagetable import SW_MSI_START
from lockstep.actors.ioas import IommufdIoas
from lockstep.scenarios.spec import build_program
from lockstep.scenarios.toml_scenario import ScenarioError, load_spec
from lockstep.scheduler import explore

HEADER = """
name = "{name}"
description = "device properties"

[objects]
ioas = ["ioas1"]
maps = {{ ioas1 = 1 }}
groups = {{ g0 = ["dev1"], g1 = ["dev2"] }}
devices = {{ {devices} }}
"""

BIND_BOTH = """
[[setup]]
op = "bind"
device = "dev1"

[[setup]]
op = "bind"
device = "dev2"
"""


def spec_of(tmp_path: Path, devices: str, body: str, name: str = "props"):
    path = tmp_path / f"{name}.toml"
    path.write_text(HEADER.format(name=name, devices=devices) + body)
    return load_spec(path)


def ioas_of(system) -> IommufdIoas:
    [ioas] = [
        o.container
        for o in system.ictx.objects.values()
        if not isinstance(o, str) and isinstance(o.container, IommufdIoas)
    ]
    return ioas


def test_reserved_regions_and_the_sw_msi_window_come_and_go_with_the_attach(tmp_path):
    spec = spec_of(
        tmp_path,
        "dev1 = { resv_regions = 2, sw_msi = true }",
        BIND_BOTH
        + """
[actors]
"idev1" = [{ op = "attach", device = "dev1", pt = "ioas1" },
           { op = "detach", device = "dev1" }]
"map" = [{ op = "map", ioas = "ioas1", expect = "any" }]
""",
    )
    seen = []

    def observe(system, who, op, rc):
        if who != "idev1":
            return
        iopt = ioas_of(system).iopt
        dev = system.devices[0]
        igroup = next(iter(system.ictx.groups.values()), None)
        seen.append(
            (
                op.op,
                rc,
                iopt.reserved.get(dev),
                igroup.sw_msi_start if igroup else None,
                bool(igroup and igroup.hwpt and igroup.hwpt.msi_cookie),
            )
        )

    result = explore(build_program(spec, observe), scenario=spec.name)
    assert result.clean, [f.title for f in result.findings]
    # 2 regions plus the SW MSI window reserved, its start handed back, the cookie installed
    assert ("attach", 0, 3, SW_MSI_START, True) in seen
    # detached: the device's reservations are gone (the end check also proves it)
    assert all(entry[2] is None for entry in seen if entry[0] == "detach")


def test_both_msi_windows_are_a_driver_bug_the_kernel_warns_on(tmp_path):
    spec = spec_of(
        tmp_path,
        "dev1 = { sw_msi = true, hw_msi = true }",
        BIND_BOTH + '[actors]\n"idev1" = [{ op = "attach", device = "dev1", pt = "ioas1" }]\n',
    )
    result = explore(build_program(spec), scenario=spec.name)
    assert [f.kind for f in result.findings] == ["invariant"]
    assert "WARNING: dev1: both SW and HW MSI regions" in result.findings[0].message


def test_a_coherent_device_gets_a_new_domain_beside_one_that_cannot_enforce(tmp_path):
    """dev1's driver makes domains that cannot enforce coherency; dev2 requires it. dev2's
    auto-domain attach finds dev1's hwpt, whose enforce_cc fails with -EINVAL, and goes on
    to allocate a hwpt of its own (``iommufd_device_auto_get_domain``)."""
    spec = spec_of(
        tmp_path,
        "dev1 = { coherent_domains = false }, dev2 = { enforce_cache_coherency = true }",
        BIND_BOTH
        + """
[[setup]]
op = "attach"
device = "dev1"
pt = "ioas1"

[actors]
"idev2" = [{ op = "attach", device = "dev2", pt = "ioas1" }]
"map" = [{ op = "map", ioas = "ioas1", expect = "any" }]
""",
    )
    hwpts = []

    def observe(system, who, op, rc):
        if who == "idev2":
            assert rc == 0
            groups = list(system.ictx.groups.values())
            hwpts.append({g.group.id: g.hwpt for g in groups})

    result = explore(build_program(spec, observe), scenario=spec.name)
    assert result.clean, [f.title for f in result.findings]
    for by_group in hwpts:
        assert by_group[0] is not by_group[1]
        assert by_group[1].enforce_cache_coherency and not by_group[0].enforce_cache_coherency


def test_an_msi_unsafe_device_cannot_be_bound(tmp_path):
    spec = spec_of(
        tmp_path,
        "dev1 = { isolated_msi = false }",
        '[actors]\n"idev1" = [{ op = "bind", device = "dev1", expect = "EPERM" }]\n',
    )
    assert explore(build_program(spec), scenario=spec.name).clean


@pytest.mark.parametrize(
    ("devices", "message"),
    [
        ("dev1 = { colour = true }", "objects.devices.dev1.colour: unknown property"),
        ("dev1 = { sw_msi = 1 }", "must be true or false"),
        ("dev1 = { resv_regions = -1 }", "must be an integer from 0 to 64"),
        ("dev9 = { sw_msi = true }", "objects.devices.dev9: not a device of objects.groups"),
    ],
)
def test_bad_device_properties_are_one_clear_message(tmp_path, devices, message):
    with pytest.raises(ScenarioError, match=message.replace(".", r"\.")):
        spec_of(tmp_path, devices, '[actors]\n"t" = [{ op = "map", ioas = "ioas1" }]\n')


def test_no_fault_fails_enforce_cc_on_a_new_domain(tmp_path):
    """Found by fuzz --faults: a fault point in enforce_cc made the kernel's WARN in
    iommufd_hw_pagetable_alloc fire. The driver op allocates nothing, so fail_nth cannot
    fail it, and the kernel calls a failure there a driver bug: with every fault point of
    a coherent device's IOMMU_HWPT_ALLOC failed in turn, nothing WARNs."""
    body = BIND_BOTH + '[actors]\n"t1" = [{ op = "hwpt_alloc", dev_id = "dev1", pt = "ioas1", '
    body += 'as = "hwpt1", expect = "any" }]\n'
    spec = spec_of(tmp_path, "dev1 = { enforce_cache_coherency = true }", body)
    result = explore(build_program(spec), faults=True)
    assert result.exhausted and result.fault_points
    assert [f.title for f in result.findings] == []
