"""--checkpoint: an interrupted exploration resumes and ends as an uninterrupted one."""

from __future__ import annotations

import pytest

from lockstep import scenarios
from lockstep.scheduler import explore
from lockstep.scheduler.checkpoint import CheckpointError


class Interrupt(Exception):
    pass


def summary(result):
    return (
        result.executions,
        result.exhausted,
        [(f.kind, f.classes, f.schedule) for f in result.findings],
        sorted(map(str, result.edges)),
    )


@pytest.mark.parametrize(
    ("name", "strategy", "executions"),
    [("abbcca", "dfs", None), ("replace-vs-alloc", "dfs", None), ("abbcca", "pct", 60)],
)
def test_an_interrupted_exploration_resumes_to_the_same_result(
    tmp_path, name, strategy, executions
):
    program = scenarios.get(name).program
    path = str(tmp_path / "explore.ckpt")
    plain = explore(program, strategy=strategy, executions=executions, scenario=name)

    def stop_at(n):
        def progress(count, _):
            if count == n:
                raise Interrupt

        return progress

    with pytest.raises(Interrupt):
        explore(
            program,
            strategy=strategy,
            executions=executions,
            scenario=name,
            checkpoint=path,
            checkpoint_every=7,
            progress=stop_at(plain.executions // 2),
        )
    resumed = explore(
        program, strategy=strategy, executions=executions, scenario=name, checkpoint=path
    )
    assert summary(resumed) == summary(plain)
    assert not (tmp_path / "explore.ckpt").exists(), "removed once the exploration ends"


def test_a_checkpoint_of_another_exploration_is_refused(tmp_path):
    path = str(tmp_path / "explore.ckpt")
    program = scenarios.get("abba").program
    with pytest.raises(Interrupt):

        def progress(count, _):
            raise Interrupt

        explore(program, scenario="abba", checkpoint=path, checkpoint_every=1, progress=progress)
    with pytest.raises(CheckpointError, match="another exploration"):
        explore(program, scenario="abba", strategy="naive-dfs", checkpoint=path)


def test_a_crafted_checkpoint_cannot_run_code(tmp_path):
    """A pickle that calls a function on load (here ``os.system``) is refused before the call:
    the loader resolves only checkpoint classes."""
    import os
    import pickle

    from lockstep.scheduler import checkpoint

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(
        pickle.dumps({"version": checkpoint.VERSION, "identity": (), "state": Exploit()})
    )
    with pytest.raises(checkpoint.CheckpointError, match=r"refusing (posix|os)\.system"):
        checkpoint.load(str(path), ())
    assert not marker.exists()
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable lockstep checkpoint"):
        checkpoint.load(str(path), ())


def test_a_resumed_exploration_says_where_it_resumed(tmp_path, capsys):
    from lockstep.tools.cli import run

    program = scenarios.get("abbcca").program
    path = str(tmp_path / "explore.ckpt")

    def stop(count, _):
        if count == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        explore(program, scenario="abbcca", checkpoint=path, checkpoint_every=2, progress=stop)
    seen = []
    explore(program, scenario="abbcca", checkpoint=path, on_resume=seen.append)
    assert seen == [4]
    with pytest.raises(Interrupt):
        explore(program, scenario="abbcca", checkpoint=path, checkpoint_every=2, progress=stop)
    assert run(["explore", "abbcca", "--checkpoint", path, "--no-minimize"]) == 1
    assert f"lockstep: resumed at execution 4 from {path}" in capsys.readouterr().err
