"""The kernel selftests' expectations for these paths, on the model: same sequence, same errno.

Each test names the test of tools/testing/selftests/iommu/iommufd.c it comes from (v6.6 unless
noted), or the kernel line that decides the errno when no selftest covers it.
"""

from __future__ import annotations

import errno

from lockstep.actors import ops
from lockstep.actors.kernel import ERR_PTR, IS_ERR
from lockstep.actors.ops import PhysDevice
from lockstep.actors.system import System
from tests.model_support import run_script

ENOENT, EBUSY, EINVAL = -errno.ENOENT, -errno.EBUSY, -errno.EINVAL


async def _ioas(system: System) -> int:
    result = await ops.ioas_alloc(system)
    assert result.rc == 0
    return result.out["ioas_id"]


async def _mock_domain(system: System, pt_id: int) -> dict[str, int]:
    result = await ops.mock_domain(system, pt_id)
    assert result.rc == 0
    return result.out


def test_mock_domain_replace() -> None:
    """TEST_F(iommufd_mock_domain, replace), mock_domains = 1: replacing the IOAS frees the
    prior auto hwpt, so replacing back to its id is -ENOENT."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        new_ioas = await _ioas(s)
        assert (await ops.mock_domain_replace(s, st["stdev_id"], new_ioas)).rc == 0
        assert (await ops.mock_domain_replace(s, st["stdev_id"], st["hwpt_id"])).rc == ENOENT
        assert (await ops.mock_domain_replace(s, st["stdev_id"], new_ioas)).rc == 0
        assert (await ops.mock_domain_replace(s, st["stdev_id"], ioas)).rc == 0
        assert (await ops.destroy(s, new_ioas)).rc == 0

    run_script(script)


def test_mock_domain_replace_two_domains() -> None:
    """TEST_F(iommufd_mock_domain, replace), mock_domains = 2: the second device keeps its
    auto hwpt alive, so replacing onto it (twice: the second is a no-op) succeeds."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st0 = await _mock_domain(s, ioas)
        st1 = await _mock_domain(s, ioas)
        # the second MOCK_DOMAIN reuses the first one's auto domain
        assert st1["hwpt_id"] == st0["hwpt_id"]
        new_ioas = await _ioas(s)
        assert (await ops.mock_domain_replace(s, st0["stdev_id"], new_ioas)).rc == 0
        assert (await ops.mock_domain_replace(s, st0["stdev_id"], st1["hwpt_id"])).rc == 0
        assert (await ops.mock_domain_replace(s, st0["stdev_id"], st1["hwpt_id"])).rc == 0
        assert (await ops.mock_domain_replace(s, st0["stdev_id"], ioas)).rc == 0
        assert (await ops.destroy(s, new_ioas)).rc == 0

    run_script(script)


def test_alloc_hwpt_rotation() -> None:
    """TEST_F(iommufd_mock_domain, alloc_hwpt) (the v6.7 form adds the rotation; the paths are
    those of v6.6): an attached hwpt cannot be destroyed (-EBUSY); once the device moved away
    it can; a mock domain attaches directly to a user hwpt."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        hwpt = await ops.hwpt_alloc(s, st["idev_id"], ioas)
        assert hwpt.rc == 0
        hwpt_id = hwpt.out["hwpt_id"]
        assert (await ops.mock_domain_replace(s, st["stdev_id"], hwpt_id)).rc == 0
        assert (await ops.destroy(s, hwpt_id)).rc == EBUSY
        assert (await ops.mock_domain_replace(s, st["stdev_id"], ioas)).rc == 0
        other = await _mock_domain(s, hwpt_id)
        assert other["hwpt_id"] == hwpt_id
        assert (await ops.destroy(s, other["stdev_id"])).rc == 0
        assert (await ops.destroy(s, hwpt_id)).rc == 0

    run_script(script)


def test_hwpt_alloc_flags() -> None:
    """iommufd_hwpt_alloc(): ``if (cmd->flags || cmd->__reserved) return -EOPNOTSUPP`` (the
    selftest alloc_hwpt checks it with an unknown flag)."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        assert (await ops.hwpt_alloc(s, st["idev_id"], ioas, flags=1 << 30)).rc == (
            -errno.EOPNOTSUPP
        )

    run_script(script)


def test_ioas_destroy_busy() -> None:
    """TEST_F(iommufd_ioas, ioas_destroy): an IOAS cannot be freed while a device has a hwpt
    using it (-EBUSY); without one it can."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        assert (await ops.destroy(s, ioas)).rc == EBUSY
        assert (await ops.destroy(s, st["stdev_id"])).rc == 0
        assert (await ops.destroy(s, ioas)).rc == 0

    run_script(script)


def test_hwpt_attach_and_missing_id() -> None:
    """TEST_F(iommufd_ioas, hwpt_attach): a mock domain attaches to an existing hwpt; with no
    such object (id 0) it is -ENOENT."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        assert (await ops.mock_domain(s, 0)).rc == ENOENT
        st = await _mock_domain(s, ioas)
        other = await _mock_domain(s, st["hwpt_id"])
        assert other["hwpt_id"] == st["hwpt_id"]

    run_script(script)


