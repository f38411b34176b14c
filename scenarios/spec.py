"""A declarative iommufd scenario, and the program that runs it.

A `Spec` says which objects exist before anything runs (IOASes, iommu groups with their
devices, pages mapped), a sequential setup, and each actor's operations with the results it
accepts. `build_program` turns it into a program callable for `scheduler.explore`: each call
builds a fresh `System`, so every execution starts from the same state.

Objects are named, never numbered: an operation's ``as`` binds a name to what it returned (an
IOAS id, a hwpt id, the selftest device of MOCK_DOMAIN), and later operations refer to that
name. A name whose operation failed, or has not run yet, stands for id 0, which the kernel
never hands out: using it gives -ENOENT, as it would for a stale id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from lockstep.actors import invariants, ops
from lockstep.actors import ioas as ioas_c
from lockstep.actors.ctx import IommufdCtx
from lockstep.actors.iommu_core import Device
from lockstep.actors.kernel import IS_ERR
from lockstep.actors.kernel import errno_name as kernel_errno_name
from lockstep.actors.ops import OpResult, PhysDevice
from lockstep.actors.system import System
from lockstep.actors.variant import MERGED, Variant
from lockstep.actors.vfio import VfioDeviceSet, VfioGroup
from lockstep.scheduler import InvariantViolation, Program, fault_injected, operation
from lockstep.scheduler.access import shared

#: operation -> (required parameters, optional parameters)
OPERATIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "ioas_alloc": (frozenset(), frozenset({"as"})),
    "map": (frozenset({"ioas"}), frozenset({"pages", "as", "iova"})),
    "unmap": (frozenset({"ioas"}), frozenset({"iova", "length"})),
    "copy": (
        frozenset({"src_ioas", "src_iova", "dst_ioas"}),
        frozenset({"length", "dst_iova", "as"}),
    ),
    "hwpt_alloc": (frozenset({"dev_id", "pt"}), frozenset({"as", "flags"})),
    "option": (frozenset({"option"}), frozenset({"ioas", "set"})),
    "destroy": (frozenset({"id"}), frozenset()),
    "mock_domain": (frozenset({"pt"}), frozenset({"as"})),
    "mock_domain_replace": (frozenset({"stdev", "pt"}), frozenset({"as"})),
    "bind": (frozenset({"device"}), frozenset()),
    "attach": (frozenset({"device", "pt"}), frozenset({"as"})),
    "replace": (frozenset({"device", "pt"}), frozenset({"as"})),
    "detach": (frozenset({"device"}), frozenset()),
    "unbind": (frozenset({"device"}), frozenset()),
    "claim_dma_owner": (frozenset({"device"}), frozenset()),
    "release_dma_owner": (frozenset({"device"}), frozenset()),
    "close": (frozenset(), frozenset()),
    "group_open": (frozenset({"device", "ioas"}), frozenset()),
    "group_close": (frozenset({"device"}), frozenset()),
    "access_create": (frozenset({"ioas"}), frozenset({"as"})),
    "access_replace": (frozenset({"access", "ioas"}), frozenset()),
    "access_pin": (frozenset({"access", "iova"}), frozenset({"length", "as"})),
    "access_unpin": (frozenset({"access", "item"}), frozenset()),
    "access_rw": (frozenset({"access", "iova"}), frozenset({"length"})),
    "access_close": (frozenset({"access"}), frozenset()),
}

#: IOMMU_OPTION's ``option`` parameter: the option ids by name
OPTIONS = {
    "rlimit_mode": ioas_c.IOMMU_OPTION_RLIMIT_MODE,
    "huge_pages": ioas_c.IOMMU_OPTION_HUGE_PAGES,
}

#: parameters that name a declared device (the others name ids)
DEVICE_PARAMS = frozenset({"device"})
#: what a scenario can say about a device, with its type: what the iommu driver reports
#: (`lockstep.actors.iommu_core.Device`)
DEVICE_PROPS: dict[str, type] = {
    "resv_regions": int,
    "sw_msi": bool,
    "hw_msi": bool,
    "isolated_msi": bool,
    "enforce_cache_coherency": bool,
    "coherent_domains": bool,
}

#: ``OTHER_OWNER``: the DMA owner a group actor claims with (not the iommufd context)
OTHER_OWNER = "another-dma-owner"


@attrs.frozen
class Op:
    """One operation: its name, parameters (names or ints) and the results it accepts
    (0 for success, or negative errnos; None: any result, as a generated scenario takes
    whatever the kernel function may return)."""

    op: str
    params: dict[str, str | int]
    accept: frozenset[int] | None = frozenset({0})

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.op}({args})"


@attrs.frozen
class Spec:
    """A whole scenario, as the TOML file gives it."""

    name: str
    description: str
    ioas: tuple[str, ...] = ()
    #: group name -> its devices' names
    groups: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: IOAS name -> pages mapped in setup (one area)
    maps: dict[str, int] = attrs.field(factory=dict)
    setup: tuple[Op, ...] = ()
    actors: dict[str, tuple[Op, ...]] = attrs.field(factory=dict)
    #: VFIO device sets (`actors.vfio`) by name -> their devices; a device in none has a
    #: set of its own, as ``vfio_register_group_dev()`` gives it
    dev_sets: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    #: device name -> what its iommu driver reports (`DEVICE_PROPS`); unset: the defaults
    devices: dict[str, dict[str, int | bool]] = attrs.field(factory=dict)
    #: run alone after the actors, before the end check (a Lincheck scenario's post part)
    post: tuple[Op, ...] = ()
    #: the process closes its files at the very end (`CLOSE`, after the post part), as a
    #: selftest fixture's teardown does; False leaves everything open for the end check
    close: bool = True


#: the last operation of every scenario unless it says ``close = false``
CLOSE = Op("close", {})


def post_part(spec: Spec) -> tuple[Op, ...]:
    """What runs after the actors: the post part, then `CLOSE` unless it already ends so."""
    if spec.close and (not spec.post or spec.post[-1].op != "close"):
        return (*spec.post, CLOSE)
    return spec.post


def errno_name(rc: int) -> str:
    """``0`` as ``ok``, ``-16`` as ``EBUSY``."""
    return "ok" if rc == 0 else kernel_errno_name(rc)


#: Called after each operation with the execution's machine, the actor, the operation and its
#: return code: how tests see which outcomes an exploration reached.
ResultHook = Callable[[System, str, "Op", int], None]


@shared
@attrs.define(eq=False, slots=False)
class _Cell:
    """One value the actors share through the callers' side (what a name stands for, a
    claim count): tracked, since one actor writes it and another reads it."""

    value: int = 0


def _bound_names(spec: Spec) -> list[str]:
    """Every name ``spec`` binds: its IOASes, and what its operations bind with ``as``."""
    names = list(spec.ioas)
    every = (*spec.setup, *(op for script in spec.actors.values() for op in script), *spec.post)
    for op in every:
        name = op.params.get("as")
        if isinstance(name, str):
            names.append(name)
            if op.op == "mock_domain":
                names += [f"{name}.hwpt", f"{name}.idev"]
    return names


@attrs.define(eq=False)
class _Run:
    """The state of one execution of a spec: the machine and what names stand for. The
    dicts are made before anything runs and never change; what actors share goes through
    their `_Cell` values (a plain dict entry would be invisible to the explorer)."""

    system: System
    on_result: ResultHook | None = None
    devices: dict[str, PhysDevice] = attrs.field(factory=dict)
    #: what each bound name stands for (0 until its operation succeeded)
    ids: dict[str, _Cell] = attrs.field(factory=dict)
    #: per device: how often the other DMA owner claimed its group through it
    claims: dict[str, _Cell] = attrs.field(factory=dict)

    def id(self, value: str | int) -> int:
        if isinstance(value, int):
            return value
        if value in self.devices:
            idev = self.devices[value].idev
            return idev.obj.id if idev is not None else 0
        cell = self.ids.get(value)
        return cell.value if cell is not None else 0

    async def run(self, who: str, index: int, op: Op) -> bool:
        """Run ``op``; False when it failed because of an injected fault: the actor then stops,
        as the kernel's fail_nth tests return at the first failing call."""
        result = await self._dispatch(op)
        if self.on_result is not None:
            self.on_result(self.system, who, op, result.rc)
        if op.accept is not None and result.rc not in op.accept:
            if fault_injected():
                return False
            accepted = ", ".join(sorted(errno_name(rc) for rc in op.accept))
            raise InvariantViolation(
                f"{who} op {index} {op.describe()} returned {errno_name(result.rc)}, "
                f"accepts {accepted}"
            )
        name = op.params.get("as")
        if isinstance(name, str) and not result.rc:
            self._bind(op.op, name, result)
        return True

    def _bind(self, kind: str, name: str, result: OpResult) -> None:
        out = result.out
        if kind == "ioas_alloc":
            self.ids[name].value = out["ioas_id"]
        elif kind in ("map", "copy"):
            self.ids[name].value = out["iova"]
        elif kind == "access_create":
            self.ids[name].value = out["access_fd"]
        elif kind == "access_pin":
            self.ids[name].value = out["item_id"]
        elif kind == "mock_domain":
            self.ids[name].value = out["stdev_id"]
            self.ids[f"{name}.hwpt"].value = out["hwpt_id"]
            self.ids[f"{name}.idev"].value = out["idev_id"]
        else:
            self.ids[name].value = out["hwpt_id"]

    async def _dispatch(self, op: Op) -> OpResult:
        p = op.params
        s = self.system
        dev = self.devices.get(str(p.get("device", "")))
        match op.op:
            case "ioas_alloc":
                return await ops.ioas_alloc(s)
            case "map":
                fixed = self.id(p["iova"]) if "iova" in p else None
                return await ops.ioas_map(s, self.id(p["ioas"]), int(p.get("pages", 1)), fixed)
            case "unmap":
                iova = self.id(p["iova"]) if "iova" in p else None
                length = int(p.get("length", 1))
                return await ops.ioas_unmap(s, self.id(p["ioas"]), iova, length)
            case "copy":
                dst = self.id(p["dst_iova"]) if "dst_iova" in p else None
                return await ops.ioas_copy(
                    s,
                    self.id(p["src_ioas"]),
                    self.id(p["src_iova"]),
                    int(p.get("length", 1)),
                    self.id(p["dst_ioas"]),
                    dst,
                )
            case "option":
                option_id = OPTIONS[str(p["option"])]
                if "set" in p:
                    op_, val64 = ioas_c.IOMMU_OPTION_OP_SET, int(p["set"])
                else:
                    op_, val64 = ioas_c.IOMMU_OPTION_OP_GET, 0
                object_id = self.id(p["ioas"]) if "ioas" in p else 0
                return await ops.option(s, option_id, op_, val64, object_id)
            case "hwpt_alloc":
                flags = int(p.get("flags", 0))
                return await ops.hwpt_alloc(s, self.id(p["dev_id"]), self.id(p["pt"]), flags)
            case "destroy":
                return await ops.destroy(s, self.id(p["id"]))
            case "mock_domain":
                return await ops.mock_domain(s, self.id(p["pt"]))
            case "mock_domain_replace":
                return await ops.mock_domain_replace(s, self.id(p["stdev"]), self.id(p["pt"]))
            case "close":
                return await ops.close(s, list(self.devices.values()))
            case "access_create":
                return await ops.access_create(s, self.id(p["ioas"]))
            case "access_replace":
                return await ops.access_replace(s, self.id(p["access"]), self.id(p["ioas"]))
            case "access_pin" | "access_rw":
                fd, iova, length = self.id(p["access"]), self.id(p["iova"]), int(p.get("length", 1))
                if op.op == "access_pin":
                    return await ops.access_pin(s, fd, iova, length)
                return await ops.access_rw(s, fd, iova, length)
            case "access_unpin":
                return await ops.access_unpin(s, self.id(p["access"]), self.id(p["item"]))
            case "access_close":
                return await ops.access_close(s, self.id(p["access"]))
        assert dev is not None
        match op.op:
            case "bind":
                return await ops.device_bind(s, dev)
            case "attach":
                return await ops.device_attach(dev, self.id(p["pt"]))
            case "replace":
                return await ops.device_replace(dev, self.id(p["pt"]))
            case "detach":
                return await ops.device_detach(dev)
            case "unbind":
                return await ops.device_unbind(dev)
            case "group_open":
                return await ops.group_open_device(s, dev, self.id(p["ioas"]))
            case "group_close":
                return await ops.group_close_device(dev)
            case "claim_dma_owner":
                result = await ops.group_claim_dma_owner(dev.dev, OTHER_OWNER)
                if not result.rc:
                    self.claims[dev.dev.name].value += 1
                return result
            case "release_dma_owner":
                # a driver releases only the ownership it holds (else nothing to release)
                claimed = self.claims[dev.dev.name]
                if not claimed.value:
                    return OpResult(0)
                claimed.value -= 1
                return await ops.group_release_dma_owner(dev.dev)
        raise AssertionError(f"unknown operation {op.op}")


