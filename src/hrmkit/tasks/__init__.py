"""Tasks as plug-ins: a registry from the ``task`` name (as stored in a dataset's metadata.json) to
the one object that knows everything about that task (see ``tasks/base.py``).

Built-in tasks (sudoku, maze) register when first looked up; plug-ins call :func:`register_task`
(or are named in ``HRMKIT_PLUGINS`` / the ``hrmkit.tasks`` entry-point group)."""

from __future__ import annotations

from typing import Any

from hrmkit.errors import HrmError
from hrmkit.tasks.base import Augmentation, BuildConfig, Task, TaskData

__all__ = ["Augmentation", "BuildConfig", "Task", "TaskData", "all_presets", "get_task", "register_task", "task_names"]

_TASKS: dict[str, Task] = {}


def register_task(task: Task, *, replace: bool = False) -> Task:
    if not getattr(task, "name", None):
        raise ValueError("a task needs a name")
    if task.name in _TASKS and not replace and type(_TASKS[task.name]) is not type(task):
        raise ValueError(f"a task named {task.name!r} is already registered")
    clash = set(task.presets) & {p for t in _TASKS.values() if t.name != task.name for p in t.presets}
    if clash:
        raise ValueError(f"dataset presets {sorted(clash)} of task {task.name!r} are already taken")
    _TASKS[task.name] = task
    return task


def _load_builtins() -> None:
    from hrmkit.plugins import load_plugins
    from hrmkit.tasks import maze, sudoku  # noqa: F401  (registering on import)

    load_plugins()


def task_names() -> list[str]:
    _load_builtins()
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    _load_builtins()
    if name not in _TASKS:
        raise HrmError(f"unknown task {name!r}; known tasks: {', '.join(sorted(_TASKS))} "
                       "(a plug-in task must be registered first, e.g. through HRMKIT_PLUGINS)")
    return _TASKS[name]


def all_presets() -> dict[str, tuple[Task, dict[str, Any]]]:
    """Every dataset preset of every task: name -> (task, build settings)."""
    _load_builtins()
    return {name: (task, values) for task in _TASKS.values() for name, values in task.presets.items()}
