"""Scenario files: the shipped ones load, a user's own runs, a bad one is one clear message."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockstep.scenarios.iommufd import DIRECTORY, ORDER
from lockstep.scenarios.toml_scenario import ScenarioError, load, load_spec, parse

USER = """
name = "my-replace"
description = "A user's own scenario: a replace onto ioas2 races the destroy of ioas2."

[objects]
ioas = ["ioas1", "ioas2"]
groups = { g = ["dev1"] }

[[setup]]
op = "bind"
device = "dev1"

[[setup]]
op = "attach"
device = "dev1"
pt = "ioas1"

[actors]
"idev1" = [{ op = "replace", device = "dev1", pt = "ioas2", expect = ["ok", "ENOENT"] }]
"ioas2" = [{ op = "destroy", id = "ioas2", expect = ["ok", "EBUSY"] }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_shipped_files_load() -> None:
    for name in ORDER:
        spec = load_spec(DIRECTORY / f"{name}.toml")
        assert spec.name == name
        assert spec.actors


def test_expect_is_errno_values(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, USER))
    assert spec.actors["ioas2"][0].accept == {0, -errno.EBUSY}
    assert spec.actors["idev1"][0].accept == {0, -errno.ENOENT}
    assert spec.groups == {"g": ("dev1",)}


def test_user_file_runs_from_the_cli(tmp_path: Path, cli) -> None:
    path = write(tmp_path, USER)
    done = cli("explore", str(path), "--strategy", "random", "--executions", "50")
    assert done.returncode == 0, done.stdout + done.stderr


def test_unaccepted_result_is_a_finding(tmp_path: Path) -> None:
    from lockstep.scheduler import explore

    text = USER.replace('expect = ["ok", "EBUSY"]', 'expect = "ok"')
    scenario = load(write(tmp_path, text))
    result = explore(scenario.program, strategy="random", executions=50, seed=3)
    assert any("returned EBUSY, accepts ok" in f.message for f in result.findings)


def test_hwpt_alloc_flags_are_refused_as_v66_does(tmp_path: Path) -> None:
    """IOMMU_HWPT_ALLOC's ``flags`` must be 0 in v6.6 (``if (cmd->flags || cmd->__reserved)
    return -EOPNOTSUPP``; NEST_PARENT came in 6.7); a file can say them, and a flag that is
    not a number is a clear message."""
    from lockstep.scheduler import explore

    text = USER.replace(
        '"ioas2" = [',
        '"hwpt" = [{ op = "hwpt_alloc", dev_id = "dev1", pt = "ioas1", flags = 1, '
        'expect = "EOPNOTSUPP" }]\n"ioas2" = [',
    )
    result = explore(load(write(tmp_path, text)).program, scenario="flags")
    assert result.exhausted and result.clean, [f.message for f in result.findings]
    with pytest.raises(ScenarioError, match=r"flags: must be a non-negative integer"):
        load(write(tmp_path, text.replace("flags = 1", 'flags = "NEST_PARENT"')))


def test_option_huge_pages_races_a_domain_with_a_map(tmp_path: Path) -> None:
    """IOMMU_OPTION_HUGE_PAGES 0 is refused (-EINVAL) once the IOAS has a domain and an
    area; an attach (which adds the domain) racing a map and the option gives both
    orders; an option the file misnames is a clear message."""
    from lockstep.scheduler import explore

    text = USER.replace(
        '"idev1" = [{ op = "replace", device = "dev1", pt = "ioas2", expect = ["ok", "ENOENT"] }]'
        '\n"ioas2" = [{ op = "destroy", id = "ioas2", expect = ["ok", "EBUSY"] }]',
        '"map" = [{ op = "map", ioas = "ioas1" }]\n'
        '"opt" = [{ op = "option", option = "huge_pages", ioas = "ioas1", set = 0, '
        'expect = ["ok", "EINVAL"] }]',
    )
    result = explore(load(write(tmp_path, text)).program, scenario="option")
    assert result.exhausted and result.clean, [f.message for f in result.findings]
    with pytest.raises(ScenarioError, match=r"'colour' is not an option"):
        load(write(tmp_path, text.replace('"huge_pages"', '"colour"')))


