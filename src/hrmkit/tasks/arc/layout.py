"""The ARC dataset contract between the builder, the evaluator and the solver: the protocols, and the held-out tasks.

Layout: identifiers.json names every (task, variant) as ``aug.name(task_id)``; the train split has one group per
task that trains, one puzzle per variant, whose examples are that variant's training pairs; the test split has one
group per held-out task (sorted ids), one puzzle per variant (original first), whose examples are the task's test
pairs in order, untranslated (an unknown output is an all-PAD label); :data:`TASKS_FILE` holds the original held-out
tasks, the evaluator's ground truth.

Protocols (:data:`PROTOCOLS` words them wherever one is named: the data card, evaluation reports, ``hrm solve``):
``paper`` is what both papers did; under ``strict`` the held-out tasks' variants still get puzzle identifiers (so
predictions map back through the inverse augmentation), but those embedding rows are never trained and keep their
initial value (zeros in HRM and TRM): the model sees one all-zero puzzle vector for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hrmkit import jsonio
from hrmkit.errors import HrmError
from hrmkit.tasks.arc.grids import CANVAS, ArcTask, grid_key, parse_task

PROTOCOLS = {
    "paper": "every task's demonstration pairs train (the held-out tasks' included) and the other tasks' test pairs too; "
             "only the held-out tasks' test outputs are withheld (as the HRM and TRM papers)",
    "strict": "no held-out task is in the train split; their puzzle identifiers are never trained and keep their "
              "initial all-zero embedding",
}
UNKNOWN_PROTOCOL = "not a protocol this hrmkit knows"
TASKS_FILE = "arc_tasks.json"


def protocol_meaning(protocol: str) -> str:
    return PROTOCOLS.get(protocol, UNKNOWN_PROTOCOL)


@dataclass
class HeldOutTasks:
    """DIR/arc_tasks.json: the original (un-augmented) tasks of the test split and how the dataset was built."""

    path: Path
    protocol: str
    source: str
    canvas: int
    tasks: dict[str, ArcTask]  # task id -> task, in sorted id order

    def describe_protocol(self) -> str:
        return f"protocol {self.protocol} ({protocol_meaning(self.protocol)})"

    def has_outputs(self, task_id: str) -> bool:
        return all(p.output is not None for p in self.tasks[task_id].test)

    def match(self, task: ArcTask) -> tuple[str, str] | None:
        """(held-out task id, "content" or "id"): the held-out task with the same demonstration pairs and test inputs
        as ``task`` (test outputs may differ or be missing), else the one named ``task.id``; None when neither."""
        def fingerprint(t: ArcTask) -> bytes:
            grids = [g for p in t.train for g in (p.input, p.output)] + [p.input for p in t.test]
            return b"".join(grid_key(g) for g in grids if g is not None)

        wanted = fingerprint(task)
        same = next((tid for tid, t in self.tasks.items() if fingerprint(t) == wanted), None)
        if same is not None:
            return same, "content"
        return (task.id, "id") if task.id in self.tasks else None


def read_held_out(dataset_path: str | Path) -> HeldOutTasks:
    """The held-out tasks of an ARC dataset folder, or a one-line HrmError."""
    path = Path(dataset_path) / TASKS_FILE
    if not path.is_file():
        raise HrmError(f"{Path(dataset_path)}: no {TASKS_FILE}; ARC scoring needs the original tasks an ARC dataset build writes there")
    data = jsonio.read(path)
    try:
        tasks = {tid: parse_task(t, tid) for tid, t in sorted(data["tasks"].items())}
        return HeldOutTasks(path, str(data.get("protocol", "unknown")), str(data.get("source", "unknown")),
                            int(data.get("canvas", CANVAS)), tasks)
    except (ValueError, KeyError, TypeError, AttributeError) as e:  # ArcError is an HrmError, not caught here
        raise HrmError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
