"""Re-validate a whole dataset: every label obeys the task's rules for its input, and no test input
appears in train. A dataset of a task that is not registered is an error, not a pass."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hrmkit.data.format import Dataset
from hrmkit.tasks import get_task


@dataclass
class CheckReport:
    examples: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_dataset(ds: Dataset, chunk: int = 65536) -> CheckReport:
    meta = ds.metadata
    task = get_task(meta.task)
    report = CheckReport()
    for name, arrays in ds.splits.items():
        report.examples[name] = arrays.num_examples
        bad_rows: list[int] = []
        for start in range(0, arrays.num_examples, chunk):
            faults = task.label_faults(np.asarray(arrays.inputs[start:start + chunk]), np.asarray(arrays.labels[start:start + chunk]), meta)
            bad_rows += [start + int(i) for i in np.flatnonzero(faults)]
        if bad_rows:
            report.problems.append(f"{name}: {len(bad_rows)} examples whose label does not solve the input (first: #{bad_rows[0]})")
    if "train" in ds.splits and "test" in ds.splits:
        train_keys = {row.tobytes() for row in np.asarray(ds["train"].inputs)}
        leaks = sum(row.tobytes() in train_keys for row in np.asarray(ds["test"].inputs))
        if leaks:
            report.problems.append(f"{leaks} test inputs also appear in train")
    return report
