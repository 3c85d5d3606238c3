"""The contract of a task: everything task-specific, in one object.

A task module defines a :class:`Task` subclass and registers one instance of it (``register_task``).
The rest of hrmkit (building, checking, showing, training, evaluating, solving) looks the task up by
the ``task`` name that a dataset's metadata.json holds, and never branches on task names.

A task works on token sequences (``np.ndarray`` of ints, length ``meta.seq_len``) and the dataset
metadata (``grid_shape``, ``tokens``); how a grid maps to tokens is the task's business.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hrmkit.data.codec import grid_encode
from hrmkit.data.format import Dataset, DatasetMetadata, SplitArrays, new_metadata, write_dataset
from hrmkit.errors import HrmError

if TYPE_CHECKING:
    from hrmkit.models import ACTModel


class BuildConfig(BaseModel):
    """Settings of a dataset build; a task subclasses it with ``task: Literal["<name>"]`` and its own fields."""

    model_config = ConfigDict(extra="forbid")
    task: str
    train: int = Field(1000, ge=0, description="training puzzles (groups)")
    test: int = Field(1000, ge=0, description="test puzzles (when importing: 0 = the whole test file)")
    seed: int = Field(0, ge=0, description="seeds the generator and the augmentations")


@dataclass
class TaskData:
    """What a task's builder returns: the splits and what the metadata needs to describe them."""

    splits: dict[str, SplitArrays]
    tokens: list[str]  # display string of each token id; token 0 is padding
    grid_shape: tuple[int, int]
    identifiers: list[str] = field(default_factory=lambda: ["<blank>"])  # puzzle identifier names (id 0 = blank)
    stats: dict[str, Any] = field(default_factory=dict)  # goes into metadata.json "build" (data card)
    pad_id: int = 0
    ignore_label_id: int | None = 0


@dataclass
class ReferenceAdoption:
    """What a task adds when `hrm data import` converts a dataset written by the reference code's builders."""

    identifiers: list[str]  # the puzzle identifier names, in this task's spelling (same ids, same order)
    files: dict[str, str] = field(default_factory=dict)  # file name -> text, written beside the data
    card: dict[str, Any] = field(default_factory=dict)  # entries of the data card
    notes: list[str] = field(default_factory=list)  # lines the command prints


class StreamEvaluator:
    """Metrics that need every prediction (ARC votes over augmentations), computed as the predictions stream past.

    ``evaluate()`` feeds each batch to :meth:`update` and keeps nothing itself, so memory is what the evaluator
    chooses to keep (for ARC: the distinct candidate grids), not N x seq_len predictions. Under DDP every
    process feeds its own slice; ``evaluate()`` gathers :meth:`state` from every process onto rank 0, which
    merges them and alone calls :meth:`metrics` and the reporting methods.
    """

    def update(self, rows: np.ndarray, predictions: np.ndarray, q_halt_logits: np.ndarray) -> None:
        """One batch: example indices into the split [B] int64, argmax tokens [B, seq_len] (uint8 when the
        vocabulary fits), and the final segment's q_halt logits [B] float32. Padded rows are already dropped."""
        raise NotImplementedError

    def state(self) -> Any:
        """What this process has gathered, as a picklable object (sent to rank 0 under DDP)."""
        raise NotImplementedError

    def merge(self, states: list[Any]) -> None:
        """Add other processes' :meth:`state` objects to this one's."""
        raise NotImplementedError

    def metrics(self) -> dict[str, float]:
        """Numbers for the logs and the report (keys are metric names)."""
        raise NotImplementedError

    def report(self) -> dict[str, Any]:
        """Anything else for the JSON report of `hrm eval` (JSON-serialisable)."""
        return {}

    def summary(self) -> list[str]:
        """Lines `hrm eval` prints after the generic ones."""
        return []

    def write_outputs(self, report_path: Path) -> dict[str, str]:
        """Files written beside the JSON report (e.g. an ARC submission); returns report keys -> paths."""
        return {}


@dataclass(frozen=True)
class TaskFileControl:
    """A file picker on `hrm serve`'s page that puts the chosen file's text into the puzzle box."""

    accept: str = ""  # the picker's file types, as HTML's accept attribute takes them (".json,application/json"); "" = any
    kind: ClassVar[str] = "task-file"


