"""Batches for training and evaluation, rank-aware for DDP.

Training (as the reference): groups are visited in a fresh random order each epoch; each group
contributes one randomly chosen puzzle (augmented variant) and that puzzle's examples, until a
*global* batch is full. Every rank builds the same global batch from the shared seed and keeps its
slice ``[rank * local : (rank + 1) * local]``. The sampler state (epoch, cursor, RNG) is plain JSON,
so a run resumes exactly. Unlike the reference, a batch that runs past the end of an epoch is
completed from the next epoch instead of being dropped.

Evaluation: the split in order, in global batches; the last one padded (inputs ``pad_id``, labels
ignored, identifier 0), so padded rows count in no metric.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from hrmkit.data.format import SplitArrays
from hrmkit.errors import HrmError
from hrmkit.models.losses import IGNORE_LABEL_ID

Batch = dict[str, np.ndarray]


def example_labels(labels: np.ndarray, ignore_label_id: int | None) -> np.ndarray:
    """Labels as the model is scored on them: int32, the dataset's ignore id as IGNORE_LABEL_ID (-100)."""
    out = labels.astype(np.int32)
    if ignore_label_id is not None:
        out[labels == ignore_label_id] = IGNORE_LABEL_ID
    return out


class TrainSampler:
    def __init__(self, split: SplitArrays, global_batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 ignore_label_id: int | None = 0):
        if global_batch_size % world_size:
            raise HrmError(f"global_batch_size {global_batch_size} is not divisible by the {world_size} processes")
        if split.num_groups == 0:
            raise HrmError("the training split is empty")
        self.split = split
        self.global_batch_size = global_batch_size
        self.local_batch_size = global_batch_size // world_size
        self.rank = rank
        self.seed = seed
        self.ignore_label_id = ignore_label_id
        self.group_start = np.asarray(split.group_indices[:-1])
        self.group_size = np.diff(np.asarray(split.group_indices))
        self.puzzle_indices = np.asarray(split.puzzle_indices)
        self.one_example_per_puzzle = bool((np.diff(self.puzzle_indices) == 1).all())
        self.epoch, self.cursor = 0, 0
        self.rng = np.random.default_rng([seed, 1])
        self._order = self._epoch_order(0)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, 0, epoch]).permutation(self.split.num_groups)

    # ---- resumable state

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch, self.cursor = int(state["epoch"]), int(state["cursor"])
        self.rng.bit_generator.state = state["rng"]
        self._order = self._epoch_order(self.epoch)

    # ---- sampling

    def _next_groups(self, count: int) -> np.ndarray:
        taken = []
        while count > 0:
            if self.cursor == len(self._order):
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._epoch_order(self.epoch)
            n = min(count, len(self._order) - self.cursor)
            taken.append(self._order[self.cursor:self.cursor + n])
            self.cursor += n
            count -= n
        return np.concatenate(taken)

    def next_global_indices(self) -> np.ndarray:
        """Example indices of the next global batch."""
        B = self.global_batch_size
        if self.one_example_per_puzzle:
            groups = self._next_groups(B)
            puzzles = self.group_start[groups] + self.rng.integers(0, self.group_size[groups])
            return self.puzzle_indices[puzzles]
        out: list[int] = []
        while len(out) < B:
            g = int(self._next_groups(1)[0])
            p = self.group_start[g] + int(self.rng.integers(self.group_size[g]))
            examples = np.arange(self.puzzle_indices[p], self.puzzle_indices[p + 1])
            room = B - len(out)
            if len(examples) > room:
                examples = self.rng.choice(examples, room, replace=False)
            out.extend(int(e) for e in examples)
        return np.asarray(out, dtype=np.int64)

    def next_batch(self) -> Batch:
        # The global batch is sliced in draw order, so slot k gets a random group (as the reference);
        # sorting by index would tie slot k to groups near rank k of the order. Every rank slices the
        # same global batch, so a slot holds the same example whatever the number of processes.
        idx = self.next_global_indices()[self.rank * self.local_batch_size:(self.rank + 1) * self.local_batch_size]
        example_to_puzzle = np.searchsorted(self.puzzle_indices, idx, side="right") - 1
        return {
            "inputs": np.asarray(self.split.inputs[idx], dtype=np.int32),
            "labels": example_labels(np.asarray(self.split.labels[idx]), self.ignore_label_id),
            "puzzle_identifiers": np.asarray(self.split.puzzle_identifiers[example_to_puzzle], dtype=np.int32),
        }


def eval_batches(split: SplitArrays, global_batch_size: int, rank: int = 0, world_size: int = 1, pad_id: int = 0,
                 ignore_label_id: int | None = 0, max_examples: int | None = None) -> Iterator[tuple[np.ndarray, Batch]]:
    """(example indices, batch) over the split in order; indices are -1 on padded rows."""
    local = global_batch_size // world_size
    total = split.num_examples if max_examples is None else min(max_examples, split.num_examples)
    example_to_puzzle = np.searchsorted(np.asarray(split.puzzle_indices), np.arange(total), side="right") - 1
    for start in range(0, total, global_batch_size):
        lo = min(start + rank * local, total)
        hi = min(lo + local, total, start + global_batch_size)
        idx = np.arange(lo, hi)
        n_pad = local - len(idx)
        inputs = np.asarray(split.inputs[lo:hi], dtype=np.int32)
        labels = example_labels(np.asarray(split.labels[lo:hi]), ignore_label_id)
        ids = np.asarray(split.puzzle_identifiers[example_to_puzzle[lo:hi]], dtype=np.int32)
        if n_pad:
            seq_len = split.inputs.shape[1]
            inputs = np.concatenate([inputs, np.full((n_pad, seq_len), pad_id, dtype=np.int32)])
            labels = np.concatenate([labels, np.full((n_pad, seq_len), IGNORE_LABEL_ID, dtype=np.int32)])
            ids = np.concatenate([ids, np.zeros(n_pad, dtype=np.int32)])
            idx = np.concatenate([idx, np.full(n_pad, -1)])
        yield idx, {"inputs": inputs, "labels": labels, "puzzle_identifiers": ids}
