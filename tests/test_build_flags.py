"""`hrm data build`'s task flags come from the registered tasks' build configs: names, types, help and bounds."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import Field

from hrmkit.cli import main
from hrmkit.data import build_flags as bf
from hrmkit.tasks import BuildConfig

# The flags `hrm data build` had when they were written by hand; the README and scripts use them.
KNOWN = ["size", "train", "test", "num_aug", "difficulty", "min_clues", "min_path", "style", "walls", "loops", "aug", "seed", "csv_dir",
         "min_rating", "source", "dir", "kaggle_dir", "eval_subset", "protocol", "tasks", "canvas"]


@pytest.mark.parametrize(("annotation", "kind"), [
    (int, bf.ValueKind(int)),
    (float | None, bf.ValueKind(float)),
    (str | None, bf.ValueKind(str)),
    (Literal["random", "tree"], bf.ValueKind(str, choices=("random", "tree"))),
    (Literal[4, 6, 9], bf.ValueKind(int, choices=(4, 6, 9))),
    (tuple[float, float], bf.ValueKind(float, nargs=2)),
    (bool, bf.ValueKind(bool, switch=True)),
    (tuple[int, ...], bf.TEXT),  # no fixed length: the config reads the text
    (Path, bf.TEXT),
    (int | str, bf.TEXT),
])
def test_a_field_s_type_decides_what_its_flag_reads(annotation, kind):
    assert bf.value_kind(annotation) == kind


def test_a_setting_tasks_share_is_one_flag_that_every_one_of_them_can_read():
    assert bf.merged_kind([bf.ValueKind(int, choices=(4, 6, 9)), bf.ValueKind(int)]) == bf.ValueKind(int)  # sudoku's and maze's size
    assert bf.merged_kind([bf.ValueKind(int), bf.ValueKind(float)]) == bf.ValueKind(float)
    assert bf.merged_kind([bf.ValueKind(bool, switch=True), bf.ValueKind(int)]) == bf.TEXT
    assert bf.merged_kind([bf.ValueKind(float, nargs=2), bf.ValueKind(float)]) == bf.TEXT
    same = bf.ValueKind(str, choices=("a", "b"))
    assert bf.merged_kind([same, same]) == same


def test_every_flag_of_the_built_in_tasks_is_there_and_the_rule_leaves_out_what_takes_no_value():
    flags = bf.build_flags()
    assert set(KNOWN) <= set(flags)
    assert "task" not in flags  # NAME fixes it
    assert "arc" not in flags["train"].fields and "arc" not in flags["test"].fields  # Field(exclude=True): ARC refuses them
    assert {"maze", "sudoku"} <= set(flags["size"].fields)
    assert flags["walls"].kind == bf.ValueKind(float, nargs=2) and flags["aug"].kind.switch
    assert flags["size"].kind == bf.ValueKind(int)


def test_help_says_which_task_a_setting_belongs_to_and_its_choices_range_and_default():
    flags, tasks = bf.build_flags(), ["arc", "maze", "sudoku"]
    size = flags["size"].help(tasks)
    assert "maze: grid side (3..64, default 30)" in size and "sudoku: grid side (4, 6 or 9, default 9)" in size
    assert flags["canvas"].help(tasks).startswith("arc: side of the token canvas") and "(2..30, default 30)" in flags["canvas"].help(tasks)
    assert flags["aug"].help(tasks).endswith("(default off)")
    assert flags["walls"].help(tasks).endswith("(default 0.32 0.44)")
    num_aug = flags["num_aug"].help(tasks)
    assert "arc: augmented variants per task" in num_aug and "sudoku: augmented variants per training puzzle" in num_aug


class _Everywhere(BuildConfig):
    task: Literal["a"] = "a"
    ratio: float = Field(0.5, gt=0, lt=1, description="a share 100% % safe")
    out: str = "x"  # the command's own --out: not a task flag


class _Also(BuildConfig):
    task: Literal["b"] = "b"
    ratio: float = Field(0.5, gt=0, lt=1, description="a share 100% % safe")


class _Registry:
    configs: ClassVar[dict[str, type[BuildConfig]]] = {"a": _Everywhere, "b": _Also}

    def names(self) -> list[str]:
        return sorted(self.configs)

    def get(self, name: str):
        return type("T", (), {"build_config": self.configs[name]})


def test_a_setting_the_command_uses_is_left_out_and_a_shared_one_reads_once(monkeypatch):
    registry = _Registry()
    monkeypatch.setattr(bf, "task_names", registry.names)
    monkeypatch.setattr(bf, "get_task", registry.get)
    flags = bf.build_flags(taken={"out", "workers"})
    assert "out" not in flags and "train" in flags
    assert flags["ratio"].help(["a", "b"]) == "a share 100%% %% safe (default 0.5)"  # all tasks, one help: no prefix; % escaped

    import argparse

    for value, message in ((0.0, "--ratio must be above 0, got 0.0"), (1.0, "--ratio must be below 1, got 1.0")):
        with pytest.raises(bf.HrmError, match=f"^{message}$"):
            bf.check_values(argparse.Namespace(ratio=value), flags, "a")
    bf.check_values(argparse.Namespace(ratio=0.25), flags, "a")  # in range
    bf.check_values(argparse.Namespace(ratio=7.0), flags, None)  # NAME is no task: the config's message comes later


def _flat(text: str) -> str:
    return "".join(text.split())  # argparse wraps help lines, also after a hyphen


def test_data_build_help_lists_the_registered_tasks_presets_and_settings(capsys):
    from hrmkit.tasks import all_presets, task_names

    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    shown = capsys.readouterr().out
    assert _flat(f"a task ({', '.join(task_names())}) or a dataset preset: {', '.join(sorted(all_presets()))}") in _flat(shown)
    for flag in KNOWN:
        assert "--" + flag.replace("_", "-") in shown
    assert "--walls WALLS WALLS" in shown and "--aug, --no-aug" in shown and "{paper,strict}" in shown


def test_train_help_lists_the_training_presets(capsys):
    from hrmkit.config import preset_names

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert _flat(f"a preset ({', '.join(preset_names())}) or a .yaml file") in _flat(capsys.readouterr().out)
