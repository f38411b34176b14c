"""The v6.6 kernel selftests of iommufd as conformance tests of the model (issue 12 §4).

Source: ``tools/testing/selftests/iommu/iommufd.c`` and ``iommufd_utils.h`` of the v6.6 era,
read from the code index at repository ``andestech/linux``, commit
``12d58d8737e95f423794847c5d5f91142ebed08c``. That copy is the v6.6 file: it has the v6.6
additions (``get_hw_info``, ``iommufd_mock_domain.replace`` through
IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, ``iommufd_mock_domain.alloc_hwpt`` through IOMMU_HWPT_ALLOC
with the v6.6 three-argument ``test_cmd_hwpt_alloc(device_id, pt_id, &hwpt_id)``) and none of
v6.7 (no nested or dirty-tracking hwpts, no ``IOMMU_HWPT_ALLOC_NEST_PARENT``); its one local
change is a RISC-V default huge page size, which no test here depends on. Cross-checked
against ``deepin-community/kernel`` commit ``135c1c77e2432b497ac2e9d1b8cd983fc50565c7``
(6.6.89 with backports): the in-scope cases below read the same there, except that its
``alloc_hwpt`` is the later rotation form (tests/test_model_selftest.py has that one).

Each test is named after the selftest it comes from (``TEST_F(iommufd_ioas, area)`` is
``test_iommufd_ioas_area``); a fixture's variants are pytest parameters named as the
selftest's ``FIXTURE_VARIANT_ADD`` names them. The ioctl sequence and the expected errnos are
the selftest's. What the model does not have is left out, case by case:

- the fixtures' ``test_ioctl_set_temp_memory_limit`` / ``_default_memory_limit``
  (IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT) cap the temporary buffers the page-pinning code
  allocates (its batch sizes), which the model does not have; so ``mock_domain_limit`` runs
  the ``mock_domain`` sequence;
- ``teardown_iommufd()`` closes the iommufd (``ops.close``, run at the end of every test
  here) and then opens a new one to check page refcounts (IOMMU_TEST_OP_MD_CHECK_REFS): that
  second half is not modelled;
- model IOVAs and lengths are in pages (``PAGE_SIZE`` is 1 here).

A case partly in reach keeps the prefix of its sequence up to its first ioctl the model does
not have, and only when the expectations along that prefix do not depend on what follows; its
docstring says where it stops. The cases out of reach, with the reason, are ``OUT_OF_SCOPE``
at the end; ``test_every_selftest_case_is_accounted_for`` checks that the two lists together
are ``SELFTEST_CASES``, every TEST_F of the file in source order.
"""

from __future__ import annotations

import errno
from collections.abc import Awaitable, Callable

import attrs
import pytest

from lockstep.actors import ops
from lockstep.actors.ops import OpResult
from lockstep.actors.system import System
from tests.model_support import run_script

ENOENT, EBUSY = -errno.ENOENT, -errno.EBUSY

#: one page, in the model's IOVA and length unit
PAGE_SIZE = 1

#: selftest case ("fixture.name") -> the test function here that replays it
IN_SCOPE: dict[str, str] = {}


