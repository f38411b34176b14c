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
