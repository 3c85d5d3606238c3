"""ARC evaluation as ARC Prize scores it: vote over the augmented variants, two attempts per test input.

Every prediction of the test split is a variant's answer to one test input of one held-out task. It is
cropped at its end markers (``grids.crop``), mapped back through the inverse of its variant's augmentation
(the variant's identifier name says which), and counted as a vote for that grid under (task, test input
index). Candidates rank by vote count, then by the mean of sigmoid(q_halt) over their votes (the model's
own confidence), then by their bytes (shape, then cells) so that the order never depends on arrival order
or on the number of processes. The top two are the two attempts of the submission.

Empty predictions vote, as in both references: a prediction with no colour at the top-left (EOS or PAD first)
crops to the 0x0 grid, whose inverse augmentation is itself, and it is a candidate like any other (the HRM
notebook and the TRM evaluator crop, inverse-augment and hash every prediction, and vote over the hashes, the
empty grid's included). An empty grid is never right (ARC grids are at least 1x1), but it can take a top-K
slot: a model whose variants mostly answer nothing scores what the references would score it, not better.
``ARC/empty_predictions`` counts them, for information; the submission writes an empty attempt as ``[]``
(the 0x0 grid's rows, as the TRM evaluator writes it).

Scores, for K in :data:`PASS_KS` (a test input is solved within K when its true output is among its
top-K candidates):

- ``ARC/pass@K``: each task scores (solved test inputs) / (test inputs); the mean over tasks. This is how
  ARC Prize scores a submission and how the TRM evaluator reports ``ARC/pass@2``.
- ``ARC/pass@K_all_inputs``: a task counts only when all its test inputs are solved, as the HRM
  notebook (``arc_eval.ipynb``) scored; at most the number above.

The ground truth is the original task (``DIR/arc_tasks.json``, see ``layout``), never an augmented label: a wrong
inverse transform would otherwise go unnoticed. Tasks whose test outputs are unknown (a hidden test
set) are left out of the scores and still get their attempts in the submission.

Memory: the store keeps one entry per *distinct* candidate grid per (task, test input): its bytes, a
vote count and a sum of sigmoid(q_halt), about 1.06 KB for a 30x30 candidate and 0.38 KB for a 15x15 one
(measured). A trained model's variants mostly agree, so the store is far smaller than the predictions; an
untrained model's all differ, the worst case: ARC-1's 419k predictions as 419k distinct 30x30 grids are
about 425 MB, against 377 MB for the bare uint8 prediction array (and 3 GB as int64) that a non-streaming
evaluation would keep, before any voting. Per puzzle the evaluator keeps 15 bytes (task, transform,
inverse colour map): 6 MB for ARC-1's 400k variants.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hrmkit.atomic import atomic_write_text
from hrmkit.data.format import DatasetMetadata, SplitArrays
from hrmkit.errors import HrmError
from hrmkit.puzzles.grid import DIHEDRAL_INVERSE
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.layout import protocol_meaning, read_held_out
from hrmkit.tasks.arc.voting import Votes, add_vote, crop_batch, key_to_grid, ranked, sigmoid
from hrmkit.tasks.base import StreamEvaluator

PASS_KS = (1, 2, 5, 10, 100, 1000)  # as the TRM evaluator
SUBMISSION_ATTEMPTS = 2  # ARC Prize allows two attempts per test input
NO_ANSWER = [[0]]  # the attempt written when a test input got no prediction at all (--max-examples): a valid grid


# --------------------------------------------------------------------------- mapping predictions back


# The 8 dihedral transforms of ``puzzles.grid.dihedral`` as views (no copy, no numpy call overhead): the evaluator
# inverts one per prediction, 419k times in an ARC-1 evaluation. Checked against ``dihedral`` in the tests.
DIHEDRAL_VIEWS = (
    lambda g: g,
    lambda g: g[:, ::-1].T,  # rotate 90 degrees counter-clockwise
    lambda g: g[::-1, ::-1],
    lambda g: g.T[:, ::-1],
    lambda g: g[:, ::-1],
    lambda g: g[::-1],
    lambda g: g.T,
    lambda g: g.T[::-1, ::-1],
)


def parse_names(names: list[str]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``grids.parse_name`` over many names at once: (task ids, dihedral ids [n] uint8, INVERSE colour maps [n, 10] uint8).
    ARC-1's test split has 400k variant names; one by one they took ~10 s per evaluation."""
    n = len(names)
    task_ids: list[str] = []
    tids = np.zeros(n, dtype=np.uint8)
    perms = bytearray(b"0123456789" * n)
    for i, name in enumerate(names):
        parts = name.split(grids.SEPARATOR)
        task_ids.append(parts[0])
        if len(parts) == 1:
            continue
        t = parts[1]
        if len(parts) != 3 or len(t) != 2 or t[0] != "t" or t[1] not in "01234567" or len(parts[2]) != grids.NUM_COLOURS:
            grids.parse_name(name)  # raises, naming the fault
            raise HrmError(f"{name!r} is not an ARC variant name")
        tids[i] = int(t[1])
        perms[10 * i:10 * i + 10] = parts[2].encode("ascii", "replace")
    perm = (np.frombuffer(bytes(perms), dtype=np.uint8).reshape(n, grids.NUM_COLOURS) - ord("0")).astype(np.int16)
    bad = (perm[:, 0] != 0) | (np.sort(perm, axis=1) != np.arange(grids.NUM_COLOURS)).any(axis=1)
    if bad.any():
        grids.parse_name(names[int(np.argmax(bad))])  # raises, naming the fault
    return task_ids, tids, np.argsort(perm, axis=1).astype(np.uint8)


