"""The training sampler (one random variant per group per epoch, DDP slices) and evaluation batching (padding,
every example once across ranks), on synthetic splits whose token 0 of example i is i, so a batch names its examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hrmkit.data import build as B
from hrmkit.data.format import SplitArrays
from hrmkit.data.loader import TrainSampler, eval_batches
from hrmkit.evaluate import evaluate
from hrmkit.models import build_model
from hrmkit.models.losses import IGNORE_LABEL_ID
from tests.conftest import tiny_arch

SEQ = 4


def make_split(puzzles_per_group: list[int], examples_per_puzzle: list[int] | None = None) -> SplitArrays:
    """Example i has inputs [i, 1, 2, 3] and labels [0, 1, i % 5 + 1, 0] (0 = ignored); puzzle k has identifier k + 1."""
    num_puzzles = sum(puzzles_per_group)
    sizes = examples_per_puzzle or [1] * num_puzzles
    assert len(sizes) == num_puzzles
    n = sum(sizes)
    inputs = np.tile(np.arange(SEQ, dtype=np.int32), (n, 1))
    inputs[:, 0] = np.arange(n)
    labels = np.zeros((n, SEQ), dtype=np.int32)
    labels[:, 1] = 1
    labels[:, 2] = np.arange(n) % 5 + 1
    return SplitArrays(inputs=inputs, labels=labels, puzzle_identifiers=np.arange(1, num_puzzles + 1, dtype=np.int32),
                       puzzle_indices=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
                       group_indices=np.concatenate([[0], np.cumsum(puzzles_per_group)]).astype(np.int64))


def owners(split: SplitArrays, examples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(puzzle, group) of each example index."""
    puzzle = np.searchsorted(split.puzzle_indices, examples, side="right") - 1
    return puzzle, np.searchsorted(split.group_indices, puzzle, side="right") - 1


# --------------------------------------------------------------------------- training sampler


