"""Tasks as plug-ins: a registry from the ``task`` name (as stored in a dataset's metadata.json) to
the one object that knows everything about that task (see ``tasks/base.py``).

Built-in tasks (the modules and packages of this folder: sudoku, maze, arc) register when first looked up;
plug-ins call :func:`register_task` (or are named in ``HRMKIT_PLUGINS`` / the ``hrmkit.tasks`` entry-point group)."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from hrmkit.registry import Registry
from hrmkit.tasks.base import BuildConfig, StreamEvaluator, Task, TaskData, TaskFileControl, TaskSolver, VariantsControl

__all__ = ["BuildConfig", "StreamEvaluator", "Task", "TaskData", "TaskFileControl", "TaskSolver", "VariantsControl", "all_presets",
           "get_task", "register_task", "task_names"]


def _load_builtins() -> None:
    """Import every module and package of this folder but the contract (each registers its task), then the plug-ins.
    Found by listing the folder, not by name: a task's files are all there is to add, or to delete, a built-in task."""
    from hrmkit.plugins import load_plugins

    for found in pkgutil.iter_modules(__path__):
        if found.name != "base":
            importlib.import_module(f"{__name__}.{found.name}")
    load_plugins()


_TASKS: Registry[Task] = Registry("task", _load_builtins, " (a plug-in task must be registered first, e.g. through HRMKIT_PLUGINS)")


def register_task(task: Task, *, replace: bool = False) -> Task:
    if not getattr(task, "name", None):
        raise ValueError("a task needs a name")
    taken = {p for t in _TASKS._items.values() if t.name != task.name for p in t.presets}
    if set(task.presets) & taken:
        raise ValueError(f"dataset presets {sorted(set(task.presets) & taken)} of task {task.name!r} are already taken")
    return _TASKS.add(task.name, task, replace=replace)


def task_names() -> list[str]:
    return _TASKS.names()


def get_task(name: str) -> Task:
    return _TASKS.get(name)


def all_presets() -> dict[str, tuple[Task, dict[str, Any]]]:
    """Every dataset preset of every task: name -> (task, build settings)."""
    return {name: (task, values) for task in _TASKS.values() for name, values in task.presets.items()}
