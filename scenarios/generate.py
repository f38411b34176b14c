"""Generated scenarios: a Hypothesis strategy that draws a whole `Spec`, and its TOML text.

A generated scenario has the shape of a Lincheck scenario: objects (IOASes, iommu groups of
1 to 3 devices, half of them reporting reserved regions or coherency, pages mapped), a
sequential setup that binds and attaches some devices (now and then a group is driven
through its VFIO group's file instead) and may allocate a hwpt or an access object, then 2
to 3 actors of 1 to 4 operations each, drawn from the model's own vocabulary
(`scenarios.spec.OPERATIONS`), and now and then a post part that tears down what the race
left. The end check (`actors.invariants`) runs after
every execution, and every scenario ends by closing its files.

Parameters are typed resources, as syzkaller types its ioctls: a device parameter names a
device the actor drives (each device is driven by one actor, as one process drives a device
file; the devices of a group are in VFIO device sets of their own or, now and then, share
one, whose ``dev_set->lock`` then serializes them); an id names an IOAS, a hwpt, a device
(its idev id once bound) or a selftest device that the objects, the setup or an earlier
operation made, in this actor or another. That is how ids cross actors: one actor destroys
or replaces what another uses. A map names the IOVA it got, for a later map at that fixed
IOVA (-EEXIST while the area is there) or an unmap of a range there. A name whose operation
failed or has not run yet stands for id 0, a stale id; an invalid id (`INVALID_ID`) is drawn
too, at a lower rate. Every operation accepts any result (``expect = "any"``): what is wrong
is a runtime finding or a broken end invariant.

Drawing the whole scenario in one strategy, rather than with a stateful machine (which is
sequential), gives Hypothesis's shrinking, seeds and database to `tools.fuzz` for free. The
spec is valid by construction: every name it uses is declared or bound in it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
from hypothesis import strategies as st

from lockstep.scenarios.spec import Op, Spec
from lockstep.scenarios.toml_scenario import ScenarioError, parse

#: An id no object ever has (the kernel's ids start at 1 and this model makes few).
INVALID_ID = 999
#: Actor operations, repeated for weight: attach, replace, detach and destroy are where the
#: races of the series live.
_ACTOR_OPS = (
    "attach",
    "attach",
    "replace",
    "replace",
    "detach",
    "detach",
    "destroy",
    "destroy",
    "hwpt_alloc",
    "hwpt_alloc",
    "bind",
    "unbind",
    "map",
    "unmap",
    "copy",
    "option",
    "ioas_alloc",
    "claim_dma_owner",
    "release_dma_owner",
    "mock_domain",
    "mock_domain_replace",
)

#: what the actor of a device in a group driven through its VFIO group's file draws too:
#: its cdev operations then mostly fail (-EBUSY), so these stand in for them
_GROUP_OPS = ("group_open", "group_open", "group_close", "group_close")


#: what actors also draw in a scenario whose setup made an access object (the selftest's
#: access, as an emulated device's driver makes one)
_ACCESS_OPS = (
    "access_pin",
    "access_pin",
    "access_unpin",
    "access_replace",
    "access_rw",
    "access_close",
    "access_create",
    "map",
    "unmap",
)


#: what a post part draws: the teardown that follows a race
_POST_OPS = ("detach", "unbind", "destroy", "unmap")


class _Names:
    """What a scenario being drawn has named so far, by kind."""

    def __init__(self, ioas: tuple[str, ...], devices: tuple[str, ...]) -> None:
        self.ioas = list(ioas)
        self.devices = list(devices)
        self.hwpts: list[str] = []
        self.stdevs: list[str] = []
        self.iovas: list[str] = []
        self.accesses: list[str] = []
        self.items: list[str] = []
        self.count = 0

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"


def _ref(draw: st.DrawFn, names: list[str]) -> str | int:
    """A name from ``names``, or now and then an id that names nothing."""
    if not names or draw(st.integers(0, 9)) == 9:
        return INVALID_ID
    return draw(st.sampled_from(names))


_DEVICE_OPS = frozenset(
    {
        "attach",
        "replace",
        "detach",
        "bind",
        "unbind",
        "claim_dma_owner",
        "release_dma_owner",
        "group_open",
        "group_close",
    }
)


def _op(draw: st.DrawFn, kind: str, names: _Names, mine: list[str]) -> Op | None:
    """One operation of ``kind`` with typed parameters, driving only the devices ``mine``;
    None if nothing it needs exists."""
    if kind in _DEVICE_OPS and not mine:
        return None
    device = draw(st.sampled_from(mine)) if kind in _DEVICE_OPS else ""
    pts = names.ioas + names.hwpts
    params: dict[str, str | int]
    match kind:
        case "attach" | "replace":
            params = {"device": device, "pt": _ref(draw, pts)}
        case "detach" | "bind" | "unbind" | "claim_dma_owner" | "release_dma_owner" | "group_close":
            params = {"device": device}
        case "group_open":
            params = {"device": device, "ioas": _ref(draw, names.ioas)}
        case "destroy":
            ids = pts + names.devices + names.stdevs
            params = {"id": _ref(draw, ids)}
        case "hwpt_alloc":
            dev_ids = names.devices + [f"{s}.idev" for s in names.stdevs]
            params = {"dev_id": _ref(draw, dev_ids), "pt": _ref(draw, names.ioas)}
            params["as"] = names.fresh("hwpt")
            names.hwpts.append(str(params["as"]))
        case "map":
            params = {"ioas": _ref(draw, names.ioas)}
            if draw(st.integers(0, 2)) == 0:
                params["pages"] = 2
            if names.iovas and draw(st.integers(0, 2)) == 0:
                # at a fixed IOVA another map returned: -EEXIST while that area is there
                params["iova"] = draw(st.sampled_from(names.iovas))
            params["as"] = names.fresh("iova")
            names.iovas.append(str(params["as"]))
        case "unmap":
            params = {"ioas": _ref(draw, names.ioas)}
            if names.iovas and draw(st.booleans()):
                # a range: -ENOENT if it cuts an area (a 2-page map unmapped by its first)
                params["iova"] = draw(st.sampled_from(names.iovas))
                params["length"] = draw(st.integers(1, 2))
        case "ioas_alloc":
            params = {"as": names.fresh("new-ioas")}
            names.ioas.append(str(params["as"]))
        case "mock_domain":
            stdev = names.fresh("mock")
            params = {"pt": _ref(draw, pts), "as": stdev}
            names.stdevs.append(stdev)
            names.hwpts.append(f"{stdev}.hwpt")
        case "mock_domain_replace":
            if not names.stdevs:
                return None
            params = {"stdev": draw(st.sampled_from(names.stdevs)), "pt": _ref(draw, pts)}
        case "copy":
            # IOMMU_IOAS_COPY of what a map named (or of IOVA 1, the allocator's first)
            src = draw(st.sampled_from(names.iovas)) if names.iovas else 1
            params = {"src_ioas": _ref(draw, names.ioas), "src_iova": src}
            params["length"] = draw(st.integers(1, 2))
            params["dst_ioas"] = _ref(draw, names.ioas)
            if names.iovas and draw(st.integers(0, 2)) == 0:
                params["dst_iova"] = draw(st.sampled_from(names.iovas))
            params["as"] = names.fresh("iova")
            names.iovas.append(str(params["as"]))
        case "option":
            # IOMMU_OPTION_HUGE_PAGES of an IOAS: get, or set 0 / 1
            params = {"option": "huge_pages", "ioas": _ref(draw, names.ioas)}
            if draw(st.booleans()):
                params["set"] = draw(st.integers(0, 1))
        case "access_create":
            params = {"ioas": _ref(draw, names.ioas), "as": names.fresh("access")}
            names.accesses.append(str(params["as"]))
        case "access_pin" | "access_rw":
            # an IOVA a map named, or 1: the first one the allocator gives
            iova = draw(st.sampled_from(names.iovas)) if names.iovas else 1
            params = {"access": _ref(draw, names.accesses), "iova": iova}
            params["length"] = draw(st.integers(1, 2))
            if kind == "access_pin":
                params["as"] = names.fresh("item")
                names.items.append(str(params["as"]))
        case "access_unpin":
            params = {"access": _ref(draw, names.accesses), "item": _ref(draw, names.items)}
        case "access_replace":
            params = {"access": _ref(draw, names.accesses), "ioas": _ref(draw, names.ioas)}
        case "access_close":
            params = {"access": _ref(draw, names.accesses)}
        case _:
            raise AssertionError(kind)
    return Op(kind, params, None)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    """A whole iommufd scenario (see the module note)."""
    ioas = ("ioas1", "ioas2")[: draw(st.integers(1, 2))]
    first = draw(st.integers(1, 3))
    groups = {"group0": tuple(f"dev{i}" for i in range(1, first + 1))}
    if first < 3 and draw(st.booleans()):
        more = draw(st.integers(1, 3 - first))
        groups["group1"] = tuple(f"dev{i}" for i in range(first + 1, first + more + 1))
    devices = tuple(d for devs in groups.values() for d in devs)
    dev_sets = {
        f"{group}-set": devs
        for group, devs in groups.items()
        if len(devs) > 1 and draw(st.integers(0, 2)) == 2
    }
    maps = {name: 1 for name in ioas if draw(st.booleans())}
    names = _Names(ioas, devices)
    # now and then a group is driven through its VFIO group's file (the legacy path), which
    # fails the cdev binds of the group's devices with -EBUSY
    legacy = {d for devs in groups.values() if draw(st.integers(0, 7)) == 7 for d in devs}

    setup: list[Op] = []
    for device in devices:
        state = draw(st.sampled_from(("bound", "attached", "unbound")))
        if device in legacy:
            if state != "unbound":
                pt = draw(st.sampled_from(ioas))
                setup.append(Op("group_open", {"device": device, "ioas": pt}, None))
            continue
        if state == "unbound":
            continue
        setup.append(Op("bind", {"device": device}, None))
        if state == "attached":
            pt = draw(st.sampled_from(ioas))
            setup.append(Op("attach", {"device": device, "pt": pt}, None))
    with_access = draw(st.integers(0, 3)) == 3
    if with_access:
        access = names.fresh("access")
        setup.append(Op("access_create", {"ioas": draw(st.sampled_from(ioas)), "as": access}, None))
        names.accesses.append(access)
    if draw(st.integers(0, 3)) == 0:
        hwpt = names.fresh("hwpt")
        dev = draw(st.sampled_from(devices))
        pt = draw(st.sampled_from(ioas))
        setup.append(Op("hwpt_alloc", {"dev_id": dev, "pt": pt, "as": hwpt}, None))
        names.hwpts.append(hwpt)

    count = draw(st.integers(2, 3))
    owner = {device: draw(st.integers(1, count)) for device in devices}
    actors: dict[str, tuple[Op, ...]] = {}
    for index in range(1, count + 1):
        mine = [device for device in devices if owner[device] == index]
        script: list[Op] = []
        wanted = draw(st.integers(1, 4))
        while len(script) < wanted:
            kinds = _ACTOR_OPS + (_ACCESS_OPS if with_access else ())
            kinds += _GROUP_OPS if legacy & set(mine) else ()
            op = _op(draw, draw(st.sampled_from(kinds)), names, mine)
            if op is None:
                wanted -= 1
                continue
            script.append(op)
            if op.op == "mock_domain" and len(script) < wanted and draw(st.booleans()):
                # a typed chain, as syzkaller draws one: replace what was just made
                stdev = str(op.params["as"])
                pt = _ref(draw, names.ioas + names.hwpts)
                script.append(Op("mock_domain_replace", {"stdev": stdev, "pt": pt}, None))
        if script:
            actors[f"t{index}"] = tuple(script)
    for filler in ("t1", "t2"):
        if len(actors) < 2:
            actors.setdefault(filler, (Op("map", {"ioas": ioas[0]}, None),))
    # for half the devices: the x86 drivers report the interrupt window as an MSI region
    # for every device (intel_iommu_get_resv_regions, amd_iommu_get_resv_regions), and
    # the reserve and enforce-cc paths run only for a device that reports something
    props = {device: draw(_device_props()) for device in devices if draw(st.booleans())}
    post: list[Op] = []
    if draw(st.integers(0, 3)) == 0:
        # a post part, as Lincheck's: tear down what the race left, alone, after it
        for kind in draw(st.lists(st.sampled_from(_POST_OPS), min_size=1, max_size=3)):
            op = _op(draw, kind, names, list(devices))
            if op is not None:
                post.append(op)
    spec = Spec(
        "generated", "", ioas, groups, maps, tuple(setup), actors, dev_sets, props, tuple(post)
    )
    return _named(spec)


@st.composite
def _device_props(draw: st.DrawFn) -> dict[str, int | bool]:
    """What a device's iommu driver reports, as a sane driver would: at most one kind of MSI
    window, and domains that can enforce coherency if the device claims the capability."""
    props: dict[str, int | bool] = {}
    regions = draw(st.integers(0, 2))
    if regions:
        props["resv_regions"] = regions
    msi = draw(st.sampled_from(("", "sw_msi", "hw_msi")))
    if msi:
        props[msi] = True
    if draw(st.booleans()):
        props["enforce_cache_coherency"] = True
    elif draw(st.booleans()):
        props["coherent_domains"] = False
    if draw(st.integers(0, 3)) == 0:
        props["isolated_msi"] = False
    return props


def _named(spec: Spec) -> Spec:
    """``spec`` named after its content, so that equal scenarios have equal names."""
    digest = hashlib.sha256(dump(spec).encode()).hexdigest()[:10]
    return Spec(
        f"generated-{digest}",
        describe(spec),
        spec.ioas,
        spec.groups,
        spec.maps,
        spec.setup,
        spec.actors,
        spec.dev_sets,
        spec.devices,
        spec.post,
    )


def describe(spec: Spec) -> str:
    """One line: who does what."""
    parts = [
        f"{who}: " + ", ".join(op.describe() for op in ops) for who, ops in spec.actors.items()
    ]
    if spec.post:
        parts.append("then " + ", ".join(op.describe() for op in spec.post))
    return "Generated by lockstep fuzz. " + "; ".join(parts)


def smaller(spec: Spec) -> Iterator[Spec]:
    """Every valid scenario one step smaller than ``spec``, in the order shrinking reduces
    (`size`): an actor removed, or an actor's first operation moved to the end of the setup
    (done before the race instead of in it); then an operation removed (an actor's or the
    post part's), then an object (an IOAS, a device, a map), then a setup step; last the
    device sets and device properties. Lincheck minimizes this way, removing what does not
    change the outcome; a candidate whose names no longer resolve is skipped, as the
    scenario file would be refused."""
    actors = spec.actors
    if len(actors) > 1:
        for who in actors:
            yield from _valid(
                attrs.evolve(spec, actors={w: s for w, s in actors.items() if w != who})
            )
        # an actor's first operation done before the race instead, in the setup: the actor
        # goes once it has none left
        for who, script in actors.items():
            rest = {w: (s[1:] if w == who else s) for w, s in actors.items()}
            yield from _valid(
                attrs.evolve(
                    spec,
                    setup=(*spec.setup, script[0]),
                    actors={w: s for w, s in rest.items() if s},
                )
            )
    for who, script in actors.items():
        if len(script) > 1:
            for i in range(len(script)):
                cut = {**actors, who: script[:i] + script[i + 1 :]}
                yield from _valid(attrs.evolve(spec, actors=cut))
    for i in range(len(spec.post)):
        yield from _valid(attrs.evolve(spec, post=spec.post[:i] + spec.post[i + 1 :]))
    for name in spec.ioas:
        if len(spec.ioas) > 1:
            maps = {k: v for k, v in spec.maps.items() if k != name}
            yield from _valid(
                attrs.evolve(spec, ioas=tuple(i for i in spec.ioas if i != name), maps=maps)
            )
    for device in (d for devs in spec.groups.values() for d in devs):
        yield from _valid(_without_device(spec, device))
    for name in spec.maps:
        yield from _valid(
            attrs.evolve(spec, maps={k: v for k, v in spec.maps.items() if k != name})
        )
    for i in range(len(spec.setup)):
        yield from _valid(attrs.evolve(spec, setup=spec.setup[:i] + spec.setup[i + 1 :]))
    if spec.dev_sets:
        yield from _valid(attrs.evolve(spec, dev_sets={}))
    for device in spec.devices:
        props = {d: p for d, p in spec.devices.items() if d != device}
        yield from _valid(attrs.evolve(spec, devices=props))


def _without_device(spec: Spec, device: str) -> Spec:
    """``spec`` without ``device``: out of its group (a group left empty goes), its device
    set (a set of one goes) and its properties."""
    groups = {
        g: tuple(d for d in devs if d != device)
        for g, devs in spec.groups.items()
        if devs != (device,)
    }
    dev_sets = {
        n: tuple(d for d in devs if d != device)
        for n, devs in spec.dev_sets.items()
        if len([d for d in devs if d != device]) > 1
    }
    devices = {d: p for d, p in spec.devices.items() if d != device}
    return attrs.evolve(spec, groups=groups, dev_sets=dev_sets, devices=devices)


def _valid(spec: Spec) -> Iterator[Spec]:
    """``spec``, renamed for its content, if its scenario file would load; else nothing."""
    if not spec.groups:
        return
    try:
        parse(Path("<smaller>"), tomllib.loads(dump(spec)))
    except ScenarioError:
        return
    yield _named(spec)


def size(spec: Spec) -> tuple[int, int, int, int]:
    """How big a scenario is, in the order shrinking reduces it: actors, operations (the
    post part's too), objects, setup steps."""
    ops = sum(len(script) for script in spec.actors.values()) + len(spec.post)
    objects = len(spec.ioas) + sum(len(d) for d in spec.groups.values()) + len(spec.maps)
    return (len(spec.actors), ops, objects, len(spec.setup))


def _value(value: object) -> str:
    return json.dumps(value)


def _op_table(op: Op) -> str:
    fields = [f"op = {_value(op.op)}"]
    fields += [f"{key} = {_value(value)}" for key, value in op.params.items()]
    if op.accept is None:
        fields.append('expect = "any"')
    else:
        from lockstep.scenarios.spec import errno_name

        fields.append(f"expect = {_value(sorted(errno_name(rc) for rc in op.accept))}")
    return "{ " + ", ".join(fields) + " }"


def dump(spec: Spec, header: str = "") -> str:
    """``spec`` as a scenario file (`scenarios.toml_scenario`), after ``header`` (comment
    lines)."""
    lines = [header] if header else []
    lines.append(f"name = {_value(spec.name)}")
    lines.append(f"description = {_value(spec.description)}")
    if not spec.close:
        lines.append("close = false")
    lines.append("")
    lines.append("[objects]")
    lines.append(f"ioas = {_value(list(spec.ioas))}")
    if spec.maps:
        maps = ", ".join(f"{name} = {pages}" for name, pages in spec.maps.items())
        lines.append(f"maps = {{ {maps} }}")
    groups = ", ".join(f"{g} = {_value(list(devs))}" for g, devs in spec.groups.items())
    lines.append(f"groups = {{ {groups} }}")
    if spec.dev_sets:
        sets = ", ".join(f"{n} = {_value(list(devs))}" for n, devs in spec.dev_sets.items())
        lines.append(f"dev_sets = {{ {sets} }}")
    if spec.devices:
        devs = ", ".join(
            f"{dev} = {{ {', '.join(f'{k} = {_value(v)}' for k, v in props.items())} }}"
            for dev, props in spec.devices.items()
        )
        lines.append(f"devices = {{ {devs} }}")
    lines += _op_sections("setup", spec.setup)
    lines.append("")
    lines.append("[actors]")
    for who, script in spec.actors.items():
        lines.append(f"{_value(who)} = [")
        lines += [f"    {_op_table(op)}," for op in script]
        lines.append("]")
    lines += _op_sections("post", spec.post)
    return "\n".join(lines) + "\n"


def _op_sections(part: str, ops: tuple[Op, ...]) -> list[str]:
    """``ops`` as ``[[part]]`` tables (the setup, the post part)."""
    lines = []
    for op in ops:
        lines += ["", f"[[{part}]]", f"op = {_value(op.op)}"]
        lines += [f"{key} = {_value(value)}" for key, value in op.params.items()]
        if op.accept is None:
            lines.append('expect = "any"')
    return lines
