import json

import numpy as np
import pytest

from hrmkit.cli import main
from hrmkit.data import build as B
from hrmkit.data.check import check_dataset
from hrmkit.data.codec import grid_encode
from hrmkit.data.format import DatasetError, load_dataset
from hrmkit.puzzles import sudoku as S
from hrmkit.tasks.sudoku import decode as sudoku_decode
from hrmkit.tasks.sudoku import label_faults as sudoku_label_faults


@pytest.fixture(scope="module")
def sudoku_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "s4"
    return B.build(B.make_config("sudoku-4x4", train=60, test=20, num_aug=3), out, workers=1, progress=False)


def test_write_read_round_trip(sudoku_ds):
    ds = load_dataset(sudoku_ds.path)
    meta = ds.metadata
    assert (meta.seq_len, meta.vocab_size, meta.grid_shape, meta.task) == (16, 6, (4, 4), "sudoku")
    train = ds["train"]
    assert train.num_groups == 60 and train.num_puzzles == 240 and train.num_examples == 240
    assert meta.splits["train"].mean_puzzle_examples == 1.0
    assert ds["test"].num_groups == 20
    for name in ("train", "test"):
        for field in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
            assert np.array_equal(getattr(ds[name], field), getattr(sudoku_ds[name], field))
    assert ds.identifiers == ["<blank>"]
    assert check_dataset(ds).ok


def test_groups_hold_the_original_and_its_augmentations(sudoku_ds):
    train = sudoku_ds["train"]
    g = train.group_indices
    for group in range(5):
        first = sudoku_decode(train.inputs[g[group]], 4)
        for p in range(g[group], g[group + 1]):
            puzzle = sudoku_decode(train.inputs[p], 4)
            assert (puzzle != 0).sum() == (first != 0).sum()
            assert S.is_solution_of(sudoku_decode(train.labels[p], 4), puzzle)


def test_build_is_deterministic_whatever_the_workers(tmp_path):
    cfg = B.make_config("sudoku", size=6, train=20, test=10, difficulty="any", num_aug=2, seed=5)
    a = B.build(cfg, tmp_path / "a", workers=1, progress=False)
    b = B.build(cfg, tmp_path / "b", workers=2, progress=False)
    assert a.metadata.content_hash == b.metadata.content_hash
    c = B.build(cfg.model_copy(update={"seed": 6}), tmp_path / "c", workers=1, progress=False)
    assert c.metadata.content_hash != a.metadata.content_hash


def test_existing_output_is_not_replaced_without_force(sudoku_ds):
    with pytest.raises(DatasetError, match="already exists"):
        B.build(B.make_config("sudoku-4x4", train=5, test=5), sudoku_ds.path, workers=1, progress=False)


def _copy(ds, tmp_path):
    import shutil
    dst = tmp_path / "copy"
    shutil.copytree(ds.path, dst)
    return dst


def test_corrupted_metadata_is_named(sudoku_ds, tmp_path):
    path = _copy(sudoku_ds, tmp_path)
    meta = json.loads((path / "metadata.json").read_text())
    meta["seq_len"] = "eighty"
    (path / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="invalid metadata: seq_len"):
        load_dataset(path)
    (path / "metadata.json").write_text("{not json")
    with pytest.raises(DatasetError, match="invalid metadata"):
        load_dataset(path)
    (path / "metadata.json").unlink()
    with pytest.raises(DatasetError, match="no metadata.json"):
        load_dataset(path)


def test_corrupted_arrays_are_named(sudoku_ds, tmp_path):
    path = _copy(sudoku_ds, tmp_path)
    labels = np.load(path / "train" / "labels.npy")
    labels[0, 0] = 1 if labels[0, 0] != 1 else 2
    np.save(path / "train" / "labels.npy", labels)
    with pytest.raises(DatasetError, match="content hash mismatch"):
        load_dataset(path)
    np.save(path / "train" / "labels.npy", labels[:, :10])
    with pytest.raises(DatasetError, match=r"labels has shape \(240, 10\), expected \[N, 16\]"):
        load_dataset(path)
    (path / "train" / "labels.npy").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="unreadable array"):
        load_dataset(path)
    (path / "train" / "labels.npy").unlink()
    with pytest.raises(DatasetError, match="missing array train/labels.npy"):
        load_dataset(path)


def test_check_finds_wrong_labels_and_leaks(sudoku_ds, tmp_path):
    from hrmkit.data.format import write_dataset

    train, test = sudoku_ds["train"], sudoku_ds["test"]
    bad_train = type(train)(**{k: np.array(getattr(train, k)) for k in train.__dataclass_fields__})
    bad_train.labels[3] = bad_train.labels[4] if not np.array_equal(bad_train.inputs[3], bad_train.inputs[4]) else 1
    bad_train.inputs[7] = test.inputs[0]
    bad_train.labels[7] = test.labels[0]
    ds = write_dataset(tmp_path / "bad", sudoku_ds.metadata, {"train": bad_train, "test": test})
    report = check_dataset(ds)
    assert not report.ok
    assert any("does not solve" in p for p in report.problems)
    assert any("1 test inputs also appear in train" in p for p in report.problems)


