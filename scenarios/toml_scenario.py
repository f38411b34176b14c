"""Scenario files: an iommufd scenario written in TOML, so users need no Python.

The format (every key but ``name``, ``description`` and ``actors`` is optional)::

    name = "replace-vs-destroy"
    description = "What it exercises."

    [objects]
    ioas = ["ioas1", "ioas2"]          # IOMMU_IOAS_ALLOC each, in this order
    maps = { ioas1 = 1 }               # pages IOMMU_IOAS_MAP'ed into an IOAS
    groups = { group0 = ["dev1"] }     # iommu groups and the devices in each
    dev_sets = { set0 = ["dev1"] }     # VFIO device sets (default: one per device)
    devices = { dev1 = { resv_regions = 1, sw_msi = true } }   # what the iommu driver reports

    [[setup]]                          # run in order, alone, before the actors
    op = "bind"
    device = "dev1"

    [actors]                           # run concurrently; each runs its list in order
    "idev1" = [ { op = "replace", device = "dev1", pt = "M", expect = ["ok", "ENOENT"] } ]

    [[post]]                           # run in order, alone, after the actors
    op = "unbind"
    device = "dev1"

    close = false                      # (a top-level key) do not close the files at the end

Each operation is a table with ``op``, its parameters and ``expect``: ``"ok"``, an errno name
(``"EBUSY"``) or a list of them, or ``"any"`` (whatever the kernel function returns, as in
generated scenarios); the default is ``"ok"``. A result outside ``expect`` is a finding.
Operations and parameters are listed in `scenarios.spec.OPERATIONS`; ``as`` names
what an operation returns (``mock_domain`` also names ``<as>.hwpt`` and ``<as>.idev``), and a
device's name stands for its idev id once it is bound.

Every scenario ends by closing its files, as a selftest fixture's teardown does: the
``close`` operation (each bound device's file, then the iommufd: ``iommufd_fops_release()``)
runs after the post part, alone and fault-free, before the end check. ``close = false``
leaves everything open; ``close`` written as the post part's last operation is the same as
the default. It can be nowhere else: the kernel releases the iommufd only once no ioctl
holds the file.

A device's properties (``objects.devices``, `scenarios.spec.DEVICE_PROPS`) are what its iommu
driver reports: ``resv_regions`` (reserved regions besides MSI windows), ``sw_msi`` (an
IOMMU_RESV_SW_MSI window: iommufd installs the MSI cookie in its domains), ``hw_msi`` (an
IOMMU_RESV_MSI window; both at once is a driver bug the kernel WARNs on),
``isolated_msi`` (else binding it fails with -EPERM), ``enforce_cache_coherency``
(IOMMU_CAP_ENFORCE_CACHE_COHERENCY) and ``coherent_domains`` (its driver's domains can
enforce coherency; a coherent device attached to one that cannot gets -EINVAL).

`load` validates everything before anything runs; the first problem is raised as a
`ScenarioError` whose message names the file, the key and what is wrong.
"""

from __future__ import annotations

import errno
import hashlib
import json
import stat
import tomllib
from pathlib import Path
from typing import Any

from lockstep.scenarios.registry import Scenario
from lockstep.scenarios.spec import (
    DEVICE_PARAMS,
    DEVICE_PROPS,
    OPERATIONS,
    OPTIONS,
    Op,
    Spec,
    build_program,
)


class ScenarioError(Exception):
    """A scenario file that cannot be run: the message says file, key and what is wrong."""


_TOP = {"name", "description", "objects", "setup", "actors", "post", "close"}
_OBJECTS = {"ioas", "maps", "groups", "dev_sets", "devices"}
#: parameters that are plain numbers: the least each may be, and what to call it
_COUNTS = {
    "pages": (1, "a positive integer"),
    "length": (0, "a number of pages"),
    "flags": (0, "a non-negative integer"),
    "set": (0, "a non-negative integer"),
}
_NAME_PARAMS = {
    "ioas",
    "pt",
    "id",
    "stdev",
    "iova",
    "dev_id",
    "access",
    "item",
    "src_ioas",
    "src_iova",
    "dst_ioas",
    "dst_iova",
}