@dataclass(frozen=True)
class VariantsControl:
    """A number on `hrm serve`'s page, 1..``maximum``: how many variants of the task to run (the request's "variants");
    the server refuses more than ``maximum``, each variant running every segment."""

    maximum: int
    default: int
    kind: ClassVar[str] = "variants"


PageControl = TaskFileControl | VariantsControl


def control_json(control: PageControl) -> dict[str, Any]:
    """A control as `hrm serve`'s /api/info lists it: {"kind": ..., and its settings}."""
    return {"kind": control.kind, **asdict(control)}


class TaskSolver(Protocol):
    """Solving a whole task file (demonstration pairs and test inputs), for tasks such as ARC whose puzzle is not
    one input grid; `hrm solve` and `hrm serve` hand such files to it instead of :meth:`Task.parse`."""

    max_request_bytes: int  # `hrm serve` accepts request bodies up to this size for this task
    page_controls: tuple[PageControl, ...]  # what `hrm serve`'s page shows beside the puzzle box for this task

    def examples(self, dataset: Path | None, meta: DatasetMetadata, n: int) -> list[dict[str, str]]:
        """Up to ``n`` held-out tasks to offer on the web page: [{"name", "text"}]."""
        ...

    def solve_text(self, model: ACTModel, meta: DatasetMetadata, text: str, *, name: str, dataset: Path | None,
                   index: int | None, variants: int, segments: int | None) -> Any:
        """Run the model on a task given as text (a file's content, or a held-out task's name); ``index`` None = every
        test input; ``dataset`` is the model's dataset (to recognise its tasks), None when not found."""
        ...

    def format(self, result: Any) -> str:
        """The result for the terminal."""
        ...

    def payload(self, result: Any) -> dict[str, Any]:
        """The result as JSON for the web page."""
        ...

    def check_picture(self, out: Path) -> Path:
        """A picture path :meth:`draw` can write, or a one-line HrmError (checked before the model runs)."""
        ...

    def draw(self, result: Any, out: Path) -> Path:
        """The result as a picture."""
        ...


