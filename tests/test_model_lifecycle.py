"""The object lifecycle checks fire on a hand-broken model: a published object freed while
someone holds a reference, and a get or put on a freed object. The merged model never
trips them (tests/test_model_scenarios.py, tests/test_differential_scenarios.py)."""

from __future__ import annotations

import pytest

from lockstep.actors import ctx, ops
from lockstep.actors.ctx import IommufdCtx
from lockstep.actors.system import System
from lockstep.scheduler import Program, explore


def _program(broken):
    def program() -> Program:
        system = System(IommufdCtx())

        async def t1() -> None:
            result = await ops.ioas_alloc(system)
            obj = system.ictx.objects[result.out["ioas_id"]]
            await broken(obj)

        return Program({"t1": t1})

    return program


def _titles(broken) -> list[str]:
    result = explore(_program(broken), scenario="broken")
    assert result.exhausted
    return [f.title for f in result.findings]


async def _free_while_held(obj: ctx.IommufdObject) -> None:
    # a destroy that forgot iommufd_object_remove()'s refcount_dec_if_one
    await ctx.refcount_inc(obj)
    ctx.kfree_object(obj)


async def _put_after_free(obj: ctx.IommufdObject) -> None:
    obj.users = 0
    ctx.kfree_object(obj)
    await ctx.refcount_dec(obj)


async def _underflow(obj: ctx.IommufdObject) -> None:
    await ctx.refcount_sub_and_test(3, obj)


@pytest.mark.parametrize(
    ("broken", "title"),
    [
        (
            _free_while_held,
            "invariant: WARNING: ioas1 freed with users = 2: someone still holds it",
        ),
        (_put_after_free, "invariant: use-after-free: refcount_dec on freed object ioas1"),
        (_underflow, "invariant: WARNING: refcount_t: underflow (ioas1)"),
    ],
)
def test_lifecycle_checks_fire(broken, title):
    assert _titles(broken) == [title]


async def _leaked_reference(obj: ctx.IommufdObject) -> None:
    # a get without its put: iommufd_fops_release() can never destroy the object
    await ctx.refcount_inc(obj)
    await ctx.iommufd_fops_release(obj.ictx)


async def _group_left_behind(obj: ctx.IommufdObject) -> None:
    obj.ictx.groups[7] = "igroup7"  # type: ignore[assignment]
    await ctx.iommufd_fops_release(obj.ictx)


@pytest.mark.parametrize(
    ("broken", "title"),
    [
        (
            _leaked_reference,
            "invariant: WARNING: iommufd_fops_release: no object can be destroyed, "
            "left: ioas1 (users 2)",
        ),
        (
            _group_left_behind,
            "invariant: WARNING: iommufd_fops_release: ictx->groups not empty: [7]",
        ),
    ],
)
def test_close_warns_as_iommufd_fops_release_does(broken, title):
    assert _titles(broken) == [title]


def test_close_destroys_everything_depth_first():
    """Closing a busy context (an IOAS with a hwpt on it, a selftest device attached to that
    hwpt, a VFIO device bound and attached to it): the bound device's file is closed first,
    then iommufd_fops_release() destroys the leaves (the selftest object, whose destroy
    unbinds its mock device) and then what they held (hwpt, then IOAS), pass by pass."""
    from lockstep.actors.ops import PhysDevice
    from tests.model_support import run_script

    async def script(system: System) -> None:
        ioas_id = (await ops.ioas_alloc(system)).out["ioas_id"]
        mock = await ops.mock_domain(system, ioas_id)
        assert mock.rc == 0
        group = system.new_group()
        dev = await system.device_add("dev1", group, mock=False)
        pdev = PhysDevice(dev)
        assert (await ops.device_bind(system, pdev)).rc == 0
        assert (await ops.device_attach(pdev, mock.out["hwpt_id"])).rc == 0
        assert (await ops.close(system, [pdev])).rc == 0

    system = run_script(script)
    assert system.ictx.objects == {} and system.ictx.groups == {}
    assert all(g.owner is None and g.domain is g.default_domain for g in system.groups)
