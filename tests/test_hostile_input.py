"""Hostile input to the CLI, in-process: malformed schedule lines, scenario files and
checkpoints are each exit 2 and one line on stderr (or a normal result, if the mutation
happens to be valid); never a traceback, never status 3."""

from __future__ import annotations

import json
import resource
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lockstep.scenarios.iommufd import DIRECTORY
from lockstep.tools.cli import run

LINES = ["ls1:abba:-:0x2.1x2", "ls1:abbcca:-:0x2.1x2.2x2", "ls1:replace-vs-destroy:-:0x3.1x3"]
TOML = (DIRECTORY / "replace-vs-destroy.toml").read_text()
SCHEDULE_ALPHABET = "ls1:abcdx0123456789.-/=,_+ \n"


def mutated(text: str) -> st.SearchStrategy[str]:
    """``text`` with a few characters replaced, inserted or deleted."""

    @st.composite
    def edit(draw: st.DrawFn) -> str:
        chars = list(text)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(chars)))
            kind = draw(st.sampled_from(["replace", "insert", "delete"]))
            char = draw(st.characters(codec="utf-8", exclude_characters="\x00"))
            if kind == "insert" or at == len(chars):
                chars.insert(at, char)
            elif kind == "replace":
                chars[at] = char
            else:
                del chars[at]
        return "".join(chars)

    return edit()


#: What one hostile input may cost in-process: wall time (generous, for a loaded machine)
#: and growth of the process's peak resident memory.
SECONDS = 30.0
PEAK_GROWTH = 256 * 2**20


def bounded(args: list[str]) -> int:
    """``lockstep ARGS`` in-process, failing if it takes longer than `SECONDS` or raises
    the process's peak memory by more than `PEAK_GROWTH`."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.monotonic()
    code = run(args)
    took = time.monotonic() - start
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert took < SECONDS, f"{args!r} took {took:.1f} s"
    assert grew < PEAK_GROWTH, f"{args!r} raised the peak memory by {grew / 2**20:.0f} MiB"
    return code


def check(capsys, code: int) -> None:
    out, err = capsys.readouterr()
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "Traceback" not in out
    if code == 2:
        assert err.startswith("lockstep: error: ") and err.count("\n") == 1, err


def hostile(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


@hostile(1500)
@given(
    st.one_of(
        st.sampled_from(LINES).flatmap(mutated),
        st.text(alphabet=SCHEDULE_ALPHABET, max_size=60),
    )
)
def test_schedule_lines(capsys, line):
    check(capsys, bounded(["replay", line]))


@hostile(500)
@given(st.sampled_from(LINES).flatmap(mutated), st.sampled_from(["show", "minimize"]))
def test_schedule_lines_to_show_and_minimize(capsys, line, command):
    check(capsys, bounded([command, line]))


@hostile(300)
@given(st.one_of(mutated(TOML), st.text(max_size=200)))
def test_scenario_files(capsys, tmp_path_factory, text):
    path = tmp_path_factory.mktemp("toml") / "s.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    args = ["explore", str(path), "--strategy", "random", "--executions", "2", "--no-minimize"]
    check(capsys, bounded(args))


@hostile(200)
@given(st.binary(max_size=300))
def test_checkpoint_files(capsys, tmp_path_factory, data):
    path = tmp_path_factory.mktemp("ckpt") / "c.ckpt"
    path.write_bytes(data)
    code = bounded(["explore", "abba", "--no-minimize", "--checkpoint", str(path)])
    _, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err


def test_a_line_that_cannot_be_a_path_is_still_a_line(capsys):
    """A schedule argument is tried as a file first: a name too long for the file system
    (found by bench/hostile.py) or one with a NUL byte is a malformed line, not a crash; so is
    a scenario name that is no module.function name (``.map-vs-attach``, found the same way)."""
    for line in ("ls:replace-vs" + "9" * 300, "ls1:abba:-:0\x00x2", "ls1:.map-vs-attach:-:0x3"):
        code = run(["replay", line])
        check(capsys, code)
        assert code == 2


def _real_checkpoint() -> str:
    """A checkpoint an interrupted dfs exploration of abbcca wrote."""
    import contextlib
    import tempfile
    from pathlib import Path

    from lockstep import scenarios
    from lockstep.scheduler import explore

    class Stop(Exception):
        pass

    def stop(count: int, _: int) -> None:
        if count == 3:
            raise Stop

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "c.ckpt"
        with contextlib.suppress(Stop):
            explore(
                scenarios.get("abbcca").program,
                scenario="abbcca",
                checkpoint=str(path),
                checkpoint_every=2,
                progress=stop,
            )
        return path.read_text()


CHECKPOINT = _real_checkpoint()


@hostile(150)
@given(mutated(CHECKPOINT))
def test_mutated_real_checkpoints(capsys, tmp_path_factory, text):
    """A real checkpoint changed anywhere is refused (its digest: exit 2), never resumed
    into a state that breaks the exploration later with an internal error; a change JSON
    does not see (white space between tokens) resumes as the file was written."""
    path = tmp_path_factory.mktemp("ckpt") / "c.ckpt"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    code = run(["explore", "abbcca", "--no-minimize", "--checkpoint", str(path)])
    check(capsys, code)
    if code != 2:
        assert json.loads(text) == json.loads(CHECKPOINT)
