"""`hrm data build`'s task flags, made from the registered tasks' build configs (pydantic models): one flag per
setting, `num_aug` -> `--num-aug`, whatever task or plug-in declares it.

- type: int, float, str as such; bool -> `--x/--no-x`; a Literal -> its choices; a fixed-length tuple -> that many
  values; anything else is taken as text for the task's config to read. A setting several tasks share is one flag;
  where their types differ it takes what all of them can read (maze's `size` is any int, sudoku's 4, 6 or 9: an int,
  whose choices the sudoku config checks).
- help: the Field description with the task's choices, range and default, prefixed by the task name unless every
  task has the setting with the same help.
- bounds: the Field's ge/gt/le/lt of the task NAME builds, checked before any work (:func:`check_values`).

Left out (they stay settable as key=value, where the config refuses or takes them): ``task`` (NAME fixes it),
fields excluded from the config's dump (``Field(exclude=True)``: ARC's train/test, there only to refuse a value), and
a setting whose name the command itself already uses (``--out``, ``--workers``, ...).
"""

from __future__ import annotations

import argparse
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hrmkit.errors import HrmError
from hrmkit.tasks import BuildConfig, get_task, task_names


@dataclass(frozen=True)
class ValueKind:
    """What one flag reads from the command line."""

    type: type  # what argparse converts each word to
    choices: tuple[Any, ...] | None = None  # a Literal's values
    nargs: int | None = None  # a fixed-length tuple's length
    switch: bool = False  # a bool: --x / --no-x


TEXT = ValueKind(str)


def value_kind(annotation: Any) -> ValueKind:
    """The flag kind of a field's type annotation."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return value_kind(options[0]) if len(options) == 1 else TEXT
    if origin is Literal:
        kinds = {type(a) for a in args}
        if kinds == {bool}:
            return ValueKind(bool, switch=True)
        return ValueKind(kinds.pop(), choices=args) if len(kinds) == 1 else TEXT
    if origin is tuple and args and Ellipsis not in args and len(set(args)) == 1 and args[0] in (int, float, str):
        return ValueKind(args[0], nargs=len(args))
    if annotation is bool:
        return ValueKind(bool, switch=True)
    return ValueKind(annotation) if annotation in (int, float, str) else TEXT


def merged_kind(kinds: list[ValueKind]) -> ValueKind:
    """One flag for a setting several tasks share: what every one of them can read."""
    if all(k == kinds[0] for k in kinds):
        return kinds[0]
    if any(k.switch or k.nargs for k in kinds):  # one flag cannot be both a switch (or a list) and a value
        return TEXT
    words = {k.type for k in kinds}
    if len(words) == 1:  # the same type, choices in some tasks only: each task's config checks its own
        return ValueKind(words.pop())
    return ValueKind(float) if words == {int, float} else TEXT


@dataclass(frozen=True)
class BuildFlag:
    """One task setting as a flag: the field of every task that has it."""

    setting: str  # the field name, also the argparse dest
    fields: dict[str, FieldInfo]  # task name -> that task's field

    @property
    def option(self) -> str:
        return "--" + self.setting.replace("_", "-")

    @property
    def kind(self) -> ValueKind:
        return merged_kind([value_kind(f.annotation) for f in self.fields.values()])

    def help(self, every_task: Iterable[str]) -> str:
        kind = self.kind
        helps = {task: task_help(field, kind) for task, field in self.fields.items()}
        if set(self.fields) == set(every_task) and len(set(helps.values())) == 1:
            return _escaped(next(iter(helps.values())))
        by_help: dict[str, list[str]] = {}
        for task, text in helps.items():
            by_help.setdefault(text, []).append(task)
        parts = [f"{', '.join(tasks)}: {text}" for text, tasks in by_help.items() if text]
        bare = by_help.get("", [])  # tasks with nothing to say beyond having the setting
        if bare:
            parts.append(("also " if parts else "") + ", ".join(bare))
        return _escaped("; ".join(parts))


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (tuple, list)):
        return " ".join(map(str, value))
    return str(value)


def _listed(values: tuple[Any, ...]) -> str:
    words = [str(v) for v in values]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def task_help(field: FieldInfo, flag_kind: ValueKind) -> str:
    """One task's help for its setting: the description, then (choices the flag does not show, range, default)."""
    own = value_kind(field.annotation)
    facts = []
    if own.choices and not flag_kind.choices:
        facts.append(_listed(own.choices))
    limits = {type(m).__name__: m for m in field.metadata}
    if "Ge" in limits and "Le" in limits:
        facts.append(f"{limits['Ge'].ge}..{limits['Le'].le}")
    default = field.get_default(call_default_factory=True)
    if default is not None and default is not PydanticUndefined:
        facts.append(f"default {_shown(default)}")
    text = ", ".join(facts)
    if field.description:
        return f"{field.description} ({text})" if text else field.description
    return text