class _Checker:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, what: str) -> ScenarioError:
        return ScenarioError(f"{self.path}: {key}: {what}")

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def names(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, f"must be a list of names, not {value!r}")
        out = tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(set(out)) != len(out):
            raise self.fail(key, "names a thing twice")
        return out

    def table(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {value!r}")
        return value

    def accept(self, value: object, key: str) -> frozenset[int] | None:
        if value == "any":
            return None
        items = value if isinstance(value, list) else [value]
        if not items:
            raise self.fail(key, "accepts nothing")
        out = set()
        for item in items:
            if item == "ok":
                out.add(0)
            elif isinstance(item, str) and item in errno.__dict__ and item.startswith("E"):
                out.add(-getattr(errno, item))
            else:
                raise self.fail(
                    key, f'{item!r} is neither "ok", "any" nor an errno name (EBUSY...)'
                )
        return frozenset(out)


def _op(c: _Checker, raw: object, key: str) -> Op:
    table = c.table(raw, key)
    if "op" not in table:
        raise c.fail(f"{key}.op", "missing: which operation")
    name = c.string(table["op"], f"{key}.op")
    if name not in OPERATIONS:
        known = ", ".join(sorted(OPERATIONS))
        raise c.fail(f"{key}.op", f"unknown operation {name!r} (known: {known})")
    required, optional = OPERATIONS[name]
    params: dict[str, str | int] = {}
    for param, value in table.items():
        if param in ("op", "expect"):
            continue
        if param not in required | optional:
            allowed = ", ".join(sorted(required | optional)) or "none"
            raise c.fail(f"{key}.{param}", f"not a parameter of {name} (parameters: {allowed})")
        if param in _COUNTS:
            least, what = _COUNTS[param]
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise c.fail(f"{key}.{param}", f"must be {what}, not {value!r}")
            params[param] = value
        elif param == "option":
            if value not in OPTIONS:
                known = ", ".join(sorted(OPTIONS))
                raise c.fail(f"{key}.option", f"{value!r} is not an option ({known})")
            params[param] = value
        elif isinstance(value, int) and not isinstance(value, bool) and param in _NAME_PARAMS:
            params[param] = value
        else:
            params[param] = c.string(value, f"{key}.{param}")
    for param in sorted(required - params.keys()):
        raise c.fail(f"{key}.{param}", f"missing: {name} needs it")
    accept = c.accept(table.get("expect", "ok"), f"{key}.expect")
    return Op(name, params, accept)


def _check_names(c: _Checker, spec: Spec, where: dict[int, str]) -> None:
    devices = {d for devs in spec.groups.values() for d in devs}
    declared: dict[str, str] = {}
    for name in spec.ioas:
        declared[name] = "objects.ioas"
    for group, devs in spec.groups.items():
        for d in devs:
            if d in declared:
                raise c.fail(f"objects.groups.{group}", f"{d!r} is already the name of an IOAS")
            declared[d] = f"objects.groups.{group}"
    scripts = [spec.setup, *spec.actors.values(), spec.post]
    for script in scripts:
        for op in script:
            bound = op.params.get("as")
            if isinstance(bound, str):
                new = [bound]
                if op.op == "mock_domain":
                    new += [f"{bound}.hwpt", f"{bound}.idev"]
                for n in new:
                    if n in declared and declared[n] != where[id(op)]:
                        raise c.fail(f"{where[id(op)]}.as", f"{n!r} is already named elsewhere")
                    declared[n] = where[id(op)]
    for ioas_name in spec.maps:
        if ioas_name not in spec.ioas:
            raise c.fail(f"objects.maps.{ioas_name}", "not an IOAS named in objects.ioas")
    for script in scripts:
        for op in script:
            for param, value in op.params.items():
                key = f"{where[id(op)]}.{param}"
                if param in DEVICE_PARAMS and value not in devices:
                    raise c.fail(key, f"{value!r} is not a device of objects.groups")
                if param in _NAME_PARAMS and isinstance(value, str) and value not in declared:
                    raise c.fail(key, f"{value!r} names nothing (declare it or bind it with as)")


def _check_dev_sets(c: _Checker, spec: Spec) -> None:
    devices = {d for devs in spec.groups.values() for d in devs}
    seen: dict[str, str] = {}
    for set_name, members in spec.dev_sets.items():
        for member in members:
            key = f"objects.dev_sets.{set_name}"
            if member not in devices:
                raise c.fail(key, f"{member!r} is not a device of objects.groups")
            if member in seen:
                raise c.fail(key, f"{member!r} is already in the device set {seen[member]!r}")
            seen[member] = set_name


def parse(path: Path, data: dict[str, Any]) -> Spec:
    """Validate the parsed TOML ``data`` of ``path`` into a `Spec`."""
    c = _Checker(path)
    for key in data:
        if key not in _TOP:
            raise c.fail(key, f"unknown key (known: {', '.join(sorted(_TOP))})")
    for key in ("name", "description", "actors"):
        if key not in data:
            raise c.fail(key, "missing")
    name = c.string(data["name"], "name")
    description = c.string(data["description"], "description")

    objects = c.table(data.get("objects", {}), "objects")
    for key in objects:
        if key not in _OBJECTS:
            raise c.fail(f"objects.{key}", f"unknown key (known: {', '.join(sorted(_OBJECTS))})")
    ioas = c.names(objects.get("ioas", []), "objects.ioas")
    groups = {
        c.string(g, "objects.groups"): c.names(devs, f"objects.groups.{g}")
        for g, devs in c.table(objects.get("groups", {}), "objects.groups").items()
    }
    dev_sets = {
        c.string(s, "objects.dev_sets"): c.names(devs, f"objects.dev_sets.{s}")
        for s, devs in c.table(objects.get("dev_sets", {}), "objects.dev_sets").items()
    }
    devices = _devices(c, c.table(objects.get("devices", {}), "objects.devices"))
    maps: dict[str, int] = {}
    for ioas_name, pages in c.table(objects.get("maps", {}), "objects.maps").items():
        if not isinstance(pages, int) or isinstance(pages, bool) or pages < 1:
            raise c.fail(f"objects.maps.{ioas_name}", f"must be a positive integer, not {pages!r}")
        maps[ioas_name] = pages

    where: dict[int, str] = {}
    setup = _sequential(c, data, "setup", where)
    post = _sequential(c, data, "post", where)

    actors: dict[str, tuple[Op, ...]] = {}
    raw_actors = c.table(data["actors"], "actors")
    if not raw_actors:
        raise c.fail("actors", "names no actor")
    for who, script in raw_actors.items():
        if who in ("setup", "post"):
            raise c.fail(
                f"actors.{who}", f'"{who}" is the {who} part\'s name; call the actor otherwise'
            )
        key = f"actors.{who}"
        if not isinstance(script, list) or not script:
            raise c.fail(key, "must be a non-empty list of operations")
        actors[who] = tuple(_op(c, raw, f"{key}[{i}]") for i, raw in enumerate(script))
        for i, op in enumerate(actors[who]):
            where[id(op)] = f"{key}[{i}]"

    close = data.get("close", True)
    if not isinstance(close, bool):
        raise c.fail("close", f"must be true or false, not {close!r}")
    for op in (*setup, *(op for script in actors.values() for op in script), *post[:-1]):
        if op.op == "close":
            raise c.fail(where[id(op)], "close can only be the post part's last operation")
    spec = Spec(
        name, description, ioas, groups, maps, setup, actors, dev_sets, devices, post, close
    )
    _check_names(c, spec, where)
    _check_dev_sets(c, spec)
    in_groups = {d for devs in groups.values() for d in devs}
    for dev in devices:
        if dev not in in_groups:
            raise c.fail(f"objects.devices.{dev}", "not a device of objects.groups")
    return spec


def _sequential(
    c: _Checker, data: dict[str, Any], part: str, where: dict[int, str]
) -> tuple[Op, ...]:
    """The ``[[setup]]`` or ``[[post]]`` operations, each noted in ``where`` by its key."""
    raw_ops = data.get(part, [])
    if not isinstance(raw_ops, list):
        raise c.fail(part, f"must be an array of tables ([[{part}]])")
    ops = tuple(_op(c, raw, f"{part}[{i}]") for i, raw in enumerate(raw_ops))
    for i, op in enumerate(ops):
        where[id(op)] = f"{part}[{i}]"
    return ops


def _devices(c: _Checker, raw: dict[str, Any]) -> dict[str, dict[str, int | bool]]:
    """``objects.devices``: each device's properties, checked against `DEVICE_PROPS`."""
    devices: dict[str, dict[str, int | bool]] = {}
    for dev, props in raw.items():
        key = f"objects.devices.{dev}"
        table = c.table(props, key)
        for prop, value in table.items():
            kind = DEVICE_PROPS.get(prop)
            if kind is None:
                known = ", ".join(sorted(DEVICE_PROPS))
                raise c.fail(f"{key}.{prop}", f"unknown property (known: {known})")
            if kind is bool and not isinstance(value, bool):
                raise c.fail(f"{key}.{prop}", f"must be true or false, not {value!r}")
            if kind is int and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 64
            ):
                raise c.fail(f"{key}.{prop}", f"must be an integer from 0 to 64, not {value!r}")
        devices[dev] = dict(table)
    return devices