def test_every_epoch_visits_each_group_once_with_a_uniformly_drawn_variant():
    # 12 groups of 1-4 variants; batches of 5 do not divide an epoch, so batches straddle epoch boundaries.
    per_group = [g % 4 + 1 for g in range(12)]
    split = make_split(per_group)
    sampler = TrainSampler(split, global_batch_size=5, seed=3)
    epochs = 300
    batches = [sampler.next_batch() for _ in range(epochs * 12 // 5)]
    examples = np.concatenate([b["inputs"][:, 0] for b in batches])
    puzzle, group = owners(split, examples)
    # The batch carries the drawn variant's own identifier and its labels (ignore id 0 mapped to -100).
    assert np.array_equal(np.concatenate([b["puzzle_identifiers"] for b in batches]), split.puzzle_identifiers[puzzle])
    labels = np.concatenate([b["labels"] for b in batches])
    assert (labels[:, [0, 3]] == IGNORE_LABEL_ID).all() and np.array_equal(labels[:, 2], examples % 5 + 1)

    orders = group.reshape(epochs, 12)
    assert (np.sort(orders, axis=1) == np.arange(12)).all()  # each group exactly once per epoch
    assert len({tuple(o) for o in orders}) == epochs  # a fresh order every epoch
    for g, k in enumerate(per_group):
        counts = np.bincount(puzzle[group == g] - split.group_indices[g], minlength=k)
        # Binomial(300, 1/k) per variant; 5 standard deviations (and every variant drawn).
        sd = math.sqrt(epochs * (1 / k) * (1 - 1 / k))
        assert len(counts) == k and (np.abs(counts - epochs / k) <= 5 * sd).all(), (g, counts)
        assert (counts > 0).all()


def test_multi_example_puzzles_fill_the_batch_one_visit_at_a_time():
    """A visited group contributes one variant and that variant's examples (all of them when they fit,
    otherwise a subset without repeats that fills the batch), in the order the groups are drawn."""
    per_group = [2, 3, 1, 2, 2, 1, 3]
    sizes = [1 + (k * 7) % 4 for k in range(sum(per_group))]  # 1-4 examples per puzzle
    split = make_split(per_group, sizes)
    sampler = TrainSampler(split, global_batch_size=6, seed=0)
    visits: list[int] = []
    draw = sampler._next_groups

    def spy(count: int) -> np.ndarray:  # record the group stream the batches are built from
        out = draw(count)
        visits.extend(out.tolist())
        return out

    sampler._next_groups = spy  # type: ignore[method-assign]
    v = 0
    for _ in range(200):
        idx = sampler.next_global_indices()
        assert len(idx) == 6
        pos = 0
        while pos < 6:
            p, g = owners(split, idx[pos:pos + 1])
            assert g[0] == visits[v], "examples come from a group other than the one drawn"
            lo, hi = split.puzzle_indices[p[0]], split.puzzle_indices[p[0] + 1]
            take = min(hi - lo, 6 - pos)
            run = idx[pos:pos + take]
            assert ((run >= lo) & (run < hi)).all() and len(set(run.tolist())) == take
            v, pos = v + 1, pos + take
    assert v == len(visits)
    n_epochs = len(visits) // len(per_group)
    orders = np.asarray(visits[:n_epochs * len(per_group)]).reshape(n_epochs, -1)
    assert (np.sort(orders, axis=1) == np.arange(len(per_group))).all()


@pytest.mark.parametrize("world_size", [2, 4])
def test_ranks_take_disjoint_equal_slices_that_make_up_the_global_batch(world_size):
    split = make_split([3] * 16)
    single = TrainSampler(split, global_batch_size=8, seed=7)
    ranks = [TrainSampler(split, 8, seed=7, rank=r, world_size=world_size) for r in range(world_size)]
    for _ in range(10):  # several batches: the ranks' random streams stay in step
        whole = single.next_batch()
        parts = [s.next_batch() for s in ranks]
        assert all(len(p["inputs"]) == 8 // world_size for p in parts)
        for key in whole:
            assert np.array_equal(np.concatenate([p[key] for p in parts]), whole[key]), key
        seen = [set(p["inputs"][:, 0].tolist()) for p in parts]
        assert sum(len(s) for s in seen) == 8 and set().union(*seen) == set(whole["inputs"][:, 0].tolist())


# --------------------------------------------------------------------------- evaluation batches


@pytest.mark.parametrize("world_size, max_examples", [(1, None), (2, None), (4, None), (2, 7)])
def test_eval_batches_pad_the_last_batch_and_cover_every_example_once_across_ranks(world_size, max_examples):
    split = make_split([1] * 6, [2, 1, 3, 1, 2, 2])  # 11 examples; global batches of 4 leave 3 in the last
    total = max_examples or 11
    local = 4 // world_size
    per_rank = [list(eval_batches(split, 4, r, world_size, pad_id=9, max_examples=max_examples)) for r in range(world_size)]
    assert all(len(batches) == math.ceil(total / 4) for batches in per_rank)  # ranks stay in lockstep
    evaluated = []
    for batches in per_rank:
        for idx, batch in batches:
            assert len(idx) == local and all(len(v) == local for v in batch.values())
            pad, real = idx < 0, idx[idx >= 0]
            assert (batch["inputs"][pad] == 9).all() and (batch["labels"][pad] == IGNORE_LABEL_ID).all()
            assert (batch["puzzle_identifiers"][pad] == 0).all()  # the blank identifier
            assert np.array_equal(batch["inputs"][~pad], split.inputs[real])
            assert np.array_equal(batch["puzzle_identifiers"][~pad], split.puzzle_identifiers[owners(split, real)[0]])
            evaluated.extend(real.tolist())
    assert sorted(evaluated) == list(range(total))  # each example exactly once
    assert sum(int((idx < 0).sum()) for batches in per_rank for idx, _ in batches) == math.ceil(total / 4) * 4 - total


@pytest.fixture(scope="module")
def sudoku11(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "s4"
    return B.build(B.make_config("sudoku-4x4", train=16, test=11, num_aug=1), out, workers=1, progress=False)


@pytest.mark.usefixtures("single_thread")
def test_padded_rows_count_in_no_metric_and_ranks_add_up_to_one_process(sudoku11):
    meta, split = sudoku11.metadata, sudoku11["test"]
    assert split.num_examples == 11
    torch.manual_seed(0)
    model = build_model(tiny_arch(halt_max_steps=2, forward_dtype="float32"), meta.vocab_size, meta.seq_len,
                        meta.num_puzzle_identifiers)
    cpu = torch.device("cpu")
    whole = evaluate(model, split, meta, 11, cpu, keep_predictions=True)  # one batch, no padding
    padded = evaluate(model, split, meta, 4, cpu, keep_predictions=True)  # 4 + 4 + 3 real rows and 1 padded
    assert whole.metrics["count"] == padded.metrics["count"] == 11
    for k, v in whole.metrics.items():
        assert math.isclose(padded.metrics[k], v, rel_tol=1e-6, abs_tol=1e-9), k
    assert np.allclose(padded.exact_by_step, whole.exact_by_step) and np.array_equal(padded.predictions, whole.predictions)
    assert 0 < whole.metrics["accuracy"] < 1 and whole.metrics["lm_loss"] > 0  # metrics a padded row would shift

    # Two ranks (summed by hand here, as the all-reduce does under DDP): together each example once.
    per_rank = [evaluate(model, split, meta, 4, cpu, rank=r, world_size=2, keep_predictions=True) for r in range(2)]
    assert sum(r.metrics["count"] for r in per_rank) == 11
    for k in ("accuracy", "exact_accuracy", "steps"):
        total = sum(r.metrics[k] * r.metrics["count"] for r in per_rank)
        assert math.isclose(total / 11, whole.metrics[k], rel_tol=1e-6, abs_tol=1e-9), k
    order = np.concatenate([idx[idx >= 0] for r in range(2) for idx, _ in eval_batches(split, 4, r, 2)])
    predictions = np.concatenate([r.predictions for r in per_rank])
    assert np.array_equal(predictions[np.argsort(order)], whole.predictions)
