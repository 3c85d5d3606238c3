"""`hrm data import`: dataset folders written by the HRM and TRM reference builders (shared/interop, beside the
repository, or the folder in $HRMKIT_INTEROP) become hrmkit datasets whose rows, identifiers and held-out ARC tasks
are the reference's own."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from hrmkit.cli import main
from hrmkit.data.check import check_dataset
from hrmkit.data.format import ARRAY_NAMES, load_dataset
from hrmkit.data.show import describe
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.layout import read_held_out
from tests.test_input_faults import one_line_error

FIXTURES = ["sudoku-ref", "sudoku-ref-trm", "arc-ref"]
HRM_NAME = re.compile(r"^(.+)_t([0-7])_(\d{10})$")


@pytest.fixture(scope="module")
def interop() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "interop"
    for folder in (os.environ.get("HRMKIT_INTEROP"), default):
        if folder and (Path(folder) / "arc-ref").is_dir():
            return Path(folder)
    pytest.fail(f"reference-written data not found: expected {default} or a folder in $HRMKIT_INTEROP; "
                "it is what proves the import reads the reference's files, so the test fails rather than skips")


@pytest.mark.parametrize("name", FIXTURES)
def test_a_reference_folder_imports_row_for_row_and_passes_the_check(name, interop, tmp_path, capsys):
    src, out = interop / name, tmp_path / name
    assert main(["data", "import", str(src), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    ds = load_dataset(out)
    report = check_dataset(ds)
    assert report.ok, report.problems
    for split in ("train", "test"):
        for array_name in ARRAY_NAMES:
            want = np.load(src / split / f"all__{array_name}.npy")
            got = np.asarray(getattr(ds[split], array_name))
            assert got.shape == want.shape and (got.astype(np.int64) == want.astype(np.int64)).all(), (split, array_name)
        info = json.loads((src / split / "dataset.json").read_text())
        assert ds.metadata.splits[split].total_groups == info["total_groups"]
    meta = ds.metadata
    assert (meta.task, meta.seq_len, meta.vocab_size, meta.ignore_label_id) == (
        "arc" if name == "arc-ref" else "sudoku", info["seq_len"], info["vocab_size"], info["ignore_label_id"])
    source = meta.build["source"]
    assert source["kind"] == "imported" and source["folder"] == str(src.resolve())
    assert source["format"] == ("reference (TRM)" if name.endswith("trm") else "reference (HRM)")
    for rel in ("identifiers.json", "train/all__inputs.npy", "test/dataset.json"):
        assert len(source[rel]["sha256"]) == 64 and source[rel]["bytes"] == (src / rel).stat().st_size
    assert f"import from {src.resolve()}" in describe(ds)


def test_sudoku_tokens_are_hrmkits_sudoku_tokens(interop, tmp_path):
    assert main(["data", "import", str(interop / "sudoku-ref"), "--out", str(tmp_path / "s")]) == 0
    ds = load_dataset(tmp_path / "s")
    assert ds.metadata.tokens == ["<pad>", ".", *"123456789"] and ds.metadata.grid_shape == (9, 9)
    assert ds.identifiers == json.loads((interop / "sudoku-ref" / "identifiers.json").read_text())


def test_arc_keeps_every_identifier_and_rebuilds_the_held_out_tasks(interop, tmp_path):
    src, out = interop / "arc-ref", tmp_path / "arc"
    assert main(["data", "import", str(src), "--out", str(out)]) == 0
    ds = load_dataset(out)
    reference = json.loads((src / "identifiers.json").read_text())
    assert len(ds.identifiers) == len(reference) and ds.metadata.grid_shape == (30, 30) and ds.metadata.tokens == grids.VOCAB
    for ours, theirs in zip(ds.identifiers, reference):  # the same variant under the same id, in hrmkit's spelling
        m = HRM_NAME.match(theirs)
        task_id, aug = grids.parse_name(ours)
        if m is None:
            assert ours == theirs and aug.is_identity
        else:
            assert (task_id, aug.tid, "".join(map(str, aug.perm))) == (m[1], int(m[2]), m[3])
    held = read_held_out(out)
    assert held.protocol == "paper" and held.canvas == 30
    test, train = ds["test"], ds["train"]
    originals = [int(test.puzzle_identifiers[test.group_indices[g]]) for g in range(test.num_groups)]
    assert sorted(held.tasks) == sorted(reference[i] for i in originals)
    for ident in originals:
        task = held.tasks[reference[ident]]
        p = int(np.flatnonzero(np.asarray(test.puzzle_identifiers) == ident)[0])
        rows = range(test.puzzle_indices[p], test.puzzle_indices[p + 1])
        # the test pairs re-encode (untranslated, as the reference's test split) to the reference's own rows
        for pair, r in zip(task.test, rows, strict=True):
            assert (grids.encode_grid(pair.input) == test.inputs[r]).all() and (grids.encode_grid(pair.output) == test.labels[r]).all()
        q = int(np.flatnonzero(np.asarray(train.puzzle_identifiers) == ident)[0])
        assert len(task.train) == train.puzzle_indices[q + 1] - train.puzzle_indices[q] > 0
    card = ds.metadata.build
    assert card["arc_tasks.json"].startswith("rebuilt") and card["protocol"] == "paper"


def test_an_arc_variant_that_does_not_invert_to_its_original_leaves_arc_tasks_out(interop, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(interop / "arc-ref", src)
    names = json.loads((src / "identifiers.json").read_text())
    i = next(k for k, n in enumerate(names) if HRM_NAME.match(n))
    names[i] = re.sub(r"_t([0-7])_", lambda m: f"_t{(int(m[1]) + 1) % 8}_", names[i])  # a wrong transform for that variant
    (src / "identifiers.json").write_text(json.dumps(names))
    assert main(["data", "import", str(src), "--out", str(tmp_path / "arc")]) == 0
    assert not (tmp_path / "arc" / "arc_tasks.json").exists()
    assert load_dataset(tmp_path / "arc").metadata.build["arc_tasks.json"].startswith("not written")


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("fault, needles", [
    ("not a folder", ["not a reference dataset folder"]),
    ("no such folder", ["no such folder"]),
    ("missing array", ["missing test/all__labels.npy"]),
    ("groups disagree", ["total_groups 99"]),
    ("seq_len disagrees", ["seq_len 80"]),
    ("splits disagree", ["disagree on num_puzzle_identifiers"]),
    ("unknown shape", ["seq_len 16 with vocab 6", "--task"]),
    ("wrong task", ["--task maze"]),
])
def test_bad_reference_folders_are_refused_in_one_line(fault, needles, interop, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(interop / "sudoku-ref", src)
    extra: list[str] = []
    if fault == "not a folder":
        src = src / "identifiers.json"
    elif fault == "no such folder":
        src = tmp_path / "nothing"
    elif fault == "missing array":
        (src / "test" / "all__labels.npy").unlink()
    elif fault == "groups disagree":
        _edit_json(src / "train" / "dataset.json", total_groups=99)
    elif fault == "seq_len disagrees":
        _edit_json(src / "train" / "dataset.json", seq_len=80)
    elif fault == "splits disagree":
        _edit_json(src / "test" / "dataset.json", num_puzzle_identifiers=2)
    elif fault == "unknown shape":
        for split in ("train", "test"):
            for name in ("inputs", "labels"):
                np.save(src / split / f"all__{name}.npy", np.load(src / split / f"all__{name}.npy")[:, :16] % 6)
            _edit_json(src / split / "dataset.json", seq_len=16, vocab_size=6)
    elif fault == "wrong task":
        extra = ["--task", "maze"]
    out = tmp_path / "out"
    assert main(["data", "import", str(src), "--out", str(out), *extra]) == 2
    one_line_error(capsys, *needles)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_existing_output_is_replaced_only_with_force(interop, tmp_path, capsys):
    src, out = interop / "sudoku-ref", tmp_path / "out"
    assert main(["data", "import", str(src), "--out", str(out)]) == 0
    before = (out / "metadata.json").read_text()
    assert main(["data", "import", str(interop / "sudoku-ref-trm"), "--out", str(out)]) == 2
    one_line_error(capsys, "already exists", "--force")
    assert (out / "metadata.json").read_text() == before
    assert main(["data", "import", str(interop / "sudoku-ref-trm"), "--out", str(out), "--force"]) == 0
    assert load_dataset(out).metadata.build["source"]["format"] == "reference (TRM)"


def test_task_option_names_a_shape_the_reference_builders_do_not_use(interop, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(interop / "sudoku-ref", src)
    for split in ("train", "test"):  # a 4x4 Sudoku in the reference layout: vocab 6 = pad, blank, 1..4
        labels = np.tile(np.array([[2, 3, 4, 5, 4, 5, 2, 3, 3, 4, 5, 2, 5, 2, 3, 4]], np.uint8), (2, 1))
        inputs = labels.copy()
        inputs[:, 0 if split == "train" else 1] = 1  # one blank cell
        rows = {"inputs": inputs, "labels": labels}
        for name, a in rows.items():
            np.save(src / split / f"all__{name}.npy", a)
        np.save(src / split / "all__puzzle_identifiers.npy", np.zeros(2, np.int32))
        np.save(src / split / "all__puzzle_indices.npy", np.arange(3, dtype=np.int32))
        np.save(src / split / "all__group_indices.npy", np.array([0, 2], np.int32))
        _edit_json(src / split / "dataset.json", seq_len=16, vocab_size=6, total_groups=1)
    assert main(["data", "import", str(src), "--out", str(tmp_path / "s4"), "--task", "sudoku"]) == 0
    ds = load_dataset(tmp_path / "s4")
    assert ds.metadata.grid_shape == (4, 4) and ds.metadata.tokens == ["<pad>", ".", "1", "2", "3", "4"]
    assert "given as --task sudoku" in ds.metadata.build["task_rule"]
    assert check_dataset(ds).ok


@pytest.mark.parametrize("name", ["sudoku-ref", "sudoku-ref-trm"])
def test_reference_to_hrmkit_to_reference_keeps_every_row_and_setting(interop, name, tmp_path, capsys):
    import json

    assert main(["data", "import", str(interop / name), "--out", str(tmp_path / "ds")]) == 0
    assert main(["data", "export", str(tmp_path / "ds"), "--out", str(tmp_path / "back")]) == 0
    assert json.loads((tmp_path / "back" / "identifiers.json").read_text()) == json.loads((interop / name / "identifiers.json").read_text())
    for split in ("train", "test"):
        for array in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
            ours, theirs = (np.load(root / name_ / split / f"all__{array}.npy") for root, name_ in ((tmp_path, "back"), (interop, name)))
            assert np.array_equal(ours, theirs), (split, array)
        written = json.loads((tmp_path / "back" / split / "dataset.json").read_text())
        original = json.loads((interop / name / split / "dataset.json").read_text())
        assert {k: original[k] for k in written} == written  # TRM's extra total_puzzles aside, the same fields and values
    assert main(["data", "export", str(tmp_path / "ds"), "--out", str(tmp_path / "back")]) == 2  # never over a folder
    assert "exists; export into a new folder" in capsys.readouterr().err
