"""Puzzles -> a dataset on disk, for any registered task: pick the build config (a task name or a
dataset preset, plus overrides), let the task build its splits, write them with their metadata."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hrmkit.atomic import check_writable
from hrmkit.data.format import Dataset, DatasetError, check_replaceable, load_dataset
from hrmkit.data.splits import check_room
from hrmkit.errors import first_validation_error
from hrmkit.tasks import BuildConfig, Task, all_presets, get_task, task_names


def task_for(name: str) -> Task | None:
    """The task ``hrm data build NAME`` builds (NAME a task or a dataset preset), None for a name that is neither."""
    presets = all_presets()
    if name in presets:
        return presets[name][0]
    return get_task(name) if name in task_names() else None


def make_config(name: str, **overrides: Any) -> BuildConfig:
    """A build config from a task name ("sudoku", "maze", ...) or a dataset preset name, with overrides.

    Importing the official files (``csv_dir``) by task name starts from the task's official preset (the
    paper's settings: its training size and augmentations), and takes the whole test file unless ``test``
    is given: the papers test on all of it."""
    presets = all_presets()
    importing = bool(overrides.get("csv_dir"))
    if name in presets:
        task, values = presets[name]
        values = {**values, **({"test": 0} if importing else {}), **overrides}
    elif name in task_names():
        task = get_task(name)
        base = presets[task.official_preset][1] if importing and task.official_preset in presets else {"task": name}
        values = {**base, **({"test": 0} if importing else {}), **overrides}
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose a task ({', '.join(task_names())}) or a preset: {', '.join(sorted(presets))}")
    try:
        return task.build_config.model_validate(values)
    except ValidationError as e:
        field, kind, message = first_validation_error(e)
        if kind == "extra_forbidden":
            settings = ", ".join(k for k in task.build_config.model_fields if k != "task")
            raise DatasetError(f"{field} (--{field.replace('_', '-')}) does not apply to {task.name}; its settings: {settings}") from None
        given = e.errors()[0].get("input")
        raise DatasetError(f"{field}: {message}" + (f" (got {given!r})" if given is not None and not isinstance(given, dict) else "")) from None


def build(cfg: BuildConfig, out: str | os.PathLike, workers: int | None = None, overwrite: bool = False,
          progress: bool = True) -> Dataset:
    """Build a dataset for ``cfg`` and write it to ``out`` (atomically). Whether ``out`` may be replaced, and whether
    its folder takes a new entry at all, is checked first: a build can take hours."""
    check_replaceable(out, overwrite)
    check_writable(out)
    task = get_task(cfg.task)
    plan = task.planned_examples(cfg)
    if plan is not None:
        check_room(out, *plan, in_memory=type(task).write is Task.write)
    return task.write(cfg, out, workers=workers or max(os.cpu_count() or 1, 1), progress=progress, overwrite=overwrite,
                      started=time.perf_counter())


def build_if_missing(path: str | os.PathLike, preset: str | None, progress: bool) -> None:
    """Build dataset preset ``preset`` into ``path`` unless a dataset is already there."""
    path = Path(path)
    if not (path / "metadata.json").exists() and preset:
        print(f"building dataset {preset} into {path} ...")
        build(make_config(preset), path, progress=progress)


def open_dataset(path: str | os.PathLike) -> Dataset:
    if not Path(path).exists():
        raise DatasetError(f"dataset {path} not found; build it with `hrm data build NAME --out {path}`")
    return load_dataset(path)
