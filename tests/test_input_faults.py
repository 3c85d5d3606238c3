"""Faults a new user meets at the command line: disk errors while writing (a read-only folder, a full disk, a file
where a folder should be), bad input values and encodings, input that would quietly do nothing or build nothing,
options that do not apply, and Ctrl-C during a parallel build. Each gives one line and a non-zero exit; a write that
fails leaves the previous file as it was and no temporary behind."""

from __future__ import annotations

import builtins
import errno
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_checkpoint import make_data

from hrmkit.atomic import WriteError, atomic_directory, atomic_file, atomic_write_text
from hrmkit.cli import main
from hrmkit.data import build as B
from hrmkit.data.check import check_dataset
from hrmkit.data.format import DatasetError, load_dataset, write_dataset
from hrmkit.errors import HrmError
from hrmkit.jsonio import read_text as read_text_file
from hrmkit.puzzles import sudoku as S

SRC = str(Path(__file__).resolve().parents[1] / "src")


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err
    return err


def leftovers(folder: Path) -> list[str]:
    """Temporary or set-aside names of the atomic writers (and of the write probe) anywhere under ``folder``."""
    return sorted(str(p) for p in folder.rglob(".*") if re.search(r"\.(tmp|old|probe)-", p.name))


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)`` makes ``folder`` refuse new entries and writes for this process, as a read-only mount does
    (tests may run as root, where chmod does not stop a write): open for writing, mkdir, rename and replace under it
    raise EROFS."""
    folders: list[Path] = []

    def blocked(path) -> bool:
        p = Path(os.fsdecode(path)).absolute()
        return any(f in p.parents for f in folders)

    def refuse(path) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))

    real_open, real_mkdir, real_rename, real_replace = builtins.open, os.mkdir, os.rename, os.replace

    def fake_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+") and blocked(file):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    def fake_mkdir(path, *args, **kwargs):
        if blocked(path):
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def two_paths(real):
        def fake(src, dst, *args, **kwargs):
            for p in (src, dst):
                if blocked(p):
                    refuse(p)
            return real(src, dst, *args, **kwargs)
        return fake

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(io, "open", fake_open)
    monkeypatch.setattr(os, "mkdir", fake_mkdir)
    monkeypatch.setattr(os, "rename", two_paths(real_rename))
    monkeypatch.setattr(os, "replace", two_paths(real_replace))
    return lambda folder: folders.append(Path(folder).absolute())


@pytest.fixture(scope="module")
def data4(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data") / "s4", num_aug=0, train=8, test=6)


@pytest.fixture(scope="module")
def run4(data4, tmp_path_factory) -> Path:
    from tiny_checkpoint import make_checkpoint, tiny_hrm

    return make_checkpoint(tmp_path_factory.mktemp("runs") / "hrm", data4, tiny_hrm())


def dataset_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the atomic writers


def test_a_file_write_that_fails_names_the_path_and_keeps_the_old_file(tmp_path, read_only, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("old")
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(WriteError, match=f"^cannot write {re.escape(str(blocker / 'r.json'))}: {re.escape(str(blocker))} is not a folder$"):
        atomic_write_text(blocker / "r.json", "new")  # a parent that is a file fails even for root
    with pytest.raises(WriteError, match=f"^cannot write {re.escape(str(tmp_path / 'no' / 'r.json'))}: folder .* does not exist$"):
        atomic_write_text(tmp_path / "no" / "r.json", "new")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() on a full disk: no file name

    with monkeypatch.context() as m:
        m.setattr(Path, "write_bytes", full)
        with pytest.raises(WriteError, match=f"^cannot write {re.escape(str(target))}: No space left on device$"):
            atomic_write_text(target, "new")
    read_only(tmp_path)
    with pytest.raises(WriteError, match="Read-only file system$"):
        atomic_write_text(target, "new")
    with pytest.raises(WriteError, match="Read-only file system$"), atomic_file(tmp_path / "picture.png") as tmp:
        tmp.write_bytes(b"png")
    assert target.read_text() == "old" and leftovers(tmp_path) == [] and not (tmp_path / "picture.png").exists()


def test_a_folder_write_that_fails_keeps_the_old_folder_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "metadata.json").write_text("old")
    with pytest.raises(WriteError, match=f"^cannot write {re.escape(str(target))}: No space left on device$"):
        with atomic_directory(target) as tmp:
            (tmp / "metadata.json").write_text("new")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert (target / "metadata.json").read_text() == "old" and leftovers(tmp_path) == []

    # The swap's second rename (new folder into place) fails after the old one was set aside: the old one comes back.
    real_rename = os.rename

    def second_rename_fails(src, dst):
        if ".tmp-" in os.fsdecode(src):
            raise OSError(errno.EIO, os.strerror(errno.EIO), os.fsdecode(src), os.fsdecode(dst))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", second_rename_fails)
    with pytest.raises(WriteError, match=f"^cannot write {re.escape(str(target))}: Input/output error$"):
        with atomic_directory(target) as tmp:
            (tmp / "metadata.json").write_text("new")
    assert (target / "metadata.json").read_text() == "old" and leftovers(tmp_path) == []
    monkeypatch.setattr(os, "rename", real_rename)

    # A regular file in the way is replaced like a folder (callers decide whether it may be), never left under a hidden name.
    plain = tmp_path / "plain"
    plain.write_text("x")
    with atomic_directory(plain) as tmp:
        (tmp / "a").write_text("new")
    assert (plain / "a").read_text() == "new" and leftovers(tmp_path) == []


def test_a_read_error_inside_a_folder_write_is_not_called_a_write_error(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_directory(tmp_path / "out"):
        (tmp_path / "missing-input.csv").read_text()
    assert leftovers(tmp_path) == [] and not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- hrm data build: disk errors and --force


def test_data_build_into_a_read_only_folder_is_refused_before_building(tmp_path, read_only, capsys):
    read_only(tmp_path)
    started = time.perf_counter()
    assert main(["data", "build", "sudoku", "--out", str(tmp_path / "ds"), "--quiet", "--workers", "1"]) == 2
    assert time.perf_counter() - started < 5  # 1000 + 1000 9x9 puzzles were not generated first
    one_line_error(capsys, f"error: cannot write {tmp_path / 'ds'}: Read-only file system")
    assert list(tmp_path.iterdir()) == []


def test_data_build_under_a_file_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert main(["data", "build", "sudoku-4x4", "--out", str(tmp_path / "f" / "ds"), "--quiet", "--workers", "1"]) == 2
    one_line_error(capsys, f"cannot write {tmp_path / 'f' / 'ds'}: {tmp_path / 'f'} is not a folder")


def test_data_build_on_a_full_disk_keeps_the_old_dataset(data4, tmp_path, monkeypatch, capsys):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(data4, out)
    before = dataset_files(out)
    calls = []

    def full(file, *args, **kwargs):
        calls.append(file)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(file, *args, **kwargs)

    real_save = np.save
    monkeypatch.setattr(np, "save", full)
    argv = ["data", "build", "sudoku-4x4", "train=8", "test=6", "--out", str(out), "--force", "--quiet", "--workers", "1"]
    assert main(argv) == 2
    one_line_error(capsys, f"error: cannot write {out}: No space left on device")
    assert dataset_files(out) == before and leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_force_replaces_a_dataset_only(data4, tmp_path, capsys):
    plain = tmp_path / "notes.txt"
    plain.write_text("keep me")
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_text("keep me")
    base = ["data", "build", "sudoku-4x4", "train=8", "test=4", "num_aug=0", "--force", "--quiet", "--workers", "1", "--out"]
    assert main([*base, str(plain)]) == 2
    one_line_error(capsys, f"{plain} is a file, not a dataset folder; --force replaces only a dataset folder")
    assert main([*base, str(other)]) == 2
    one_line_error(capsys, f"{other} is a folder but not a dataset (no metadata.json)")
    assert plain.read_text() == "keep me" and (other / "a.jpg").read_text() == "keep me" and leftovers(tmp_path) == []

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*base[:-3], "--workers", "1", "--out", str(empty)]) == 0  # an empty folder is free, even without --force
    assert main([*base, str(empty)]) == 0  # and a dataset is replaced with --force
    assert load_dataset(empty).metadata.splits["test"].total_examples == 4 and leftovers(tmp_path) == []
    capsys.readouterr()


# --------------------------------------------------------------------------- hrm eval, plot, solve: disk errors


def test_eval_on_a_read_only_run_prints_the_results_then_fails_in_one_line(run4, data4, read_only, capsys):
    read_only(run4)
    assert main(["eval", str(run4), str(data4), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "exact accuracy" in captured.out and "examples 6" in captured.out  # the finished evaluation is not lost
    report = run4 / "checkpoints" / "step_0" / f"eval-{data4.name}-test.json"
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: cannot write {report}: Read-only file system")
    assert "give --out FILE" in captured.err
    assert not report.exists() and leftovers(run4) == []


def test_eval_with_a_segments_curve_on_a_full_disk_prints_the_results(run4, data4, tmp_path, monkeypatch, capsys):
    real_replace = os.replace

    def full(src, dst):
        if os.fsdecode(dst).endswith(".png"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    out = tmp_path / "r.json"
    assert main(["eval", str(run4), str(data4), "--quiet", "--segments", "1,2", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert "exact accuracy against ACT segments (trained with up to 2): 1:" in captured.out and "curve:" not in captured.out
    assert captured.err.startswith(f"error: cannot write {out.with_suffix('.png')}: No space left on device") and captured.err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_eval_out_that_cannot_be_written_is_refused_before_evaluating(run4, data4, tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    for out, why in [(tmp_path / "f" / "r.json", f"{tmp_path / 'f'} is not a folder"), (tmp_path / "no" / "r.json", "does not exist"),
                     (tmp_path, "a folder is there")]:
        assert main(["eval", str(run4), str(data4), "--quiet", "--out", str(out)]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # nothing evaluated
        assert captured.err.startswith(f"error: cannot write {out}: ") and why in captured.err and captured.err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_plot_into_a_read_only_run_keeps_the_old_picture(tmp_path, read_only, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("".join(json.dumps({"step": s, "split": "train", "loss": 1 / s}) + "\n" for s in (1, 2)))
    (run / "curves.png").write_bytes(b"old")
    read_only(run)
    assert main(["plot", str(run)]) == 2
    one_line_error(capsys, f"error: cannot write {run / 'curves.png'}: Read-only file system")
    assert (run / "curves.png").read_bytes() == b"old" and leftovers(run) == []


def test_solve_trace_out_that_cannot_be_written(run4, tmp_path, read_only, monkeypatch, capsys):
    puzzle = "12..34.........."
    read_only(tmp_path / "ro")
    (tmp_path / "ro").mkdir()
    assert main(["solve", str(run4), puzzle, "--trace-out", str(tmp_path / "ro" / "t.png")]) == 2
    assert capsys.readouterr().out == ""  # refused before the model ran
    real_replace = os.replace

    def full(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fsdecode(src))

    monkeypatch.setattr(os, "replace", full)
    for name in ("t.gif", "t.png"):
        assert main(["solve", str(run4), puzzle, "--trace-out", str(tmp_path / name)]) == 2
        captured = capsys.readouterr()
        assert "segment 1" in captured.out  # the trace was shown; only its picture could not be saved
        assert captured.err == f"error: cannot write {tmp_path / name}: No space left on device\n"
    monkeypatch.setattr(os, "replace", real_replace)
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["ro"]


@pytest.mark.parametrize("error, line", [
    (OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), "error: No space left on device"),
    (OSError(errno.EROFS, os.strerror(errno.EROFS), "/runs/x/metrics.jsonl"), "error: Read-only file system: /runs/x/metrics.jsonl"),
    (OSError(errno.EDQUOT, os.strerror(errno.EDQUOT), "/q"), f"error: {os.strerror(errno.EDQUOT)}: /q"),
])
def test_any_os_error_reaching_the_cli_is_one_line(error, line, monkeypatch, capsys):
    """The net under writes made outside the atomic writers (e.g. the training log appended line by line)."""
    import hrmkit.cli as cli

    def fails(args):
        raise error

    monkeypatch.setattr(cli, "_cmd_plot", fails)
    assert main(["plot", "anywhere"]) == 2
    assert capsys.readouterr().err == line + "\n"


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize("argv, message", [
    (["data", "build", "sudoku-4x4", "--seed", "-1"], "--seed must be at least 0, got -1"),
    (["data", "build", "sudoku-4x4", "seed=-1"], "seed: Input should be greater than or equal to 0 (got -1)"),
    (["data", "build", "maze-9x9", "seed=-3"], "seed: Input should be greater than or equal to 0 (got -3)"),
    (["data", "build", "arc-tiny", "seed=-1"], "seed: Input should be greater than or equal to 0 (got -1)"),
    (["train", "demo", "seed=-1"], "seed: Input should be greater than or equal to 0"),
    (["train", "demo", f"seed={2**64}"], "seed: Input should be less than 9223372036854775808"),
    (["demo", "--seed", "-2"], "--seed must be at least 0, got -2"),
    (["data", "build", "sudoku", "train=0"], "train must be at least 1 when generating, got 0"),
    (["data", "build", "sudoku", "--out", ""], "--out: empty; give a value"),
    (["data", "build", "sudoku", "--csv-dir", ""], "--csv-dir: empty; give a value"),
    (["eval", "", "data/x"], "CHECKPOINT: empty; give a value"),
    (["data", "build", "sudoku-4x4", "--num-aug", "1000000000"], "this build would write up to 32.0 TB (1,000,000,001,200 examples of 16"),
    (["data", "build", "maze", "--train", "1000000000000"], "ask for fewer examples (--train, --test, --num-aug)"),
    (["data", "build", "sudoku", "--workers", "1000000"], f"--workers must be at most {4 * (os.cpu_count() or 1)} (4 per core"),
    (["data", "build", "sudoku-4x4", "--min-clues", "16"], "min_clues: must be below the 16 cells of a 4x4 grid (got 16)"),
])
def test_bad_values_are_refused_in_one_line_before_any_work(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    one_line_error(capsys, message)
    assert list(tmp_path.iterdir()) == []


def test_a_huge_eval_batch_is_cut_to_the_split(run4, data4, capsys):
    """--batch-size 1000000000 on 6 examples ran out of memory padding the batch; the batch never needs more rows than the split."""
    assert main(["eval", str(run4), str(data4), "--quiet", "--batch-size", "1000000000", "--out", str(data4.parent / "r.json")]) == 0
    assert "examples 6" in capsys.readouterr().out


def test_show_of_a_file_says_it_is_a_file(tmp_path, capsys):
    (tmp_path / "f.npy").write_bytes(b"x")
    assert main(["data", "show", str(tmp_path / "f.npy")]) == 2
    one_line_error(capsys, f"error: {tmp_path / 'f.npy'}: a file, not a dataset folder")


def test_a_task_whose_build_has_an_empty_split_writes_nothing(tmp_path, monkeypatch):
    from hrmkit.data.splits import assemble
    from hrmkit.tasks import get_task

    task = get_task("sudoku")
    real_build = type(task).build

    def no_test(self, cfg, *, workers, progress):
        data = real_build(self, cfg, workers=workers, progress=progress)
        data.splits["test"] = assemble([], cfg.size * cfg.size)
        return data

    monkeypatch.setattr(type(task), "build", no_test)
    with pytest.raises(HrmError, match="^the test split would have no examples; nothing was written"):
        B.build(B.make_config("sudoku-4x4", train=4, test=2), tmp_path / "ds", workers=1, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_library_build_configs_refuse_negative_seeds():
    for name in ("sudoku", "maze", "sudoku-4x4", "maze-hard-1k", "arc-tiny"):
        with pytest.raises(DatasetError, match="seed: Input should be greater than or equal to 0"):
            B.make_config(name, seed=-1)


def write_csv(folder: Path, split: str, rows: list[str], header: str = "source,question,answer,rating") -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{split}.csv"
    path.write_bytes((header + "\n" + "".join(r + "\n" for r in rows)).encode() if isinstance(rows, list) else rows)
    return path


def sudoku_rows(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        p, s, _r = S.generate(9, rng, "any")
        out.append(f"src{i},{S.to_string(p)},{S.to_string(s)},{i}")
    return out


@pytest.fixture(scope="module")
def rows() -> list[str]:
    return sudoku_rows(4)


def test_sudoku_csv_faults_name_the_file_and_line(rows, tmp_path, capsys):
    folder = tmp_path / "csv"
    write_csv(folder, "test", rows[:2])
    write_csv(tmp_path / "nine", "test", rows[:2])
    write_csv(tmp_path / "nine", "train", rows[2:])
    base = ["data", "build", "sudoku", "--csv-dir", str(folder), "--out", str(tmp_path / "ds"), "--quiet"]

    write_csv(folder, "train", [])
    assert main(base) == 2
    one_line_error(capsys, "error: train.csv has no rows")
    write_csv(folder, "train", rows[2:])
    assert main([*base, "--min-rating", "50"]) == 2
    one_line_error(capsys, "rated at least 50 (--min-rating)")
    write_csv(folder, "train", [*rows[2:3], rows[3].rsplit(",", 1)[0] + ",hard"])
    assert main(base) == 2
    one_line_error(capsys, f"{folder / 'train.csv'}:3: rating 'hard' is not a whole number")
    write_csv(folder, "train", [*rows[2:3], "src"])  # a short row: no question or answer cell
    assert main(base) == 2
    one_line_error(capsys, f"{folder / 'train.csv'}:3: expected 81 cells")
    (folder / "train.csv").write_bytes(("source,question,answer,rating\n" + rows[2] + "\n").encode() + "x,caf\u00e9".encode("latin-1") + b"\n")
    assert main(base) == 2
    one_line_error(capsys, f"{folder / 'train.csv'}: not UTF-8 text at line 3, column 6 (byte 0xe9)")
    write_csv(folder, "train", [])
    write_csv(folder, "test", [])
    assert main(base) == 2
    one_line_error(capsys, "error: test.csv has no rows")
    assert main(["data", "build", "sudoku-4x4", "--csv-dir", str(tmp_path / "nine"), "--out", str(tmp_path / "ds"), "--quiet"]) == 2
    one_line_error(capsys, f"{tmp_path / 'nine' / 'test.csv'}:2: a 9x9 Sudoku in a 4x4 build (give --size 9)")
    assert not (tmp_path / "ds").exists() and leftovers(tmp_path) == []


def test_maze_csv_faults_name_the_file(tmp_path, capsys):
    from hrmkit.puzzles import maze as M

    rng = np.random.default_rng(0)
    m = M.generate_tree(9, rng, 8, 0.0)
    q, a = M.format_maze(m.maze).replace("\n", ""), M.format_maze(m.solution).replace("\n", "")
    folder = tmp_path / "csv"
    write_csv(folder, "test", [f"x,{q},{a},0"])
    write_csv(folder, "train", [])
    base = ["data", "build", "maze", "--csv-dir", str(folder), "--out", str(tmp_path / "ds"), "--quiet"]
    assert main(base) == 2
    one_line_error(capsys, "error: train.csv has no rows")
    (folder / "train.csv").write_bytes(b"source,question,answer,rating\nx,\xff\xfe,1,0\n")
    assert main(base) == 2
    one_line_error(capsys, f"{folder / 'train.csv'}: not UTF-8 text at line 2, column 3 (byte 0xff)")
    assert not (tmp_path / "ds").exists()


def test_data_check_reports_an_empty_or_missing_split(data4, tmp_path, capsys):
    ds = load_dataset(data4)
    empty = type(ds["test"])(*(a[:0] if a.ndim == 2 else a[:1] if name.endswith("indices") else a[:0]
                               for name, a in zip(("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"),
                                                  (ds["test"].inputs, ds["test"].labels, ds["test"].puzzle_identifiers,
                                                   ds["test"].puzzle_indices, ds["test"].group_indices))))
    write_dataset(tmp_path / "no-test", ds.metadata, {"train": ds["train"], "test": empty})
    report = check_dataset(load_dataset(tmp_path / "no-test"))
    assert report.problems == ["test: no examples"]
    write_dataset(tmp_path / "train-only", ds.metadata, {"train": ds["train"]})
    assert check_dataset(load_dataset(tmp_path / "train-only")).problems == ["no test split"]
    assert main(["data", "check", str(tmp_path / "no-test")]) == 2
    one_line_error(capsys, "test: no examples")


def test_a_puzzle_file_that_is_not_utf8_is_named(run4, tmp_path, capsys):
    bad = tmp_path / "puzzle.txt"
    bad.write_bytes(b"12..\n34..\n\xe9...\n....\n")
    assert main(["solve", str(run4), str(bad)]) == 2
    one_line_error(capsys, f"error: {bad}: not UTF-8 text at line 3, column 1 (byte 0xe9)")
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbf12..34..........")  # a byte-order mark (Notepad) is not a fault
    assert read_text_file(bom) == "12..34.........."
    with pytest.raises(HrmError, match="not UTF-8 text at line 3, column 1"):
        read_text_file(bad)


def test_an_arc_task_file_that_is_not_utf8_is_named(tmp_path, capsys):
    from arc_fixtures import build_arc_dataset, toy_tasks
    from tiny_checkpoint import make_checkpoint, tiny_hrm

    data = build_arc_dataset(tmp_path / "arc", toy_tasks()[:2], num_aug=1, canvas=8)
    run = make_checkpoint(tmp_path / "run", data, tiny_hrm())
    bad = tmp_path / "task.json"
    bad.write_bytes(b'{"train": [], "test": [], "name": "caf\xe9"}')
    assert main(["solve", str(run), str(bad)]) == 2
    one_line_error(capsys, f"error: {bad}: not UTF-8 text at line 1, column 39 (byte 0xe9)")
    for flags, message in [(["--final-only"], "--final-only: not for a arc model"), (["--split", "train"], "--split: not for a arc model"),
                           (["--all", "--index", "1"], "--all answers every test input and --index picks one")]:
        assert main(["solve", str(run), "aa000001", *flags]) == 2
        one_line_error(capsys, message)


# --------------------------------------------------------------------------- options that do not apply


@pytest.mark.parametrize("flags, message", [
    (["--variants", "3"], "--variants: only for whole-task models (ARC); this is a sudoku model (its options: --dataset, --split,"),
    (["--all"], "--all: only for whole-task models (ARC)"),
    (["--index", "2"], "--index: pick an example of --dataset DIR; give it too"),
    (["--split", "train"], "--split: pick an example of --dataset DIR"),
    (["--dataset", "DATA"], "give a PUZZLE or --dataset DIR --index N, not both"),
])
def test_solve_refuses_options_that_do_not_apply_to_the_model(flags, message, run4, data4, capsys):
    flags = [str(data4) if f == "DATA" else f for f in flags]
    assert main(["solve", str(run4), "12..34..........", *flags]) == 2
    one_line_error(capsys, message)
    assert capsys.readouterr().out == ""


def test_data_build_refuses_another_task_s_settings(capsys):
    assert main(["data", "build", "maze", "--difficulty", "hard"]) == 2
    one_line_error(capsys, "difficulty (--difficulty) does not apply to maze; its settings:")
    assert main(["data", "build", "sudoku", "--walls", "0.3", "0.4"]) == 2
    one_line_error(capsys, "walls (--walls) does not apply to sudoku")


# --------------------------------------------------------------------------- the command line itself


def test_settings_and_overrides_are_taken_anywhere_on_the_line(tmp_path, run4, data4, capsys):
    out = tmp_path / "ds"
    assert main(["data", "build", "sudoku-4x4", "train=6", "--out", str(out), "test=3", "--quiet", "num_aug=0", "--workers", "1"]) == 0
    assert {k: v.total_examples for k, v in load_dataset(out).metadata.splits.items()} == {"train": 6, "test": 3}
    assert main(["train", "demo", "--max-steps", "2", "lr=abc"]) == 2  # read as an override, refused as one
    one_line_error(capsys, "lr: Input should be a valid number")
    assert main(["solve", str(run4), "--segments", "1", "12..34.........."]) == 0  # the puzzle after an option
    assert "segment 1" in capsys.readouterr().out
    assert main(["solve", str(run4), "--steps", "1", "12..34.........."]) == 0  # the old spelling of --segments
    assert "segment 1" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["data", "build", "sudoku-4x4", "--bogus"], "error: unrecognized arguments: --bogus (see hrm data build --help)"),
    (["train", "demo", "--max-steps", "2", "--max-step-typo", "3"], "error: unrecognized arguments: --max-step-typo 3 (see hrm train --help)"),
    (["eval", "run"], "error: the following arguments are required: dataset (see hrm eval --help)"),
    (["data", "build", "sudoku", "--train", "many"], "error: argument --train: invalid int value: 'many' (see hrm data build --help)"),
    (["data", "build", "sudoku", "--out"], "error: argument --out: expected one argument (see hrm data build --help)"),
    (["bogus"], "error: argument command: invalid choice: 'bogus'"),
    (["plot", "run", "extra"], "error: unrecognized arguments: extra (see hrm plot --help)"),
])
def test_argparse_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


# --------------------------------------------------------------------------- Ctrl-C during a parallel build


def children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker processes through /proc")
def ctrl_c_as_in_a_terminal() -> None:
    """A child's Ctrl-C as a terminal delivers it: when the suite runs as a background job of a non-interactive shell
    (SIGINT ignored, which children inherit), Python would not turn SIGINT into KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_a_parallel_build_exits_130_without_a_worker_traceback(tmp_path):
    """The terminal sends SIGINT to every process of the group, in no set order. The workers get theirs first here (a
    second before the parent), the order in which a worker that acts on it has the time to print its traceback."""
    out = tmp_path / "ds"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hrmkit.cli", "data", "build", "sudoku", "--train", "100000", "--test", "10",
                             "--workers", "2", "--out", str(out)], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=ctrl_c_as_in_a_terminal)
    err = b""

    def read_for(seconds: float) -> None:
        nonlocal err
        if select.select([proc.stderr], [], [], seconds)[0]:
            err += os.read(proc.stderr.fileno(), 65536)

    try:
        deadline = time.monotonic() + 120
        while not re.search(rb"\b[1-9]\d*/100010", err):  # the progress bar: workers have delivered puzzles, more are in hand
            assert time.monotonic() < deadline and proc.poll() is None, err.decode(errors="replace")
            read_for(1.0)
        workers = children(proc.pid)
        assert len(workers) >= 2, workers
        for pid in workers:
            os.kill(pid, signal.SIGINT)
        settle = time.monotonic() + 1.0
        while time.monotonic() < settle:
            read_for(settle - time.monotonic())
        os.killpg(proc.pid, signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = (err + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.rstrip().endswith("interrupted")
    assert not out.exists() and leftovers(tmp_path) == []


def test_ctrl_c_while_a_streamed_build_writes_leaves_no_temporary_folder(tmp_path):
    """ARC streams its rows into a temporary folder: Ctrl-C there removes it, and the exit says so."""
    out = tmp_path / "arc"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hrmkit.cli", "data", "build", "arc-1", "--num-aug", "20", "--workers", "2",
                             "--quiet", "--out", str(out)], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=ctrl_c_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".arc.tmp-*")):  # pass 2 has begun writing
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode(errors="replace")
            time.sleep(0.05)
        # One Ctrl-C, wherever it lands (also in the instant the parent forks its workers: see worker_pool).
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err = err.decode(errors="replace")
    assert proc.returncode == 130 and err == "interrupted\n", err
    assert list(tmp_path.iterdir()) == []