def test_destroy_missing_and_destroyed_id() -> None:
    """TEST_F(iommufd, cmd_fail): IOMMU_DESTROY of id 0 is -ENOENT; and (iommufd_object_remove)
    so is a second destroy of the same id."""

    async def script(s: System) -> None:
        assert (await ops.destroy(s, 0)).rc == ENOENT
        ioas = await _ioas(s)
        assert (await ops.destroy(s, ioas)).rc == 0
        assert (await ops.destroy(s, ioas)).rc == ENOENT

    run_script(script)


def test_mock_domain_replace_wrong_type() -> None:
    """iommufd_test_mock_domain_replace(): the id must be a SELFTEST object; iommufd_get_object
    of another type is -ENOENT."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        assert (await ops.mock_domain_replace(s, st["idev_id"], ioas)).rc == ENOENT
        assert (await ops.mock_domain_replace(s, ioas, ioas)).rc == ENOENT

    run_script(script)


def test_replace_unattached_is_einval() -> None:
    """iommufd_device_do_replace(): ``if (igroup->hwpt == NULL) rc = -EINVAL`` (v3: "Reject
    replace on non-attached devices"); a later attach still works and detach undoes it."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        dev = await s.device_add("dev1")
        assert not IS_ERR(dev)
        pdev = PhysDevice(dev)
        assert (await ops.device_bind(s, pdev)).rc == 0
        assert (await ops.device_replace(pdev, ioas)).rc == EINVAL
        assert (await ops.device_attach(pdev, ioas)).rc == 0
        assert (await ops.device_detach(pdev)).rc == 0
        assert (await ops.device_unbind(pdev)).rc == 0

    system = run_script(script)
    assert not system.ictx.groups, "ictx->groups must be empty once every device is unbound"


def test_pt_of_wrong_type_is_einval() -> None:
    """iommufd_device_change_pt(): a pt_id that is neither a hwpt nor an IOAS is -EINVAL."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st = await _mock_domain(s, ioas)
        assert (await ops.mock_domain_replace(s, st["stdev_id"], st["stdev_id"])).rc == EINVAL

    run_script(script)


def test_teardown_leaves_nothing() -> None:
    """FIXTURE_TEARDOWN(iommufd_mock_domain) destroys the stdevs then the IOAS; afterwards the
    object table and ictx->groups are empty (``WARN_ON(!xa_empty(&ictx->groups))``)."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        st0 = await _mock_domain(s, ioas)
        st1 = await _mock_domain(s, ioas)
        assert (await ops.destroy(s, st0["stdev_id"])).rc == 0
        assert (await ops.destroy(s, st1["stdev_id"])).rc == 0
        assert (await ops.destroy(s, ioas)).rc == 0

    system = run_script(script)
    assert system.ictx.objects == {}
    assert system.ictx.groups == {}
    assert all(group.owner is None and group.owner_cnt == 0 for group in system.groups)
    assert all(group.domain is group.default_domain for group in system.groups)


def test_an_error_pointer_prints_as_percent_pe_does() -> None:
    """A WARN_ON message shows an ERR_PTR as the kernel's %pe shows it: by errno name."""
    assert str(ERR_PTR(-errno.EBUSY)) == "-EBUSY"
    assert str(ERR_PTR(-4095)) == "-4095"


def test_unmap_all_of_an_empty_ioas_is_ok() -> None:
    """iommufd.c ``iommufd_ioas.area``: IOMMU_IOAS_UNMAP of everything (iova 0, length
    U64_MAX) on an IOAS with nothing mapped returns 0: ``iopt_unmap_all()`` turns -ENOENT into
    0. Unmapping one area twice is still -ENOENT."""

    async def script(s: System) -> None:
        ioas = await _ioas(s)
        assert (await ops.ioas_unmap(s, ioas)).rc == 0
        mapped = await ops.ioas_map(s, ioas, 1)
        assert mapped.rc == 0
        iova = mapped.out["iova"]
        assert (await ops.ioas_unmap(s, ioas, iova)).rc == 0
        assert (await ops.ioas_unmap(s, ioas, iova)).rc == -errno.ENOENT
        assert (await ops.ioas_unmap(s, ioas)).rc == 0

    run_script(script)


def test_errno_names_are_the_kernels() -> None:
    """``%pe`` and errno.h: 95 is EOPNOTSUPP (Linux's ENOTSUP is an alias of it)."""
    from lockstep.actors.kernel import ERR_PTR
    from lockstep.scenarios.spec import errno_name

    assert errno_name(-errno.EOPNOTSUPP) == "EOPNOTSUPP"
    assert str(ERR_PTR(-errno.EOPNOTSUPP)) == "-EOPNOTSUPP"
    assert errno_name(-errno.EBUSY) == "EBUSY" and errno_name(0) == "ok"