def test_vectorised_sudoku_check_agrees_with_the_solver():
    rng = np.random.default_rng(0)
    puzzles, sols = [], []
    for _ in range(10):
        p, s, _ = S.generate(9, rng, "any")
        puzzles.append(grid_encode(p))
        sols.append(grid_encode(s))
    inputs, labels = np.array(puzzles), np.array(sols)
    assert not sudoku_label_faults(inputs, labels, 9).any()
    labels[2, [0, 1]] = labels[2, [1, 0]]  # swap two cells: rows stay full, columns break
    assert list(np.flatnonzero(sudoku_label_faults(inputs, labels, 9))) == [2]


def test_maze_build_and_check(tmp_path):
    ds = B.build(B.make_config("maze-9x9", train=10, test=5), tmp_path / "m", workers=1, progress=False)
    assert ds.metadata.seq_len == 81 and ds.metadata.vocab_size == 6
    assert ds["train"].num_puzzles == 80  # 8 dihedral variants each
    assert check_dataset(load_dataset(ds.path)).ok
    from hrmkit.data.show import describe

    card = describe(ds)
    assert "made by: hrmkit's generator: random spanning trees" in card and "style=tree" in card
    assert "train path_length: n=10 median" in card and "test path_length: n=5 median" in card


def test_sudoku_csv_import(tmp_path):
    rng = np.random.default_rng(0)
    rows = {"train": [], "test": []}
    for split in rows:
        for i in range(6):
            p, s, r = S.generate(9, rng, "any")
            rows[split].append(f"src{i},{S.to_string(p)},{S.to_string(s)},{r.backtracks}")
    for split, lines in rows.items():
        (tmp_path / f"{split}.csv").write_text("source,question,answer,rating\n" + "\n".join(lines) + "\n")
    ds = B.build(B.make_config("sudoku", csv_dir=str(tmp_path), train=4, test=0, num_aug=2), tmp_path / "out",
                 workers=1, progress=False)
    assert ds["train"].num_groups == 4 and ds["train"].num_puzzles == 12
    assert ds["test"].num_groups == 6  # test=0 means keep the whole test file
    assert check_dataset(ds).ok
    # The data card names the files it was made from, with their hashes, and the difficulty distribution.
    import hashlib

    from hrmkit.data.show import describe

    card = describe(ds)
    assert f"import from {tmp_path.resolve()}" in card
    assert hashlib.sha256((tmp_path / "train.csv").read_bytes()).hexdigest()[:16] in card
    assert "test as_written: n=6 median" in card and "rating column of the CSV file" in card
    assert f"content hash: {ds.metadata.content_hash}" in card
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train.csv").write_text("source,question,answer,rating\nx," + "1" * 80 + "," + "1" * 81 + ",0\n")
    (broken / "test.csv").write_text("source,question,answer,rating\n" + rows["test"][0] + "\n")
    with pytest.raises(DatasetError, match=r"train.csv:2: expected 81 cells \(or 16 or 36\), got 80"):
        B.build(B.make_config("sudoku", csv_dir=str(broken)), tmp_path / "o2", workers=1, progress=False)


def test_official_csv_route_uses_the_papers_settings(tmp_path):
    """`hrm data build sudoku --csv-dir DIR` reproduces the paper's data: the sudoku-extreme-1k settings
    (1000 training puzzles x 1000 augmentations) and the whole test file, unless told otherwise."""
    cfg = B.make_config("sudoku", csv_dir=str(tmp_path))
    assert (cfg.train, cfg.num_aug, cfg.test) == (1000, 1000, 0)
    assert B.make_config("sudoku-extreme-1k", csv_dir=str(tmp_path)).test == 0
    cfg = B.make_config("sudoku", csv_dir=str(tmp_path), test=50, num_aug=0)
    assert (cfg.num_aug, cfg.test) == (0, 50)
    generated = B.make_config("sudoku")  # generating is unchanged
    assert (generated.num_aug, generated.test, generated.difficulty) == (0, 1000, "hard")


def test_generated_data_card(sudoku_ds):
    from hrmkit.data.show import describe

    card = describe(sudoku_ds)
    assert "made by: hrmkit's generator: random full grids" in card and "seed=0" in card
    assert "train as_written: n=" in card and "by hrmkit" in card


def test_sudoku_levels_a_small_grid_cannot_meet_are_refused(tmp_path, capsys):
    assert main(["data", "build", "sudoku", "--size", "4", "--difficulty", "extreme", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "extreme needs --size 9" in err and "choose --difficulty any, easy or medium" in err
    assert not (tmp_path / "x").exists()


def test_cli_data_commands(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["data", "build", "sudoku-4x4", "--train", "8", "--test", "4", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert main(["data", "show", str(out), "-n", "1"]) == 0
    shown = capsys.readouterr().out
    assert "test example 0" in shown and "seq_len 16" in shown
    assert main(["data", "check", str(out)]) == 0
    assert "ok" in capsys.readouterr().out
    assert main(["data", "build", "maze", "--difficulty", "hard", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == ("error: difficulty (--difficulty) does not apply to maze; "
                                               "its settings: train, test, seed, size, min_path, style, walls, loops, unique_path, aug, csv_dir")
    assert main(["data", "build", "chess", "--out", str(tmp_path / "x")]) == 2
    assert "unknown dataset 'chess'" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "x").exists()