def test_worker_pool_workers_ignore_sigint():
    from hrmkit.data.splits import worker_pool

    # As a terminal starts it; a job started in the background of a non-interactive shell inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        pool = worker_pool(1)
    finally:
        restored = signal.signal(signal.SIGINT, previous)
    try:
        assert pool.apply(signal.getsignal, (signal.SIGINT,)) == signal.SIG_IGN
    finally:
        pool.terminate()
    assert restored is signal.default_int_handler  # the parent's own handler is back



def test_a_ctrl_c_in_the_instant_the_pool_forks_is_not_lost(monkeypatch):
    """A SIGINT while the workers fork is delivered to the parent right after, not dropped."""
    from hrmkit.data import splits

    real, made = splits.mp.get_context("fork"), []

    class PressedWhileForking:
        def Pool(self, *args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the workers are being forked
            made.append(real.Pool(*args, **kwargs))
            return made[-1]

    monkeypatch.setattr(splits.mp, "get_context", lambda method: PressedWhileForking())
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            splits.worker_pool(1)
            time.sleep(1)  # (not reached: the noted Ctrl-C is raised before the pool is handed over)
    finally:
        signal.signal(signal.SIGINT, previous)
        for pool in made:
            pool.terminate()
    assert len(made) == 1 and signal.getsignal(signal.SIGINT) is previous


def test_a_puzzle_longer_than_a_file_name_is_read_as_text(run4, capsys):
    # Path(text).is_file() raises ENAMETOOLONG on text of more than 255 characters (a 30x30 maze): a traceback before.
    assert main(["solve", str(run4), "1" * 300]) == 2
    one_line_error(capsys, "got 300")