def _actor(run: _Run, who: str, script: tuple[Op, ...]) -> Callable[[], Awaitable[None]]:
    async def actor() -> None:
        for index, op in enumerate(script):
            if not await run.run(who, index, op):
                return

    actor.__qualname__ = who
    return actor


def build_program(
    spec: Spec, on_result: ResultHook | None = None, variant: Variant = MERGED
) -> Callable[[], Program]:
    """The program callable of ``spec``: fresh objects on every call, the model making the
    mistakes ``variant`` names."""

    def program() -> Program:
        run = _Run(
            System(IommufdCtx(variant=variant)),
            on_result,
            ids={name: _Cell() for name in _bound_names(spec)},
            claims={dev: _Cell() for devices in spec.groups.values() for dev in devices},
        )

        async def setup() -> None:
            s = run.system
            for name in spec.ioas:
                await run.run("setup", 0, Op("ioas_alloc", {"as": name}))
            dev_sets: dict[str, VfioDeviceSet] = {}
            for set_name, members in spec.dev_sets.items():
                dev_set = VfioDeviceSet(set_name)
                dev_sets.update(dict.fromkeys(members, dev_set))
            for group_name, group_devices in spec.groups.items():
                group = s.new_group()
                vfio_group = VfioGroup(group_name)
                for dev_name in group_devices:
                    props = spec.devices.get(dev_name)
                    dev = await s.device_add(dev_name, group, mock=False, props=props)
                    if IS_ERR(dev):
                        raise InvariantViolation(f"setup: device_add({dev_name}) failed")
                    assert isinstance(dev, Device)
                    dev_set = dev_sets.get(dev_name) or VfioDeviceSet(f"{dev_name}.dev_set")
                    run.devices[dev_name] = PhysDevice(dev, dev_set=dev_set, vfio_group=vfio_group)
            for ioas_name, pages in spec.maps.items():
                await run.run("setup", 0, Op("map", {"ioas": ioas_name, "pages": pages}))
            for index, op in enumerate(spec.setup):
                await run.run("setup", index, op)

        post_ops = post_part(spec)

        async def post() -> None:
            for index, op in enumerate(post_ops):
                if op.op == "close":
                    # the end check sees the state the operations left, before the files
                    # close; it runs again after, on what the close left
                    with operation("the end check"):
                        invariants.check(run.system)
                await run.run("post", index, op)

        def check() -> None:
            invariants.check(run.system)

        actors = {who: _actor(run, who, script) for who, script in spec.actors.items()}
        return Program(
            actors,
            setup=setup,
            check=check,
            post=post if post_ops else None,
            copy_setup=True,
            share=(on_result,) if on_result is not None else (),
            post_reads_state=True,
        )

    program.__qualname__ = spec.name
    return program
