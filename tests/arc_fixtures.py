"""Tiny ARC datasets for tests, laid out as the ARC dataset contract says (the real builder lives in
hrmkit.tasks.arc.build; these are hand-made tasks with known answers, written in the same layout, so that the
evaluation side is tested on cases scored by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hrmkit.data.format import DatasetMetadata, SplitArrays, write_dataset
from hrmkit.tasks import get_task
from hrmkit.tasks.arc import grids as arc


def grid(rows: list[str]) -> np.ndarray:
    """["012", "340"] -> a uint8 grid."""
    return np.array([[int(c) for c in r] for r in rows], dtype=np.uint8)


def toy_tasks() -> list[arc.ArcTask]:
    """Four small tasks: one with two test inputs, one whose test output is unknown."""
    P = arc.ArcPair
    flip = arc.ArcTask("aa000001", [P(grid(["12", "30"]), grid(["21", "03"])), P(grid(["456"]), grid(["654"]))],
                       [P(grid(["78", "90"]), grid(["87", "09"]))])
    colour = arc.ArcTask("bb000002", [P(grid(["1"]), grid(["2"])), P(grid(["11", "01"]), grid(["22", "02"]))],
                         [P(grid(["101"]), grid(["202"])), P(grid(["1", "1", "0"]), grid(["2", "2", "0"]))])
    grow = arc.ArcTask("cc000003", [P(grid(["3"]), grid(["33", "33"]))], [P(grid(["5"]), grid(["55", "55"]))])
    hidden = arc.ArcTask("dd000004", [P(grid(["12"]), grid(["12"]))], [P(grid(["34"]), None)])
    return [flip, colour, grow, hidden]


def build_arc_dataset(out: Path, tasks: list[arc.ArcTask], *, held_out: set[str] | None = None, num_aug: int = 3,
                      protocol: str = "paper", canvas: int = arc.CANVAS, seed: int = 0) -> Path:
    """An ARC dataset of ``tasks``: ``held_out`` (default all) are the evaluation tasks whose test pairs form the
    test split; ``num_aug`` augmented variants per task besides the original."""
    rng = np.random.default_rng(seed)
    held = {t.id for t in tasks} if held_out is None else set(held_out)
    identifiers = ["<blank>"]
    variants: dict[str, list[tuple[int, arc.ArcTask]]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        variants[task.id] = []
        for aug in arc.variants(task, num_aug, rng):
            identifiers.append(aug.name(task.id))
            variants[task.id].append((len(identifiers) - 1, arc.augment_task(task, aug)))

    def split(groups: list[list[tuple[int, list[tuple[np.ndarray, np.ndarray]]]]]) -> SplitArrays:
        inputs, labels, ids, puzzle_idx, group_idx = [], [], [], [0], [0]
        for group in groups:
            for ident, examples in group:
                for i, lab in examples:
                    inputs.append(i)
                    labels.append(lab)
                ids.append(ident)
                puzzle_idx.append(len(inputs))
            group_idx.append(len(ids))
        empty = np.zeros((0, canvas * canvas), np.uint8)
        return SplitArrays(np.array(inputs, np.uint8) if inputs else empty, np.array(labels, np.uint8) if labels else empty,
                           np.array(ids, np.int32), np.array(puzzle_idx, np.int64), np.array(group_idx, np.int64))

    train_groups, test_groups = [], []
    for task in sorted(tasks, key=lambda t: t.id):
        if protocol == "strict" and task.id in held:
            pass  # an evaluation task contributes nothing to training
        else:
            group = []
            for ident, v in variants[task.id]:
                pairs = v.train + ([] if task.id in held else v.test)
                still = int(rng.integers(len(pairs)))  # one example per puzzle stays untranslated
                group.append((ident, [arc.encode_pair(p, None if j == still else rng, canvas) for j, p in enumerate(pairs)]))
            train_groups.append(group)
        if task.id in held:
            test_groups.append([(ident, [arc.encode_pair(p, None, canvas) for p in v.test]) for ident, v in variants[task.id]])
    splits = {"train": split(train_groups), "test": split(test_groups)}
    meta = DatasetMetadata(format_version=1, task="arc", seq_len=canvas * canvas, vocab_size=len(arc.VOCAB), pad_id=0, ignore_label_id=0,
                           num_puzzle_identifiers=len(identifiers), grid_shape=(canvas, canvas), tokens=list(arc.VOCAB), splits={},
                           build={"protocol": protocol, "source": "tests/arc_fixtures.py", "canvas": canvas, "num_aug": num_aug,
                                  "tasks": len(tasks), "held_out": len(held)})
    write_dataset(out, meta, splits, identifiers)
    held_tasks = {t.id: t.to_json() for t in tasks if t.id in held}
    (out / "arc_tasks.json").write_text(json.dumps({"protocol": protocol, "source": "tests/arc_fixtures.py", "canvas": canvas,
                                                    "tasks": held_tasks}))
    return out


ARC_TASK = get_task("arc")
