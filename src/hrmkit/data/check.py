"""Re-validate a whole dataset: every label obeys the task's rules for its input, and no test input
appears in train (anywhere, or under the same puzzle identifier: the task's ``leak_scope``). A dataset of
a task that is not registered, or whose train or test split is missing or empty, is an error, not a pass.
Both passes read the splits in chunks, keeping only 16-byte digests of the test inputs, so a
multi-gigabyte split is checked in little memory."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from hrmkit.data.format import Dataset, SplitArrays
from hrmkit.tasks import get_task

REQUIRED_SPLITS = ("train", "test")  # what `hrm train` and `hrm eval` read


@dataclass
class CheckReport:
    examples: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _input_keys(arrays: SplitArrays, start: int, stop: int, by_puzzle: bool) -> list[bytes]:
    """Digests of the inputs of examples start..stop (with their puzzle identifier when ``by_puzzle``)."""
    inputs = np.ascontiguousarray(arrays.inputs[start:stop])
    if not by_puzzle:
        return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in inputs]
    puzzles = np.searchsorted(np.asarray(arrays.puzzle_indices), np.arange(start, stop), side="right") - 1
    ids = np.asarray(arrays.puzzle_identifiers)[puzzles]
    return [hashlib.blake2b(int(i).to_bytes(8, "little", signed=True) + row.tobytes(), digest_size=16).digest()
            for i, row in zip(ids, inputs)]


def check_dataset(ds: Dataset, chunk: int = 65536) -> CheckReport:
    meta = ds.metadata
    task = get_task(meta.task)
    report = CheckReport()
    report.problems += [f"no {name} split" for name in REQUIRED_SPLITS if name not in ds.splits]
    for name, arrays in ds.splits.items():
        report.examples[name] = arrays.num_examples
        if arrays.num_examples == 0:  # trains or tests nothing: a build from a header-only CSV, or an edited dataset
            report.problems.append(f"{name}: no examples")
        bad_rows: list[int] = []
        for start in range(0, arrays.num_examples, chunk):
            faults = task.label_faults(np.asarray(arrays.inputs[start:start + chunk]), np.asarray(arrays.labels[start:start + chunk]), meta)
            bad_rows += [start + int(i) for i in np.flatnonzero(faults)]
        if bad_rows:
            report.problems.append(f"{name}: {len(bad_rows)} examples whose label does not solve the input (first: #{bad_rows[0]})")
    if "train" in ds.splits and "test" in ds.splits:
        by_puzzle = task.leak_scope == "puzzle"
        train, test = ds["train"], ds["test"]
        test_keys = [k for s in range(0, test.num_examples, chunk) for k in _input_keys(test, s, min(s + chunk, test.num_examples), by_puzzle)]
        wanted, found = set(test_keys), set()
        for s in range(0, train.num_examples, chunk):
            found.update(k for k in _input_keys(train, s, min(s + chunk, train.num_examples), by_puzzle) if k in wanted)
        leaks = sum(k in found for k in test_keys)
        if leaks:
            where = "under the same puzzle identifier" if by_puzzle else ""
            report.problems.append(f"{leaks} test inputs also appear in train" + (f" {where}" if where else ""))
    return report