#: A scenario file larger than this is refused (the shipped ones are about 2 KiB).
MAX_BYTES = 1 << 20


def load_spec(path: str | Path) -> Spec:
    """Read and validate a scenario file: a regular file of at most `MAX_BYTES` (a FIFO
    would block, /dev/zero never end)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise ScenarioError(f"{path}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise ScenarioError(f"{path}: larger than {MAX_BYTES:,} bytes")
        with path.open("rb") as file:
            text = file.read(MAX_BYTES + 1).decode("utf-8")
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ScenarioError(f"{path}: not valid TOML: nested too deeply") from None
    return parse(path, data)


def load(path: str | Path) -> Scenario:
    """The `Scenario` a TOML file describes; `ScenarioError` if it cannot be run."""
    spec = load_spec(path)
    return Scenario(
        spec.name,
        spec.description,
        build_program(spec),
        lambda variant: build_program(spec, variant=variant),
    )


def digest_option(name: str) -> list[tuple[str, str]]:
    """The ``sha`` option of a scenario file's replay lines: the start of the SHA-256 of what
    the file says (its parsed TOML, so comments and layout do not count), so that a line
    made from one version of the scenario is refused on another."""
    if not name.endswith(".toml"):
        return []
    try:
        data = tomllib.loads(Path(name).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError):
        return []
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return [("sha", hashlib.sha256(canonical.encode()).hexdigest()[:12])]
