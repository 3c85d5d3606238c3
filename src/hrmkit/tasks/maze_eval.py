"""`hrm eval` for mazes: exact-label accuracy (the papers' metric) beside "a valid shortest path" accuracy.

A maze often has many shortest paths and its label is one of them (the rule's, or the official file's), so
a prediction can be a right answer that differs from the label; the second accuracy counts those too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hrmkit.data.codec import grid_decode
from hrmkit.data.format import SplitArrays
from hrmkit.puzzles import maze as maze_lib
from hrmkit.tasks.base import StreamEvaluator

EXACT_LABEL_ACCURACY = "maze/exact_label_accuracy"
SHORTEST_PATH_ACCURACY = "maze/shortest_path_accuracy"


def decode(tokens: np.ndarray, side: int) -> np.ndarray | None:
    """Tokens 1..5 (``"# SGo"``) -> a grid; None when any cell holds another token (padding is no maze cell)."""
    t = np.asarray(tokens)[: side * side].astype(np.int16)
    if t.size != side * side or t.min() < 1 or t.max() > len(maze_lib.CHARSET):
        return None
    return grid_decode(t, (side, side), maze_lib.WALL, maze_lib.PATH)


def is_shortest_path(puzzle: np.ndarray, answer: np.ndarray, side: int) -> bool:
    """The answer tokens are the puzzle's maze with a shortest S->G path drawn, walls and givens untouched
    (``path_errors``); any shortest path counts."""
    maze, predicted = decode(puzzle, side), decode(answer, side)
    if maze is None or predicted is None:
        return False
    try:
        return not maze_lib.path_errors(maze, predicted)
    except maze_lib.MazeError:  # no single S or G in the maze: nothing counts as its solution
        return False


class MazeEvaluator(StreamEvaluator):
    """Counts, over the predictions fed, those equal to the label and those that are a shortest path.

    Keeps three counts only; under DDP each process counts its own rows and rank 0 adds the others' counts."""

    def __init__(self, split: SplitArrays, side: int):
        self.inputs, self.labels, self.side = split.inputs, split.labels, side
        self.count = self.exact = self.shortest = 0

    def update(self, rows: np.ndarray, predictions: np.ndarray, q_halt_logits: np.ndarray) -> None:
        cells = self.side * self.side
        for row, tokens in zip(np.asarray(rows, dtype=np.int64), predictions):
            label = np.asarray(self.labels[row])[:cells]
            self.count += 1
            self.exact += bool(np.array_equal(np.asarray(tokens)[:cells].astype(np.int64), label.astype(np.int64)))
            self.shortest += is_shortest_path(self.inputs[row], tokens, self.side)

    def state(self) -> tuple[int, int, int]:
        return self.count, self.exact, self.shortest

    def merge(self, states: list[Any]) -> None:
        for count, exact, shortest in states:
            self.count += count
            self.exact += exact
            self.shortest += shortest

    def metrics(self) -> dict[str, float]:
        n = max(self.count, 1)
        return {EXACT_LABEL_ACCURACY: self.exact / n, SHORTEST_PATH_ACCURACY: self.shortest / n}

    def summary(self) -> list[str]:
        m = self.metrics()
        return [f"maze: exact-label accuracy {m[EXACT_LABEL_ACCURACY]:.4f} ({self.exact} of {self.count}), "
                f"valid shortest path accuracy {m[SHORTEST_PATH_ACCURACY]:.4f} ({self.shortest} of {self.count}; "
                "any shortest S-G path counts)"]