def test_a_device_used_before_bind_gets_the_kernels_einval(tmp_path: Path) -> None:
    """Operations on a device file before VFIO_DEVICE_BIND_IOMMUFD are valid input: the
    kernel answers them, -EINVAL (``vfio_device_fops_unl_ioctl`` until access is granted),
    and a scenario may test that. So the file is not refused; the answer is a result like
    any other, and an ``expect`` that does not take it is an invariant finding that names
    it, never an exception."""
    from lockstep.scheduler import explore

    unbound = USER.split("[[setup]]")[0] + (
        '[actors]\n"idev1" = [{ op = "attach", device = "dev1", pt = "ioas1", expect = "EINVAL" },'
        ' { op = "detach", device = "dev1", expect = "EINVAL" }]\n'
    )
    assert explore(load(write(tmp_path, unbound)).program).clean
    strict = unbound.replace('pt = "ioas1", expect = "EINVAL"', 'pt = "ioas1"')
    [finding] = explore(load(write(tmp_path, strict)).program).findings
    assert finding.kind == "invariant"
    assert "attach(device=dev1, pt=ioas1) returned EINVAL, accepts ok" in finding.message


BAD = [
    ("name = 'x'\n", "description", "missing"),
    (USER.replace('op = "replace"', 'op = "teleport"'), "actors.idev1[0].op", "unknown operation"),
    (
        USER.replace('pt = "ioas2", expect', 'pt = "ioas9", expect'),
        "actors.idev1[0].pt",
        "names nothing",
    ),
    (USER.replace('"EBUSY"]', '"EWHAT"]'), "actors.ioas2[0].expect", "errno name"),
    (
        USER.replace('device = "dev1", pt = "ioas2"', 'device = "dev7", pt = "ioas2"'),
        "actors.idev1[0].device",
        "not a device",
    ),
    (
        USER.replace('id = "ioas2",', 'id = "ioas2", colour = "red",'),
        "actors.ioas2[0].colour",
        "not a parameter of destroy",
    ),
    (
        USER.replace('[[setup]]\nop = "bind"\ndevice = "dev1"\n', '[[setup]]\nop = "bind"\n', 1),
        "setup[0].device",
        "missing",
    ),
    (USER + "\n[extra]\n", "extra", "unknown key"),
    (USER.replace('"idev1" = [', '"setup" = ['), "actors.setup", "setup"),
    (
        USER.replace('groups = { g = ["dev1"] }', 'groups = { g = ["dev1"] }\nmaps = { io = 1 }'),
        "objects.maps.io",
        "not an IOAS",
    ),
    ("name = [", "", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "key", "what"), BAD)
def test_bad_file_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, what: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert f": {key}: " in message or not key
    assert what in message
    assert "\n" not in message


def test_bad_file_from_the_cli_is_exit_2(tmp_path: Path, cli) -> None:
    path = write(tmp_path, USER.replace('op = "replace"', 'op = "teleport"'))
    done = cli("explore", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert str(path) in done.stderr and "actors.idev1[0].op" in done.stderr


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read it"):
        load(tmp_path / "nope.toml")


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(["ok", "EBUSY", "ioas1", "dev1", "M", "bind", "replace", "", "x"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["op", "device", "pt", "id", "as", "expect", "ioas", "g"]), inner
        ),
    ),
    max_leaves=8,
)
_ops = st.lists(
    st.dictionaries(
        st.sampled_from(["op", "device", "pt", "id", "as", "expect", "dev_id", "pages"]), _scalars
    ),
    max_size=3,
)
_documents = st.fixed_dictionaries(
    {"name": _scalars, "description": _scalars, "actors": st.dictionaries(_scalars.map(str), _ops)},
    optional={
        "objects": st.fixed_dictionaries(
            {},
            optional={
                "ioas": st.lists(_scalars, max_size=2),
                "groups": st.dictionaries(st.sampled_from(["g", "h"]), _values),
                "maps": st.dictionaries(st.sampled_from(["ioas1", "x"]), _scalars),
            },
        ),
        "setup": st.one_of(_ops, _values),
        "other": _values,
    },
)


@settings(max_examples=300, deadline=None)
@given(_documents)
def test_any_document_is_a_spec_or_one_scenario_error(data: dict[str, Any]) -> None:
    """Whatever the TOML holds, validation answers with a `Spec` or a one-line ScenarioError."""
    try:
        parse(Path("fuzz.toml"), data)
    except ScenarioError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        assert "\n" not in str(exc)