class Task:
    """Base class with the defaults a simple grid task needs; override what differs."""

    name: ClassVar[str]
    build_config: ClassVar[type[BuildConfig]]
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # dataset preset name -> build settings
    # The preset whose settings an import of the official files (``csv_dir``) starts from when the user names
    # the task rather than a preset, so that `hrm data build TASK --csv-dir DIR` reproduces the paper's data.
    official_preset: ClassVar[str | None] = None
    # Metrics of the task's own evaluator that a one-line summary (end of `hrm train`) shows: metric key -> label.
    headline_metrics: ClassVar[dict[str, str]] = {}
    # `hrm data check`'s train/test separation: "dataset" = no test input may appear anywhere in train; "puzzle" = not
    # under the same puzzle identifier (for tasks whose different puzzles may legitimately share an input).
    leak_scope: ClassVar[Literal["dataset", "puzzle"]] = "dataset"
    # What a typed puzzle looks like, shown beside `hrm serve`'s puzzle box; the default matches what the page's
    # examples are (one text row per grid row, :meth:`cells`' characters).
    input_hint: ClassVar[str] = "one row per line, one character per cell"

    # ---- building

    def build(self, cfg: BuildConfig, *, workers: int, progress: bool) -> TaskData:
        raise NotImplementedError

    def planned_examples(self, cfg: BuildConfig) -> tuple[int, int] | None:
        """(at most how many examples, tokens per example) a build of ``cfg`` writes, known before any work, or None when
        not known: `hrm data build` refuses up front a build that cannot fit the disk or, built in memory, the memory."""
        return None

    def write(self, cfg: BuildConfig, out: str | os.PathLike, *, workers: int, progress: bool, overwrite: bool,
              started: float) -> Dataset:
        """Build the dataset and write it to ``out`` atomically, with the data card (:func:`data_card`) in its metadata.
        By default the splits are built in memory (:meth:`build`) and written whole; a task whose data is too large
        for that overrides this and streams its rows to disk (``hrmkit.data.format.stream_dataset``)."""
        data = self.build(cfg, workers=workers, progress=progress)
        check_not_empty({name: split.num_examples for name, split in data.splits.items()})
        meta = new_metadata(self.name, data.tokens, data.grid_shape, len(data.identifiers), data.pad_id, data.ignore_label_id,
                            data_card(cfg, data.stats, started))
        return write_dataset(out, meta, data.splits, data.identifiers, overwrite=overwrite)

    # ---- text <-> tokens

    def parse(self, text: str, meta: DatasetMetadata) -> np.ndarray:
        """A puzzle typed by a person -> input tokens [seq_len]; raise HrmError naming the fault."""
        raise NotImplementedError(f"task {self.name!r} cannot read puzzles from text")

    def grid_tokens(self, grid: np.ndarray, meta: DatasetMetadata, noun: str) -> np.ndarray:
        """A parsed grid -> input tokens, after checking that it has the model's grid shape."""
        h, w = meta.grid_shape
        if grid.shape != (h, w):
            raise HrmError(f"this model solves {h}x{w} {noun}, got {grid.shape[0]}x{grid.shape[1]}")
        return grid_encode(grid).astype(np.int32)

    def cells(self, tokens: np.ndarray, meta: DatasetMetadata) -> list[str]:
        """One display character per grid cell (padding shows as '_')."""
        h, w = meta.grid_shape
        return ["_" if int(t) == 0 else meta.tokens[int(t)][0] for t in np.asarray(tokens).ravel()[: h * w]]

    def format(self, tokens: np.ndarray, meta: DatasetMetadata) -> str:
        """A token sequence as a text grid."""
        chars = self.cells(tokens, meta)
        w = meta.grid_shape[1]
        return "\n".join(" ".join(chars[r:r + w]) for r in range(0, len(chars), w))

    def show(self, tokens: np.ndarray, meta: DatasetMetadata, colour: bool = False) -> str:
        """A sequence as `hrm data show` prints it (``colour``: the terminal takes ANSI colours, where the task has any)."""
        return self.format(tokens, meta)

    def card_lines(self, build: dict[str, Any]) -> list[str]:
        """`hrm data show` lines for the task's own entries of the data card (metadata.json "build"); pop the entries
        printed here from ``build`` (the rest is printed generically). Must cope with any content: files get edited."""
        return []

    # ---- rules

    def check_answer(self, puzzle: np.ndarray, answer: np.ndarray, meta: DatasetMetadata) -> bool | None:
        """Is ``answer`` a correct solution of ``puzzle`` by the task's rules (not by comparison with a label)?
        None when the task has no rule check."""
        return None

    def label_faults(self, inputs: np.ndarray, labels: np.ndarray, meta: DatasetMetadata) -> np.ndarray:
        """For each example [N, seq_len], True when its label breaks the rules (vectorise where it pays)."""
        return np.array([self.check_answer(i, lab, meta) is False for i, lab in zip(inputs, labels)], dtype=bool)

    # ---- evaluation

    def make_evaluator(self, split: SplitArrays, meta: DatasetMetadata, identifiers: list[str],
                       dataset_path: Path) -> StreamEvaluator | None:
        """A fresh streaming evaluator for one evaluation of ``split`` (of the dataset at ``dataset_path``), or None
        when the generic metrics are all this task has. Called once per evaluation, so no state carries over."""
        return None

    # ---- datasets written by the reference code (hrm data import)

    def reference_tokens(self, seq_len: int, vocab_size: int) -> tuple[list[str], tuple[int, int]] | None:
        """(display tokens, grid shape) of a dataset of ``seq_len`` and ``vocab_size`` written by the reference builders
        for this task, or None when such a dataset cannot be this task's."""
        return None

    def adopt_reference(self, identifiers: list[str], splits: dict[str, SplitArrays], grid_shape: tuple[int, int],
                        folder: str) -> ReferenceAdoption:
        """What an import of the reference dataset at ``folder`` needs beyond its rows; by default the names as they are."""
        return ReferenceAdoption(list(identifiers))

    # ---- whole-task files

    def task_solver(self) -> TaskSolver | None:
        """The solver of whole task files (ARC), or None: a puzzle is one input grid read by :meth:`parse`."""
        return None


def check_not_empty(examples: dict[str, int]) -> None:
    """A split without examples trains or tests nothing: refuse it before anything is written."""
    for name, count in examples.items():
        if count == 0:
            raise HrmError(f"the {name} split would have no examples; nothing was written (check the build settings)")


def data_card(cfg: BuildConfig, stats: dict[str, Any], started: float) -> dict[str, Any]:
    """metadata.json "build": the settings, the task's own stats, the build time since ``started`` and the version."""
    import hrmkit

    return {"config": cfg.model_dump(), **stats, "build_seconds": round(time.perf_counter() - started, 2),
            "hrmkit_version": hrmkit.__version__}

