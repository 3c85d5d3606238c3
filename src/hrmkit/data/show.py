"""A dataset as text: what it is, how it was made (its data card), and examples beside their labels."""

from __future__ import annotations

import json

import numpy as np

from hrmkit.data.format import Dataset
from hrmkit.errors import HrmError
from hrmkit.tasks import get_task


def describe(ds: Dataset) -> str:
    meta = ds.metadata
    lines = [f"{ds.path}: task {meta.task}, grid {meta.grid_shape[0]}x{meta.grid_shape[1]}, seq_len {meta.seq_len}, "
             f"vocab {meta.vocab_size} {meta.tokens}, puzzle ids {meta.num_puzzle_identifiers}"]
    lines += [f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples"
              for name, info in meta.splits.items()]
    lines.append(f"  build: {json.dumps(meta.build)}")
    lines.append(f"  content hash: {meta.content_hash}")
    return "\n".join(lines)


def examples(ds: Dataset, split: str, n: int) -> str:
    if n < 0:
        raise HrmError(f"-n must be 0 or more, got {n}")
    task = get_task(ds.metadata.task)
    arrays = ds[split]
    out = []
    for i in range(min(n, arrays.num_examples)):
        left = task.format(np.asarray(arrays.inputs[i]), ds.metadata).splitlines()
        right = task.format(np.asarray(arrays.labels[i]), ds.metadata).splitlines()
        width = max(len(line) for line in left)
        out.append(f"\n{split} example {i}:".ljust(width + 4) + "label:")
        out += [f"{a.ljust(width)}   {b}" for a, b in zip(left, right)]
    return "\n".join(out)