# --------------------------------------------------------------------------- scoring


def score(truth: dict[str, list[bytes]], candidates: dict[str, list[list[bytes]]], ks: tuple[int, ...] = PASS_KS) -> dict[str, float]:
    """pass@K both ways from ranked candidate keys per (task, test input) and the true output keys per task
    (a task missing from ``candidates`` scores 0). Plain data in and out, so hand-scored cases test it."""
    out: dict[str, float] = {}
    n = max(len(truth), 1)
    for k in ks:
        partial = full = 0.0
        for task_id, outputs in truth.items():
            tops = candidates.get(task_id, [])
            solved = [i < len(tops) and right in tops[i][:k] for i, right in enumerate(outputs)]
            partial += sum(solved) / len(outputs)
            full += float(all(solved))
        out[f"ARC/pass@{k}"] = partial / n
        out[f"ARC/pass@{k}_all_inputs"] = full / n
    return out


# --------------------------------------------------------------------------- the evaluator


class ArcEvaluator(StreamEvaluator):
    """Votes over the test split's augmented variants; see the module docstring.

    A new evaluator (so an empty vote store) is made for every evaluation. The TRM reference keeps one store
    for the whole run (``aggregated_voting=True``), so its in-training ``ARC/pass@2`` pools the votes of every
    earlier checkpoint too: a quiet checkpoint ensemble that makes the numbers of step N depend on the
    evaluation schedule. Ours score the weights being evaluated, and nothing else.
    """

    def __init__(self, split: SplitArrays, meta: DatasetMetadata, identifiers: list[str], dataset_path: Path):
        if meta.grid_shape[0] != meta.grid_shape[1]:
            raise HrmError(f"an ARC dataset has a square canvas, this one is {meta.grid_shape[0]}x{meta.grid_shape[1]}")
        self.canvas = meta.grid_shape[0]
        self.held_out = read_held_out(dataset_path)
        self.build = dict(meta.build)
        self.task_ids = list(self.held_out.tasks)
        index = {tid: i for i, tid in enumerate(self.task_ids)}
        self.num_tests = np.array([len(self.held_out.tasks[t].test) for t in self.task_ids], dtype=np.int64)
        self.puzzle_starts = np.asarray(split.puzzle_indices, dtype=np.int64)
        # Per puzzle of the split: its task (-1 = blank: no vote), dihedral transform and inverse colour map, as
        # small arrays (ARC-1: 400k puzzles x 12 bytes) rather than 400k parsed objects.
        ids = np.asarray(split.puzzle_identifiers)
        unique, inverse = np.unique(ids, return_inverse=True)
        if len(unique) and (unique[0] < 0 or unique[-1] >= len(identifiers)):
            raise HrmError(f"puzzle identifiers outside the {len(identifiers)} names of identifiers.json")
        task_names, u_tid, u_inv = parse_names([identifiers[i] for i in unique.tolist()])
        u_task = np.full(len(unique), -1, dtype=np.int32)
        for j, (ident, task_id) in enumerate(zip(unique.tolist(), task_names)):
            if ident == meta.blank_identifier_id:
                continue
            if task_id not in index:
                raise HrmError(f"test puzzle {identifiers[ident]!r}: task {task_id} is not in {self.held_out.path}")
            u_task[j] = index[task_id]
        self.puzzle_task, self.puzzle_tid, self.puzzle_inv = u_task[inverse], u_tid[inverse], u_inv[inverse]
        # The vote store starts empty here, at every evaluation (see the class docstring).
        self.votes: dict[tuple[int, int], Votes] = {}
        self.rows_per_task = np.zeros(len(self.task_ids), dtype=np.int64)
        self.empty = 0  # predictions with no grid at the top-left (EOS or PAD first): votes for the empty grid
        self._metrics: dict[str, float] | None = None

    # ---- streaming

    def update(self, rows: np.ndarray, predictions: np.ndarray, q_halt_logits: np.ndarray) -> None:
        self._metrics = None
        rows = np.asarray(rows, dtype=np.int64)
        puzzles = np.searchsorted(self.puzzle_starts, rows, side="right") - 1
        tests = rows - self.puzzle_starts[puzzles]
        p_halt = sigmoid(q_halt_logits)
        tasks = self.puzzle_task[puzzles]
        for grid, puzzle, k, t, p in zip(crop_batch(predictions, self.canvas), puzzles, tests, tasks, p_halt):
            if t < 0:
                continue
            if k >= self.num_tests[t]:
                raise HrmError(f"example {k} of test puzzle {puzzle} is past task {self.task_ids[t]}'s {self.num_tests[t]} test inputs: "
                               "the dataset does not follow the ARC layout (one example per test input, in order)")
            self.rows_per_task[t] += 1
            self.empty += int(grid.size == 0)  # it still votes (0x0 maps back to 0x0): the references' rule
            original = DIHEDRAL_VIEWS[DIHEDRAL_INVERSE[self.puzzle_tid[puzzle]]](self.puzzle_inv[puzzle][grid])
            add_vote(self.votes.setdefault((int(t), int(k)), {}), grids.grid_key(original), float(p))

    def state(self) -> tuple[np.ndarray, int, dict[tuple[int, int], Votes]]:
        return self.rows_per_task, self.empty, self.votes

    def merge(self, states: list[Any]) -> None:
        self._metrics = None
        for rows, empty, votes in states:
            self.rows_per_task += rows
            self.empty += empty
            for where, theirs in votes.items():
                mine = self.votes.setdefault(where, {})
                for key, (count, total) in theirs.items():
                    entry = mine.setdefault(key, [0, 0.0])
                    entry[0] += count
                    entry[1] += total

    # ---- results

    def candidates(self, task: int, test: int) -> list[tuple[bytes, int, float]]:
        return ranked(self.votes.get((task, test), {}))

    def scored_tasks(self) -> list[int]:
        """Tasks with known outputs that received predictions (all of them, unless max_examples cut the split short)."""
        return [t for t, tid in enumerate(self.task_ids) if self.held_out.has_outputs(tid) and self.rows_per_task[t] > 0]

    def metrics(self) -> dict[str, float]:
        if self._metrics is None:
            self._metrics = self._compute_metrics()
        return dict(self._metrics)

    def _compute_metrics(self) -> dict[str, float]:
        scored = self.scored_tasks()
        truth = {self.task_ids[t]: [grids.grid_key(p.output) for p in self.held_out.tasks[self.task_ids[t]].test] for t in scored}
        tops = {self.task_ids[t]: [[key for key, _, _ in self.candidates(t, k)[: max(PASS_KS)]] for k in range(self.num_tests[t])]
                for t in scored}
        out = score(truth, tops)
        without_outputs = sum(not self.held_out.has_outputs(tid) for tid in self.task_ids)
        out.update({
            "ARC/tasks_scored": float(len(scored)),
            "ARC/tasks_without_outputs": float(without_outputs),  # left out of the scores
            "ARC/tasks_without_predictions": float(sum(  # with known outputs; only when max_examples cuts the split short
                self.held_out.has_outputs(tid) and self.rows_per_task[t] == 0 for t, tid in enumerate(self.task_ids))),
            "ARC/predictions": float(self.rows_per_task.sum()),
            "ARC/empty_predictions": float(self.empty),
            "ARC/distinct_candidates": float(sum(len(v) for v in self.votes.values())),
        })
        return out

    def submission(self) -> dict[str, list[dict[str, list[list[int]]]]]:
        """The ARC Prize submission: every held-out task, one entry per test input in order, two attempts each.
        With one candidate, attempt_2 repeats attempt_1 (as the TRM evaluator); an empty candidate is written as
        [] (its zero rows); a test input with no prediction at all gets [[0]] twice."""
        out = {}
        for t, tid in enumerate(self.task_ids):
            entries = []
            for k in range(self.num_tests[t]):
                grids = [key_to_grid(key).tolist() for key, _, _ in self.candidates(t, k)[:SUBMISSION_ATTEMPTS]] or [NO_ANSWER]
                grids += [grids[0]] * (SUBMISSION_ATTEMPTS - len(grids))
                entries.append({f"attempt_{i + 1}": g for i, g in enumerate(grids)})
            out[tid] = entries
        return out

    def protocol(self) -> str:
        built = self.build.get("protocol")
        if built is not None and built != self.held_out.protocol:
            return f"{self.held_out.protocol} (metadata.json says {built})"
        return self.held_out.protocol

    def report(self) -> dict[str, Any]:
        m = self.metrics()
        return {"arc": {
            "protocol": self.protocol(),
            "protocol_meaning": protocol_meaning(self.held_out.protocol),
            "source": self.held_out.source,
            "pass@K": {str(k): m[f"ARC/pass@{k}"] for k in PASS_KS},
            "pass@K_all_inputs": {str(k): m[f"ARC/pass@{k}_all_inputs"] for k in PASS_KS},
            "scoring": "pass@K: per task, solved test inputs / test inputs, averaged over tasks (ARC Prize, TRM); "
                       "pass@K_all_inputs: a task counts only when all its test inputs are solved (HRM notebook)",
            "voting": "count, then mean sigmoid(q_halt), then grid bytes; an empty prediction votes for the empty grid (as both "
                      "references); vote store empty at the start",
            "empty_predictions": int(m["ARC/empty_predictions"]),
            "tasks_scored": int(m["ARC/tasks_scored"]),
            "tasks_without_outputs": int(m["ARC/tasks_without_outputs"]),
            "tasks_without_predictions": int(m["ARC/tasks_without_predictions"]),
        }}

    def summary(self) -> list[str]:
        m = self.metrics()
        left_out = int(m["ARC/tasks_without_outputs"])
        missing = int(m["ARC/tasks_without_predictions"])
        lines = [
            f"ARC dataset built with {self.held_out.describe_protocol()}; source {self.held_out.source}",
            f"ARC: {int(m['ARC/tasks_scored'])} tasks scored"
            + (f", {left_out} left out (test outputs unknown)" if left_out else "")
            + (f", {missing} with no predictions (--max-examples) left out" if missing else "")
            + f"; {int(m['ARC/predictions'])} predictions voted ({int(m['ARC/empty_predictions'])} empty, voting for the empty grid), "
              f"{int(m['ARC/distinct_candidates'])} distinct candidates",
            f"ARC pass@1 {m['ARC/pass@1']:.4f}   pass@2 {m['ARC/pass@2']:.4f}   (per test input, as ARC Prize and TRM score)",
            f"ARC pass@1 {m['ARC/pass@1_all_inputs']:.4f}   pass@2 {m['ARC/pass@2_all_inputs']:.4f}   "
            "(all test inputs of a task solved, as the HRM notebook)",
        ]
        return lines

    def write_outputs(self, report_path: Path) -> dict[str, str]:
        path = Path(report_path).parent / "submission.json"
        atomic_write_text(path, json.dumps(self.submission()))
        return {"submission_path": str(path)}
