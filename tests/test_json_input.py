"""JSON a user hands over (ARC task files, Kaggle files, task text, dataset and checkpoint files), bad in every way
``json.loads`` can fail: one line naming the source, never a traceback (``hrmkit.jsonio``)."""

import json
import shutil

import pytest
from arc_fixtures import build_arc_dataset, toy_tasks
from tiny_checkpoint import make_checkpoint, make_data, tiny_trm

from hrmkit import jsonio
from hrmkit.cli import main
from hrmkit.errors import HrmError

DEEP = "[" * 100000 + "]" * 100000  # past any recursion limit: json.loads raises RecursionError, not a ValueError
GOOD_TASK = {"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[1]], "output": [[2]]}]}


@pytest.mark.parametrize(("data", "message"), [
    (DEEP.encode(), "src: not valid JSON (nested too deeply)"),
    (b'{"a": ' * 50000 + b"1" + b"}" * 50000, "src: not valid JSON (nested too deeply)"),
    (b'{"a": "\xc3"}', "src: not valid JSON (byte 0xc3 at offset 7 is not UTF-8)"),
    (b"1" * 5000, "src: not valid JSON (a number too long to read)"),
    (b"{x", "src: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
], ids=["arrays", "objects", "not UTF-8", "5000 digits", "syntax"])
def test_loads_turns_every_fault_into_one_line_naming_the_source(data, message):
    with pytest.raises(HrmError) as e:
        jsonio.loads(data, "src")
    assert str(e.value) == message


def test_loads_reads_utf8_with_a_bom_and_shown_cuts_values_short():
    assert jsonio.loads(b"\xef\xbb\xbf[1]", "src") == [1]
    assert jsonio.shown("x" * 10**6) == "'xxxxxxxxxxxxxxxxx...xxxxxxxxxxxxxxxxxx'"
    assert jsonio.shown(json.loads("[" * 900 + "]" * 900)) == "[[[[...]]]]"  # a plain repr may hit the recursion limit here


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err.strip()


def test_data_build_arc_names_a_task_file_nested_too_deeply(tmp_path, capsys):
    root = tmp_path / "tasks"
    (root / "training").mkdir(parents=True)
    (root / "evaluation").mkdir()
    (root / "training" / "aa000001.json").write_text(json.dumps(GOOD_TASK))
    (root / "evaluation" / "deep.json").write_text(DEEP)
    out = tmp_path / "out"
    assert main(["data", "build", "arc", "--dir", str(root), "--out", str(out), "--workers", "1", "--quiet"]) == 2
    assert one_error_line(capsys) == f"error: {root / 'evaluation' / 'deep.json'}: not valid JSON (nested too deeply)"
    assert not out.exists()


def test_data_build_arc_kaggle_files_nested_too_deeply_or_with_bad_solutions(tmp_path, capsys):
    folder = tmp_path / "kaggle"
    folder.mkdir()
    challenges = folder / "arc-agi_evaluation_challenges.json"
    challenges.write_text(DEEP)
    args = ["data", "build", "arc", "--kaggle-dir", str(folder), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet"]
    assert main(args) == 2
    assert one_error_line(capsys) == f"error: {challenges}: not valid JSON (nested too deeply)"
    challenges.write_text(json.dumps({"t1": GOOD_TASK}))
    (folder / "arc-agi_evaluation_solutions.json").write_text(json.dumps({"t1": 5}))  # not a list of grids
    assert main(args) == 2
    assert one_error_line(capsys) == "error: task t1: its solutions must be a list of output grids, one per test input"


@pytest.fixture(scope="module")
def arc_run(tmp_path_factory):
    data = build_arc_dataset(tmp_path_factory.mktemp("data") / "arc", toy_tasks(), num_aug=2, canvas=8)
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "arc", data, tiny_trm(puzzle_emb_ndim=32))


def test_solve_names_an_arc_task_file_nested_too_deeply_or_not_utf8(arc_run, tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text('{"train": ' + DEEP + "}")
    assert main(["solve", str(arc_run), str(deep)]) == 2
    assert one_error_line(capsys) == f"error: {deep}: not valid JSON (nested too deeply)"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00{}")
    assert main(["solve", str(arc_run), str(binary)]) == 2
    assert one_error_line(capsys) == f"error: {binary}: not UTF-8 text at line 1, column 1 (byte 0xff); save it as UTF-8"
    assert main(["solve", str(arc_run), DEEP]) == 2  # the task as text on the command line
    assert one_error_line(capsys) == "error: not an ARC task: not valid JSON (nested too deeply)"


def test_solve_takes_a_task_as_text_longer_than_a_file_name(arc_run, capsys):
    text = json.dumps({"train": [{"input": [[1] * 20] * 20, "output": [[2]]}], "test": [{"input": [[1]]}]})
    assert len(text) > 255  # Path(text).is_file() raises ENAMETOOLONG instead of answering False
    assert main(["solve", str(arc_run), text, "--segments", "1", "--variants", "1"]) == 0
    assert "the model has never seen this task" in capsys.readouterr().out


@pytest.mark.parametrize("where", ["identifiers.json", "arc_tasks.json"])
def test_dataset_files_nested_too_deeply_are_one_line_errors(where, arc_run, tmp_path, capsys):
    from hrmkit.checkpoint import read_config

    data = tmp_path / "data"
    shutil.copytree(read_config(arc_run)[0].data_path, data)
    (data / where).write_text(DEEP)
    assert main(["eval", str(arc_run), str(data), "--quiet", "--out", str(tmp_path / "report.json")]) == 2
    assert one_error_line(capsys) == f"error: {data / where}: not valid JSON (nested too deeply)"


@pytest.mark.parametrize("where", ["config.json", "state.json"])
def test_checkpoint_files_nested_too_deeply_are_one_line_errors(where, tmp_path):
    from hrmkit import checkpoint

    run = tmp_path / "run"
    make_checkpoint(run, make_data(tmp_path / "s4", train=2, test=2), tiny_trm())
    ckpt = run / "checkpoints" / "step_0"
    (ckpt / where).write_text(DEEP)
    read = checkpoint.read_config if where == "config.json" else checkpoint.read_state
    with pytest.raises(checkpoint.CheckpointError) as e:
        read(run)
    assert str(e.value) == f"{ckpt / where}: not valid JSON (nested too deeply)"
