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
    [
        ("abbcca", "dfs", None),
        ("replace-vs-alloc", "dfs", None),
        ("abbcca", "pct", 60),
        ("abbcca", "random", 60),
        ("abba", "naive-dfs", None),
    ],
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
    """A checkpoint is JSON data: a pickle is not read at all (here one that would call
    ``os.system`` on load), and a document can name only classes of the scheduler, never a
    function, a module's other objects, or a field a class does not have."""
    import json
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
    with pytest.raises(checkpoint.CheckpointError, match="not a readable lockstep checkpoint"):
        checkpoint.load(str(path), ())
    assert not marker.exists()

    def document(*objects):
        head = {"format": checkpoint.FORMAT, "version": checkpoint.VERSION}
        sha = checkpoint._digest(list(objects))
        path.write_text(json.dumps({**head, "sha256": sha, "objects": list(objects)}))

    state = ["d", [["identity", {"r": 1}], ["state", {"r": 2}]]]
    for name in ("posix:system", "os:system", "lockstep.scheduler.runtime:run_all"):
        document(state, ["t", []], ["i", name, {}])
        with pytest.raises(checkpoint.CheckpointError, match="refusing"):
            checkpoint.load(str(path), ())
    document(state, ["t", []], ["i", "lockstep.scheduler.dpor:Dpor", {"__class__": 1}])
    with pytest.raises(checkpoint.CheckpointError, match="has no field"):
        checkpoint.load(str(path), ())
    path.write_bytes(b"\x80\x04garbage")
    with pytest.raises(checkpoint.CheckpointError, match="not a readable lockstep checkpoint"):
        checkpoint.load(str(path), ())


def test_a_checkpoint_is_a_json_table_of_plain_data(tmp_path):
    """What `save` writes `load` reads back as the same graph: shared objects stay shared,
    cycles close, tuples stay tuples, a graph 5,000 deep loads (a wakeup tree is as deep as
    an execution is long), and a footprint's cached hash is not carried over."""
    import json

    from lockstep.scheduler import checkpoint
    from lockstep.scheduler.dpor import Dpor
    from lockstep.scheduler.events import Footprint

    fp = Footprint({3: 1, "x": 2})
    hash(fp)
    dpor = Dpor(preemption_bound=2)
    cycle: list[object] = []
    cycle.append(cycle)
    state = {"a": fp, "b": fp, "dpor": dpor, "cycle": cycle, "pairs": {(1, "k"): {5}}}
    path = str(tmp_path / "c.ckpt")
    checkpoint.save(path, ("s", None), state)
    json.loads((tmp_path / "c.ckpt").read_text())
    back = checkpoint.load(path, ("s", None))
    assert back is not None
    assert back["a"] is back["b"] and back["a"] == fp and back["a"]._hash is None
    assert isinstance(back["dpor"], Dpor) and back["dpor"].preemption_bound == 2
    assert back["cycle"][0] is back["cycle"]
    assert back["pairs"] == {(1, "k"): {5}}
    deep: list[object] = []
    chain: object = ()
    for _ in range(5000):
        deep, chain = [deep], (chain,)
    checkpoint.save(path, ("s", None), {"deep": deep, "chain": chain})
    back = checkpoint.load(path, ("s", None))
    assert back is not None
    for key, kind in (("deep", list), ("chain", tuple)):
        node, depth = back[key], 0
        while node:
            assert type(node) is kind and len(node) == 1
            node, depth = node[0], depth + 1
        assert depth == 5000
    checkpoint.save(path, ("s", None), state)
    text = (tmp_path / "c.ckpt").read_text()
    (tmp_path / "c.ckpt").write_text(text.replace('"x"', '"y"'))
    with pytest.raises(checkpoint.CheckpointError, match="corrupt checkpoint"):
        checkpoint.load(path, ("s", None))


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


def test_a_write_that_fails_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """The checkpoint is written to a temporary file and renamed over the old one: a write
    that dies halfway (a full disk) leaves the previous checkpoint whole and resumable."""
    from lockstep.scheduler import checkpoint

    path = str(tmp_path / "c.json")
    identity = ("abba", "dfs")
    checkpoint.save(path, identity, {"count": 1})
    before = (tmp_path / "c.json").read_bytes()

    def dump_half(document, f, **_):
        f.write('{"format": "lockstep-checkpoint", "obj')
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.json, "dump", dump_half)
    with pytest.raises(CheckpointError, match="cannot write the checkpoint: No space left"):
        checkpoint.save(path, identity, {"count": 2})
    monkeypatch.undo()
    assert (tmp_path / "c.json").read_bytes() == before
    assert checkpoint.load(path, identity) == {"count": 1}