def _ordered(settings: Iterable[str]) -> list[str]:
    """The settings every task has (train, test, seed) first, then in the order the tasks declare them."""
    common = list(BuildConfig.model_fields)
    return sorted(settings, key=lambda s: common.index(s) if s in common else len(common))


def build_flags(taken: Iterable[str] = ()) -> dict[str, BuildFlag]:
    """Every registered task's build settings as flags (setting -> flag), leaving out those named in the module
    docstring; ``taken``: names the command already uses for its own arguments."""
    taken = set(taken)
    fields: dict[str, dict[str, FieldInfo]] = {}
    for name in task_names():
        for setting, field in get_task(name).build_config.model_fields.items():
            if setting == "task" or field.exclude or setting in taken:
                continue
            fields.setdefault(setting, {})[name] = field
    return {setting: BuildFlag(setting, fields[setting]) for setting in _ordered(fields)}


def add_build_flags(parser: argparse.ArgumentParser, flags: dict[str, BuildFlag]) -> None:
    group = parser.add_argument_group("task settings", "each also as key=value; a setting of another task is refused")
    tasks = task_names()
    for flag in flags.values():
        kind = flag.kind
        options: dict[str, Any] = {"dest": flag.setting, "default": None, "help": flag.help(tasks)}
        if kind.switch:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options["type"] = kind.type
            if kind.choices:
                options["choices"] = kind.choices
            if kind.nargs:
                options["nargs"] = kind.nargs
        group.add_argument(flag.option, **options)


def given_settings(args: argparse.Namespace, flags: dict[str, BuildFlag]) -> dict[str, Any]:
    """The task settings given as flags."""
    return {setting: getattr(args, setting) for setting in flags if getattr(args, setting, None) is not None}


def _out_of_bounds(option: str, value: int | float, limit: Any) -> str | None:
    whole = isinstance(value, int)
    if isinstance(limit, annotated_types.Ge) and value < limit.ge:
        return f"{option} must be at least {limit.ge}, got {value}"
    if isinstance(limit, annotated_types.Gt) and value <= limit.gt:
        return f"{option} must be at least {limit.gt + 1}, got {value}" if whole and isinstance(limit.gt, int) else \
            f"{option} must be above {limit.gt}, got {value}"
    if isinstance(limit, annotated_types.Le) and value > limit.le:
        return f"{option} must be at most {limit.le}, got {value}"
    if isinstance(limit, annotated_types.Lt) and value >= limit.lt:
        return f"{option} must be at most {limit.lt - 1}, got {value}" if whole and isinstance(limit.lt, int) else \
            f"{option} must be below {limit.lt}, got {value}"
    return None


def check_values(args: argparse.Namespace, flags: dict[str, BuildFlag], task: str | None) -> None:
    """Refuse a number outside its Field's bounds in ``task``'s build config, naming the flag. Settings the task
    does not have, and every check when ``task`` is None (NAME is no task nor preset), are left to the config."""
    if task is None:
        return
    for flag in flags.values():
        field, value = flag.fields.get(task), getattr(args, flag.setting, None)
        if field is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        for limit in field.metadata:
            problem = _out_of_bounds(flag.option, value, limit)
            if problem:
                raise HrmError(problem)