def conforms(case: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a test as the replay of selftest ``case`` ("fixture.name")."""

    def register(test: Callable[..., None]) -> Callable[..., None]:
        assert case not in IN_SCOPE, case
        IN_SCOPE[case] = test.__name__
        return test

    return register


def ok(result: OpResult, what: str) -> OpResult:
    """The selftest's ASSERT_EQ(0, ...) / test_cmd_* / test_ioctl_*: the call succeeds."""
    assert result.rc == 0, f"{what}: expected 0, got {result.rc}"
    return result


def err(result: OpResult, expected: int, what: str) -> None:
    """The selftest's EXPECT_ERRNO / test_err_*: the call fails with ``expected``."""
    assert result.rc == expected, f"{what}: expected {expected}, got {result.rc}"


def replay(body: Callable[[System], Awaitable[None]]) -> None:
    """Run one selftest body then its fixture teardown (``teardown_iommufd()``'s close of
    the iommufd: ``iommufd_fops_release()`` destroys what is left) as one model script; the
    run fails on any finding (WARN, lock or refcount report)."""

    async def script(s: System) -> None:
        await body(s)
        ok(await ops.close(s, []), "close(fd)")

    run_script(script)


# FIXTURE(iommufd): FIXTURE_SETUP opens /dev/iommu (the model's `System`).


@conforms("iommufd.simple_close")
def test_iommufd_simple_close() -> None:
    """TEST_F(iommufd, simple_close): open /dev/iommu and close it again, nothing else."""

    async def body(s: System) -> None:
        pass

    replay(body)


@conforms("iommufd.cmd_fail")
def test_iommufd_cmd_fail() -> None:
    """TEST_F(iommufd, cmd_fail), its first call only: IOMMU_DESTROY of object id 0 is
    -ENOENT ("object id is invalid"). The rest is out of reach: IOMMU_DESTROY with a NULL
    argument (-EFAULT from copy_from_user) and an unknown ioctl number (-ENOTTY from
    iommufd_fops_ioctl) test the ioctl dispatch, which the model does not have."""

    async def body(s: System) -> None:
        err(await ops.destroy(s, 0), ENOENT, "_test_ioctl_destroy(fd, 0)")

    replay(body)


# FIXTURE(iommufd_ioas): an IOAS, then `mock_domains` mock devices attached to it; `self`
# keeps the ids of the last one (so with two_mock_domain, the second device's ids).

IOAS_VARIANTS = pytest.mark.parametrize(
    "mock_domains",
    [
        pytest.param(0, id="no_domain"),
        pytest.param(1, id="mock_domain"),
        pytest.param(2, id="two_mock_domain"),
        # .memory_limit = 16 (temporary pinning buffers) is not modelled: mock_domain's sequence
        pytest.param(1, id="mock_domain_limit"),
    ],
)


@attrs.define
class IommufdIoas:
    """``FIXTURE(iommufd_ioas)``'s ``self``."""

    ioas_id: int
    stdev_id: int = 0
    hwpt_id: int = 0
    device_id: int = 0


async def iommufd_ioas_setup(s: System, mock_domains: int) -> IommufdIoas:
    """``FIXTURE_SETUP(iommufd_ioas)``: test_ioctl_ioas_alloc, then test_cmd_mock_domain
    (self->ioas_id, &self->stdev_id, &self->hwpt_id, &self->device_id) per mock domain."""
    ioas_id = ok(await ops.ioas_alloc(s), "test_ioctl_ioas_alloc").out["ioas_id"]
    assert ioas_id != 0
    fixture = IommufdIoas(ioas_id)
    for _ in range(mock_domains):
        out = ok(await ops.mock_domain(s, ioas_id), "test_cmd_mock_domain").out
        fixture.stdev_id, fixture.hwpt_id = out["stdev_id"], out["hwpt_id"]
        fixture.device_id = out["idev_id"]
    return fixture


@conforms("iommufd_ioas.ioas_auto_destroy")
@IOAS_VARIANTS
def test_iommufd_ioas_ioas_auto_destroy(mock_domains: int) -> None:
    """TEST_F(iommufd_ioas, ioas_auto_destroy): an empty body; the teardown's close frees the
    IOAS (and the mock devices and their hwpt) without an IOMMU_DESTROY."""

    async def body(s: System) -> None:
        await iommufd_ioas_setup(s, mock_domains)

    replay(body)


@conforms("iommufd_ioas.ioas_destroy")
@IOAS_VARIANTS
def test_iommufd_ioas_ioas_destroy(mock_domains: int) -> None:
    """TEST_F(iommufd_ioas, ioas_destroy): "IOAS cannot be freed while a device has a HWPT
    using it" (-EBUSY); without a device it can be freed by hand."""

    async def body(s: System) -> None:
        self = await iommufd_ioas_setup(s, mock_domains)
        if self.stdev_id:
            err(await ops.destroy(s, self.ioas_id), EBUSY, "_test_ioctl_destroy(ioas_id)")
        else:
            ok(await ops.destroy(s, self.ioas_id), "test_ioctl_destroy(ioas_id)")

    replay(body)


@conforms("iommufd_ioas.hwpt_attach")
@IOAS_VARIANTS
def test_iommufd_ioas_hwpt_attach(mock_domains: int) -> None:
    """TEST_F(iommufd_ioas, hwpt_attach): "Create a device attached directly to a hwpt";
    with no mock domain ``self->hwpt_id`` is 0 and IOMMU_TEST_OP_MOCK_DOMAIN is -ENOENT."""

    async def body(s: System) -> None:
        self = await iommufd_ioas_setup(s, mock_domains)
        if self.stdev_id:
            ok(await ops.mock_domain(s, self.hwpt_id), "test_cmd_mock_domain(hwpt_id)")
        else:
            err(await ops.mock_domain(s, self.hwpt_id), ENOENT, "test_err_mock_domain(0)")

    replay(body)


@conforms("iommufd_ioas.area")
@IOAS_VARIANTS
def test_iommufd_ioas_area(mock_domains: int) -> None:
    """TEST_F(iommufd_ioas, area), its first section: "Unmap fails if nothing is mapped":
    IOMMU_IOAS_UNMAP of (i * PAGE_SIZE, PAGE_SIZE), i = 0..9, on the empty IOAS is -ENOENT.
    It stops at the next section, which maps at fixed IOVAs (test_ioctl_ioas_map_fixed) and
    then unmaps parts of areas and maps over them: no fixed-IOVA map or partial-range unmap
    in the model. (Its last call, unmap-all of an empty IOAS returning 0, is
    tests/test_model_selftest.py::test_unmap_all_of_an_empty_ioas_is_ok.)"""

    async def body(s: System) -> None:
        self = await iommufd_ioas_setup(s, mock_domains)
        for i in range(10):
            err(
                await ops.ioas_unmap(s, self.ioas_id, i * PAGE_SIZE, PAGE_SIZE),
                ENOENT,
                f"test_err_ioctl_ioas_unmap(ENOENT, {i} * PAGE_SIZE, PAGE_SIZE)",
            )

    replay(body)


@conforms("iommufd_ioas.area_auto_iova")
@IOAS_VARIANTS
def test_iommufd_ioas_area_auto_iova(mock_domains: int) -> None:
    """TEST_F(iommufd_ioas, area_auto_iova), its first two sections: ten one-page maps at
    IOVAs the kernel picks, each unmapped whole; then ten maps of (i + 1) pages, each unmapped
    whole. Every call succeeds. Left out: the sections' ``EXPECT_EQ(0, iovas[i] % ...)``
    alignment checks (the model's IOVA allocator does not align), and everything from
    IOMMU_TEST_OP_ADD_RESERVED on (reserved ranges added by the test op, and
    IOMMU_IOAS_ALLOW_IOVAS, are not modelled)."""

    async def body(s: System) -> None:
        self = await iommufd_ioas_setup(s, mock_domains)
        # Simple 4k pages
        iovas = [
            ok(await ops.ioas_map(s, self.ioas_id, PAGE_SIZE), "test_ioctl_ioas_map").out["iova"]
            for _ in range(10)
        ]
        for iova in iovas:
            ok(await ops.ioas_unmap(s, self.ioas_id, iova, PAGE_SIZE), "test_ioctl_ioas_unmap")
        # Kernel automatically aligns IOVAs properly
        iovas = [
            ok(
                await ops.ioas_map(s, self.ioas_id, PAGE_SIZE * (i + 1)),
                f"test_ioctl_ioas_map(length {i + 1} pages)",
            ).out["iova"]
            for i in range(10)
        ]
        for i, iova in enumerate(iovas):
            ok(
                await ops.ioas_unmap(s, self.ioas_id, iova, PAGE_SIZE * (i + 1)),
                f"test_ioctl_ioas_unmap(iovas[{i}], PAGE_SIZE * {i + 1})",
            )

    replay(body)


# FIXTURE(iommufd_mock_domain): an IOAS and `mock_domains` mock devices attached to it, their
# ids in stdev_ids[], hwpt_ids[], idev_ids[].

MOCK_DOMAIN_VARIANTS = pytest.mark.parametrize(
    "mock_domains",
    [
        pytest.param(1, id="one_domain"),
        pytest.param(2, id="two_domains"),
        # .hugepages only changes the buffers the fixture mmaps, which no test here uses
        pytest.param(1, id="one_domain_hugepage"),
        pytest.param(2, id="two_domains_hugepage"),
    ],
)


@attrs.define
class IommufdMockDomain:
    """``FIXTURE(iommufd_mock_domain)``'s ``self`` (ids of the unused slots are 0)."""

    ioas_id: int
    hwpt_ids: list[int] = attrs.field(factory=lambda: [0, 0])
    stdev_ids: list[int] = attrs.field(factory=lambda: [0, 0])
    idev_ids: list[int] = attrs.field(factory=lambda: [0, 0])


async def iommufd_mock_domain_setup(s: System, mock_domains: int) -> IommufdMockDomain:
    """``FIXTURE_SETUP(iommufd_mock_domain)``: test_ioctl_ioas_alloc, then
    test_cmd_mock_domain(self->ioas_id, &stdev_ids[i], &hwpt_ids[i], &idev_ids[i])."""
    ioas_id = ok(await ops.ioas_alloc(s), "test_ioctl_ioas_alloc").out["ioas_id"]
    assert ioas_id != 0
    fixture = IommufdMockDomain(ioas_id)
    for i in range(mock_domains):
        out = ok(await ops.mock_domain(s, ioas_id), "test_cmd_mock_domain").out
        fixture.stdev_ids[i], fixture.hwpt_ids[i] = out["stdev_id"], out["hwpt_id"]
        fixture.idev_ids[i] = out["idev_id"]
    return fixture


@conforms("iommufd_mock_domain.basic")
@MOCK_DOMAIN_VARIANTS
def test_iommufd_mock_domain_basic(mock_domains: int) -> None:
    """TEST_F(iommufd_mock_domain, basic), its first call: "Simple one page map" at an IOVA
    the kernel picks succeeds with the mock domains attached. It stops at check_mock_iova
    (IOMMU_TEST_OP_MD_CHECK_MAP reads the mock domain's page table) and the -EFAULT maps of
    a half-unmapped user buffer: neither the domains' contents nor user memory is
    modelled."""

    async def body(s: System) -> None:
        self = await iommufd_mock_domain_setup(s, mock_domains)
        ok(await ops.ioas_map(s, self.ioas_id, PAGE_SIZE), "test_ioctl_ioas_map(PAGE_SIZE)")

    replay(body)


@conforms("iommufd_mock_domain.replace")
@MOCK_DOMAIN_VARIANTS
def test_iommufd_mock_domain_replace(mock_domains: int) -> None:
    """TEST_F(iommufd_mock_domain, replace), the whole of it: replace the first device's IOAS
    by a new one; "Replacing the IOAS causes the prior HWPT to be deallocated" so with one
    domain replacing onto it is -ENOENT; replace onto the new IOAS again; with two domains
    replace onto the second device's hwpt (twice) and the first's; back to the fixture's
    IOAS; destroy the new one. (tests/test_model_selftest.py has the one-domain sequence as
    test_mock_domain_replace and an abridged two-domain one.)"""

    async def body(s: System) -> None:
        self = await iommufd_mock_domain_setup(s, mock_domains)
        ioas_id = ok(await ops.ioas_alloc(s), "test_ioctl_ioas_alloc").out["ioas_id"]
        assert ioas_id != 0
        stdev = self.stdev_ids[0]

        ok(await ops.mock_domain_replace(s, stdev, ioas_id), "replace(stdev_ids[0], ioas_id)")
        if mock_domains == 1:
            err(
                await ops.mock_domain_replace(s, stdev, self.hwpt_ids[0]),
                ENOENT,
                "test_err_mock_domain_replace(ENOENT, stdev_ids[0], hwpt_ids[0])",
            )
        ok(await ops.mock_domain_replace(s, stdev, ioas_id), "replace(stdev_ids[0], ioas_id)")
        if mock_domains >= 2:
            for hwpt in (self.hwpt_ids[1], self.hwpt_ids[1], self.hwpt_ids[0]):
                ok(await ops.mock_domain_replace(s, stdev, hwpt), f"replace(stdev, {hwpt})")
        ok(
            await ops.mock_domain_replace(s, stdev, self.ioas_id),
            "replace(stdev_ids[0], self->ioas_id)",
        )
        ok(await ops.destroy(s, ioas_id), "test_ioctl_destroy(ioas_id)")

    replay(body)


@conforms("iommufd_mock_domain.alloc_hwpt")
@MOCK_DOMAIN_VARIANTS
def test_iommufd_mock_domain_alloc_hwpt(mock_domains: int) -> None:
    """TEST_F(iommufd_mock_domain, alloc_hwpt), the v6.6 form: per mock domain, IOMMU_HWPT_ALLOC
    on the fixture's IOAS for ``idev_ids[0]`` (v6.6 uses device 0 in every round; v6.7 fixed
    it to ``idev_ids[i]``), a new mock device attached straight to that hwpt, then destroy
    the device and the hwpt. (The v6.7 rotation form is
    tests/test_model_selftest.py::test_alloc_hwpt_rotation.)"""

    async def body(s: System) -> None:
        self = await iommufd_mock_domain_setup(s, mock_domains)
        for _ in range(mock_domains):
            hwpt_id = ok(
                await ops.hwpt_alloc(s, self.idev_ids[0], self.ioas_id),
                "test_cmd_hwpt_alloc(idev_ids[0], ioas_id)",
            ).out["hwpt_id"]
            stddev_id = ok(await ops.mock_domain(s, hwpt_id), "test_cmd_mock_domain(hwpt_id)")
            ok(await ops.destroy(s, stddev_id.out["stdev_id"]), "test_ioctl_destroy(stddev_id)")
            ok(await ops.destroy(s, hwpt_id), "test_ioctl_destroy(hwpt_id)")

    replay(body)


# The accounting: every TEST_F of the v6.6 file, in source order, is either replayed above or
# out of scope below.

SELFTEST_CASES: tuple[str, ...] = (
    "iommufd.simple_close",
    "iommufd.cmd_fail",
    "iommufd.cmd_length",
    "iommufd.cmd_ex_fail",
    "iommufd.global_options",
    "iommufd_ioas.ioas_auto_destroy",
    "iommufd_ioas.ioas_destroy",
    "iommufd_ioas.hwpt_attach",
    "iommufd_ioas.ioas_area_destroy",
    "iommufd_ioas.ioas_area_auto_destroy",
    "iommufd_ioas.get_hw_info",
    "iommufd_ioas.area",
    "iommufd_ioas.unmap_fully_contained_areas",
    "iommufd_ioas.area_auto_iova",
    "iommufd_ioas.area_allowed",
    "iommufd_ioas.copy_area",
    "iommufd_ioas.iova_ranges",
    "iommufd_ioas.access_domain_destory",
    "iommufd_ioas.access_pin",
    "iommufd_ioas.access_pin_unmap",
    "iommufd_ioas.access_rw",
    "iommufd_ioas.access_rw_unaligned",
    "iommufd_ioas.fork_gone",
    "iommufd_ioas.fork_present",
    "iommufd_ioas.ioas_option_huge_pages",
    "iommufd_ioas.ioas_iova_alloc",
    "iommufd_ioas.ioas_align_change",
    "iommufd_ioas.copy_sweep",
    "iommufd_mock_domain.basic",
    "iommufd_mock_domain.ro_unshare",
    "iommufd_mock_domain.all_aligns",
    "iommufd_mock_domain.all_aligns_copy",
    "iommufd_mock_domain.user_copy",
    "iommufd_mock_domain.replace",
    "iommufd_mock_domain.alloc_hwpt",
    "iommufd.simple_ioctls",
    "iommufd.unmap_cmd",
    "iommufd.map_cmd",
    "iommufd.info_cmd",
    "iommufd.set_iommu_cmd",
    "iommufd.vfio_ioas",
    "vfio_compat_mock_domain.simple_close",
    "vfio_compat_mock_domain.option_huge_pages",
    "vfio_compat_mock_domain.get_info",
    "vfio_compat_mock_domain.map",
    "vfio_compat_mock_domain.huge_map",
)

_FIXED_MAP = "IOMMU_IOAS_MAP at a fixed IOVA (test_ioctl_ioas_map_fixed): no fixed-IOVA map"
_ACCESS = (
    "access objects (IOMMU_TEST_OP_CREATE_ACCESS, ACCESS_PAGES / ACCESS_RW, the unmap "
    "callback): not modelled"
)
_VFIO_COMPAT = (
    "VFIO compatibility ioctls on the iommufd (VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, "
    "VFIO_IOMMU_MAP/UNMAP_DMA, VFIO_IOMMU_GET_INFO, VFIO_SET_IOMMU): not modelled"
)
_VFIO_COMPAT_FIXTURE = (
    "the vfio_compat_mock_domain fixture sets up through IOMMU_VFIO_IOAS (SET) and "
    "VFIO_SET_IOMMU: VFIO compatibility not modelled"
)

OUT_OF_SCOPE: dict[str, str] = {
    "iommufd.cmd_length": (
        "ioctl struct size handling (-EINVAL short, -E2BIG non-zero tail, "
        "copy_struct_from_user) of every command: the model's ops take no user structs"
    ),
    "iommufd.cmd_ex_fail": (
        "IOMMU_DESTROY with a longer / shorter struct (-ENOENT, -E2BIG, -EINVAL by size): "
        "ioctl struct size handling not modelled; every expectation depends on it"
    ),
    "iommufd.global_options": "IOMMU_OPTION (RLIMIT_MODE, HUGE_PAGES): not modelled",
    "iommufd_ioas.ioas_area_destroy": _FIXED_MAP + ", and its only map is its first call",
    "iommufd_ioas.ioas_area_auto_destroy": _FIXED_MAP,
    "iommufd_ioas.get_hw_info": "IOMMU_GET_HW_INFO: not modelled (its first call)",
    "iommufd_ioas.unmap_fully_contained_areas": (
        _FIXED_MAP + "; and IOMMU_IOAS_UNMAP of a range spanning several areas or part of "
        "one: the model unmaps whole areas only"
    ),
    "iommufd_ioas.area_allowed": (
        "IOMMU_IOAS_ALLOW_IOVAS and IOMMU_TEST_OP_ADD_RESERVED: not modelled (its first call)"
    ),
    "iommufd_ioas.copy_area": "IOMMU_IOAS_COPY: not modelled; " + _FIXED_MAP,
    "iommufd_ioas.iova_ranges": "IOMMU_IOAS_IOVA_RANGES and IOMMU_TEST_OP_ADD_RESERVED: "
    "not modelled (its first call)",
    "iommufd_ioas.access_domain_destory": _ACCESS + "; " + _FIXED_MAP,
    "iommufd_ioas.access_pin": _ACCESS + " (its first call)",
    "iommufd_ioas.access_pin_unmap": _ACCESS + " (its first call)",
    "iommufd_ioas.access_rw": _ACCESS + " (its first call)",
    "iommufd_ioas.access_rw_unaligned": _ACCESS + " (its first call)",
    "iommufd_ioas.fork_gone": _ACCESS + "; and a map from a forked process's mm",
    "iommufd_ioas.fork_present": _ACCESS + "; and a map from a forked process's mm",
    "iommufd_ioas.ioas_option_huge_pages": "IOMMU_OPTION (HUGE_PAGES on an IOAS): not modelled",
    "iommufd_ioas.ioas_iova_alloc": (
        "IOMMU_IOAS_MAP of byte lengths, -EINVAL for a length not a multiple of the mock "
        "domain's page size: the model maps whole pages and has no IOVA alignment"
    ),
    "iommufd_ioas.ioas_align_change": (
        "IOMMU_OPTION (HUGE_PAGES) and IOVA alignment (-EINVAL, -EADDRINUSE); " + _FIXED_MAP
    ),
    "iommufd_ioas.copy_sweep": "IOMMU_IOAS_COPY: not modelled; " + _FIXED_MAP,
    "iommufd_mock_domain.ro_unshare": (
        "IOMMU_IOAS_MAP of a read-only MAP_PRIVATE file page (IOMMU_IOAS_MAP_READABLE only) "
        "checked with IOMMU_TEST_OP_MD_CHECK_MAP: map flags, user pages and the mock "
        "domain's contents are not modelled"
    ),
    "iommufd_mock_domain.all_aligns": (
        "IOMMU_TEST_OP_MD_CHECK_REFS (its first call) and MD_CHECK_MAP, and maps of every "
        "MOCK_PAGE_SIZE-aligned byte range: page refcounts, domain contents and sub-page "
        "lengths are not modelled"
    ),
    "iommufd_mock_domain.all_aligns_copy": (
        "IOMMU_TEST_OP_MD_CHECK_REFS (its first call) and MD_CHECK_MAP, and maps of every "
        "MOCK_PAGE_SIZE-aligned byte range: not modelled"
    ),
    "iommufd_mock_domain.user_copy": _ACCESS + "; and IOMMU_IOAS_COPY: not modelled",
    "iommufd.simple_ioctls": _VFIO_COMPAT,
    "iommufd.unmap_cmd": _VFIO_COMPAT,
    "iommufd.map_cmd": _VFIO_COMPAT,
    "iommufd.info_cmd": _VFIO_COMPAT,
    "iommufd.set_iommu_cmd": _VFIO_COMPAT,
    "iommufd.vfio_ioas": "IOMMU_VFIO_IOAS (GET / SET / CLEAR of the compat IOAS): not modelled",
    "vfio_compat_mock_domain.simple_close": _VFIO_COMPAT_FIXTURE,
    "vfio_compat_mock_domain.option_huge_pages": _VFIO_COMPAT_FIXTURE + "; and IOMMU_OPTION",
    "vfio_compat_mock_domain.get_info": _VFIO_COMPAT_FIXTURE + "; and VFIO_IOMMU_GET_INFO",
    "vfio_compat_mock_domain.map": _VFIO_COMPAT_FIXTURE + "; and VFIO_IOMMU_MAP/UNMAP_DMA",
    "vfio_compat_mock_domain.huge_map": _VFIO_COMPAT_FIXTURE + "; and VFIO_IOMMU_MAP/UNMAP_DMA",
}


def test_every_selftest_case_is_accounted_for() -> None:
    """The replayed cases and OUT_OF_SCOPE together are every TEST_F of the v6.6 iommufd.c,
    each once; every replay is named after its case and defined in this module."""
    assert len(set(SELFTEST_CASES)) == len(SELFTEST_CASES)
    assert not set(IN_SCOPE) & set(OUT_OF_SCOPE)
    assert set(IN_SCOPE) | set(OUT_OF_SCOPE) == set(SELFTEST_CASES)
    for case, name in IN_SCOPE.items():
        assert name == "test_" + case.replace(".", "_"), (case, name)
        assert callable(globals().get(name)), name
