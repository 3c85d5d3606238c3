"""ARC datasets written by the reference builders (`hrm data import`): HRM's variant names in hrmkit's spelling, and the
original held-out tasks (``arc_tasks.json``) rebuilt from the test split's un-augmented puzzles, checked against every
variant, so that voting and pass@K work on the imported data."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np

from hrmkit.data.format import DatasetError, SplitArrays
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.layout import TASKS_FILE
from hrmkit.tasks.base import ReferenceAdoption

HRM_VARIANT = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-7])_(?P<perm>0[1-9]{9})$")


def hrmkit_names(names: list[str]) -> list[str]:
    """HRM's ARC variant names ``<task>_t<k>_<perm>`` in hrmkit's (and TRM's) spelling ``<task>|||t<k>|||<perm>``, which
    hrmkit's evaluator parses to undo the augmentation; other names (the blank, originals, TRM's) are kept."""
    return [n if grids.SEPARATOR in n or (m := HRM_VARIANT.match(n)) is None
            else grids.SEPARATOR.join([m["task"], f"t{m['tid']}", m["perm"]]) for n in names]


def decode_placed_grid(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    """The grid a reference row holds wherever it was translated to (its colour cells' bounding box, which must be
    all colour), or None when the row holds no grid (an unknown output)."""
    t = np.asarray(tokens).reshape(canvas, canvas).astype(np.int16)
    colour = (t >= grids.COLOUR0) & (t < grids.COLOUR0 + grids.NUM_COLOURS)
    if not colour.any():
        return None
    rows, cols = np.flatnonzero(colour.any(1)), np.flatnonzero(colour.any(0))
    box = colour[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    if not box.all():
        raise DatasetError("an ARC row's colour cells are not one rectangle")
    return (t[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] - grids.COLOUR0).astype(np.uint8)


def _puzzle_rows(split: SplitArrays, puzzle: int) -> range:
    return range(int(split.puzzle_indices[puzzle]), int(split.puzzle_indices[puzzle + 1]))


def _pairs(split: SplitArrays, puzzle: int, canvas: int) -> list[grids.ArcPair]:
    out = []
    for row in _puzzle_rows(split, puzzle):
        inp = decode_placed_grid(split.inputs[row], canvas)
        if inp is None:
            raise DatasetError(f"puzzle #{puzzle}: an example with an empty input")
        out.append(grids.ArcPair(inp, decode_placed_grid(split.labels[row], canvas)))
    return out


def _same(a: list[grids.ArcPair], b: list[grids.ArcPair]) -> bool:
    def key(g: np.ndarray | None) -> bytes:
        return b"" if g is None else grids.grid_key(g)
    return len(a) == len(b) and all(key(x.input) == key(y.input) and key(x.output) == key(y.output) for x, y in zip(a, b))


def held_out_tasks(splits: dict[str, SplitArrays], names: list[str], canvas: int) -> tuple[dict[str, grids.ArcTask], str]:
    """The original held-out tasks (test pairs from the test split's un-augmented puzzle, demonstrations from the train
    split's puzzle of the same identifier) and the protocol; a DatasetError when they cannot be rebuilt exactly, i.e.
    when a variant, inverse-augmented, does not give the original back."""
    train, test = splits["train"], splits["test"]
    train_puzzle = {int(i): p for p, i in enumerate(np.asarray(train.puzzle_identifiers))}
    tasks: dict[str, grids.ArcTask] = {}
    trained = []
    for g in range(test.num_groups):
        puzzles = range(int(test.group_indices[g]), int(test.group_indices[g + 1]))
        parsed = {p: grids.parse_name(names[int(test.puzzle_identifiers[p])]) for p in puzzles}
        originals = [p for p, (_, aug) in parsed.items() if aug.is_identity]
        task_ids = {tid for tid, _ in parsed.values()}
        if len(originals) != 1 or len(task_ids) != 1:
            raise DatasetError(f"test group #{g} does not hold one original puzzle of one task")
        (task_id,) = task_ids
        test_pairs = [grids.ArcPair(grids.crop(test.inputs[r], canvas), decode_placed_grid(test.labels[r], canvas))
                      for r in _puzzle_rows(test, originals[0])]
        ident = int(test.puzzle_identifiers[originals[0]])
        demos = _pairs(train, train_puzzle[ident], canvas) if ident in train_puzzle else []
        trained.append(ident in train_puzzle)
        if not demos:
            raise DatasetError(f"held-out task {task_id}: no demonstration pairs in the train split")
        for p, (_, aug) in parsed.items():
            variant = [grids.ArcPair(aug.invert(x.input), None if x.output is None else aug.invert(x.output)) for x in _pairs(test, p, canvas)]
            if not _same(variant, test_pairs):
                raise DatasetError(f"test variant {names[int(test.puzzle_identifiers[p])]!r} does not invert to its original")
        tasks[task_id] = grids.ArcTask(task_id, demos, test_pairs, "evaluation")
    return dict(sorted(tasks.items())), "paper" if all(trained) else "strict"


def adopt_reference(identifiers: list[str], splits: dict[str, SplitArrays], canvas: int, folder: str) -> ReferenceAdoption:
    """What an imported reference ARC dataset needs beside its rows (see the module docstring)."""
    names = hrmkit_names(identifiers)
    card: dict[str, Any] = {"names": "HRM's <task>_t<k>_<perm> variant names written as <task>|||t<k>|||<perm> (same ids, same variants)"}
    try:
        held_out, protocol = held_out_tasks(splits, names, canvas)
    except (DatasetError, KeyError) as e:
        card[TASKS_FILE] = f"not written ({e}); ARC scoring (hrm eval) needs it"
        return ReferenceAdoption(names, {}, card, [f"{TASKS_FILE}: {card[TASKS_FILE]}"])
    card[TASKS_FILE] = (f"rebuilt: {len(held_out)} held-out tasks from the test split's original puzzles, their "
                        "demonstrations from the train split; every test variant checked to invert to its original")
    card["protocol"] = protocol
    text = json.dumps({"protocol": protocol, "source": f"rebuilt from the reference dataset {folder}", "canvas": canvas,
                       "tasks": {tid: t.to_json() for tid, t in held_out.items()}})
    return ReferenceAdoption(names, {TASKS_FILE: text}, card, [f"{TASKS_FILE}: {card[TASKS_FILE]}"])
