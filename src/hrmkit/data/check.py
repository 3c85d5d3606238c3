"""Re-validate a whole dataset: every label solves its input, and no test input appears in train."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hrmkit.data import codec
from hrmkit.data.format import Dataset
from hrmkit.puzzles import maze as maze_lib
from hrmkit.puzzles import sudoku as sudoku_lib


@dataclass
class CheckReport:
    examples: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sudoku_label_faults(inputs: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Vectorised: for each example, True when the label is not a solution of the input."""
    shape = sudoku_lib.shape_for_size(n)
    box_rows, box_cols = shape.box_rows, shape.box_cols
    puzzles = codec.sudoku_decode(inputs, n).astype(np.int16)
    sols = codec.sudoku_decode(labels, n).astype(np.int16)
    bad = (sols == 0).any(axis=(1, 2))
    givens = puzzles != 0
    bad |= ((puzzles != sols) & givens).any(axis=(1, 2))
    expected = np.arange(1, n + 1)
    rows_ok = (np.sort(sols, axis=2) == expected).all(axis=(1, 2))
    cols_ok = (np.sort(sols, axis=1) == expected[:, None]).all(axis=(1, 2))
    boxes = sols.reshape(-1, n // box_rows, box_rows, n // box_cols, box_cols).transpose(0, 1, 3, 2, 4).reshape(-1, n, n)
    boxes_ok = (np.sort(boxes, axis=2) == expected).all(axis=(1, 2))
    return bad | ~rows_ok | ~cols_ok | ~boxes_ok


def check_dataset(ds: Dataset, chunk: int = 65536) -> CheckReport:
    meta = ds.metadata
    report = CheckReport()
    for name, arrays in ds.splits.items():
        report.examples[name] = arrays.num_examples
        bad_rows: list[int] = []
        for start in range(0, arrays.num_examples, chunk):
            inp = np.asarray(arrays.inputs[start:start + chunk])
            lab = np.asarray(arrays.labels[start:start + chunk])
            if meta.task == "sudoku":
                faults = sudoku_label_faults(inp, lab, meta.grid_shape[0])
                bad_rows += [start + int(i) for i in np.flatnonzero(faults)]
            elif meta.task == "maze":
                side = meta.grid_shape[0]
                for i in range(len(inp)):
                    if maze_lib.path_errors(codec.maze_decode(inp[i], side), codec.maze_decode(lab[i], side)):
                        bad_rows.append(start + i)
        if bad_rows:
            report.problems.append(f"{name}: {len(bad_rows)} examples whose label does not solve the input (first: #{bad_rows[0]})")
    if "train" in ds.splits and "test" in ds.splits:
        train_keys = {row.tobytes() for row in np.asarray(ds["train"].inputs)}
        leaks = sum(row.tobytes() in train_keys for row in np.asarray(ds["test"].inputs))
        if leaks:
            report.problems.append(f"{leaks} test inputs also appear in train")
    return report
