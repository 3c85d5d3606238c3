"""The seams: a task and a model defined here, in the test file only, registered, then built,
trained, evaluated and solved through the `hrm` command with no edit to the package."""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar, Literal

import numpy as np
import pytest
import torch
import yaml
from pydantic import Field
from torch import nn

from hrmkit.cli import main
from hrmkit.data.splits import assemble
from hrmkit.errors import HrmError
from hrmkit.models import CoreOutput, ModelConfig, register_model
from hrmkit.tasks import BuildConfig, StreamEvaluator, Task, TaskData, register_task

# --------------------------------------------------------------------------- a toy task: sort the digits


class SortBuild(BuildConfig):
    task: Literal["sort"] = "sort"
    length: int = Field(6, ge=2, le=12)


class OrderedEvaluator(StreamEvaluator):
    """The task's own metric, fed batch by batch: the fraction of answers in ascending order (right or not)."""

    made = 0

    def __init__(self) -> None:
        OrderedEvaluator.made += 1
        self.ordered, self.seen = 0, 0

    def update(self, rows: np.ndarray, predictions: np.ndarray, q_halt_logits: np.ndarray) -> None:
        self.ordered += int((np.diff(predictions.astype(int), axis=1) >= 0).all(axis=1).sum())
        self.seen += len(rows)

    def state(self) -> tuple[int, int]:
        return self.ordered, self.seen

    def merge(self, states: list[tuple[int, int]]) -> None:
        for ordered, seen in states:
            self.ordered, self.seen = self.ordered + ordered, self.seen + seen

    def metrics(self) -> dict[str, float]:
        return {"ordered_fraction": self.ordered / max(self.seen, 1)}

    def summary(self) -> list[str]:
        return [f"answers in ascending order: {self.ordered} of {self.seen}"]


class SortTask(Task):
    name = "sort"
    build_config = SortBuild
    presets: ClassVar[dict[str, dict[str, Any]]] = {"sort-digits": dict(task="sort", train=400, test=64, length=6)}
    headline_metrics: ClassVar[dict[str, str]] = {"ordered_fraction": "ordered"}

    def build(self, cfg: SortBuild, *, workers: int, progress: bool) -> TaskData:  # type: ignore[override]
        rng = np.random.default_rng(cfg.seed)
        seqs = np.unique(rng.integers(0, 10, size=(3 * (cfg.train + cfg.test), cfg.length)), axis=0)
        seqs = seqs[rng.permutation(len(seqs))][: cfg.train + cfg.test]
        tokens = (seqs + 1).astype(np.int16)  # 0 is padding
        pairs = [(t[None], np.sort(t)[None]) for t in tokens]
        return TaskData(splits={"train": assemble(pairs[cfg.test:], cfg.length), "test": assemble(pairs[: cfg.test], cfg.length)},
                        tokens=["<pad>"] + [str(d) for d in range(10)], grid_shape=(1, cfg.length), stats={"kind": "toy"})

    def parse(self, text: str, meta) -> np.ndarray:
        digits = text.strip()
        if len(digits) != meta.seq_len or not digits.isdigit():
            raise HrmError(f"expected {meta.seq_len} digits, got {digits!r}")
        return np.array([int(c) + 1 for c in digits], dtype=np.int32)

    def check_answer(self, puzzle: np.ndarray, answer: np.ndarray, meta) -> bool:
        return bool(np.array_equal(np.sort(np.asarray(puzzle)), np.asarray(answer)))

    def make_evaluator(self, split, meta, identifiers, dataset_path) -> OrderedEvaluator:
        return OrderedEvaluator()


# --------------------------------------------------------------------------- a toy model: an MLP over the whole sequence


class MixerConfig(ModelConfig):
    name: Literal["toy-mixer"] = "toy-mixer"
    hidden_size: int = Field(32, gt=0)


class MixerCore(nn.Module):
    """h <- h + MLP(flatten(h + x)): one residual update per segment, halting head on the mean state."""

    def __init__(self, cfg: MixerConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, dtype: torch.dtype):
        super().__init__()
        d = cfg.hidden_size
        self.has_q_continue = False
        self.seq_len, self.d = seq_len, d
        self.embed_tokens = nn.Embedding(vocab_size, d)
        self.mix = nn.Sequential(nn.Linear(seq_len * d, 8 * d), nn.GELU(), nn.Linear(8 * d, seq_len * d))
        self.lm_head = nn.Linear(d, vocab_size)
        self.q_head = nn.Linear(d, 2)

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(inputs.long())

    def empty_state(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor]:
        return (torch.zeros(batch_size, self.seq_len, self.d, device=device),)

    def reset_state(self, state: tuple[torch.Tensor], reset: torch.Tensor) -> tuple[torch.Tensor]:
        return (torch.where(reset.view(-1, 1, 1), torch.zeros_like(state[0]), state[0]),)

    def forward(self, state: tuple[torch.Tensor], x: torch.Tensor) -> CoreOutput:
        h = state[0] + x
        h = h + self.mix(h.flatten(1)).view_as(h)
        q = self.q_head(h.mean(1)).float()
        return CoreOutput((h.detach(),), self.lm_head(h), q[:, 0], q[:, 1])


# Importing this file registers both, as a plug-in module does (see test_plugins_load_from_hrmkit_plugins...).
register_task(SortTask(), replace=True)
register_model(MixerConfig, MixerCore, replace=True)


def test_a_new_task_and_model_go_through_the_cli(tmp_path, capsys):
    data, run = tmp_path / "sort", tmp_path / "run"
    assert main(["data", "build", "sort-digits", "train=400", "--test", "64", "--out", str(data), "--quiet"]) == 0
    assert main(["data", "check", str(data)]) == 0
    assert main(["data", "show", str(data), "-n", "1"]) == 0
    shown = capsys.readouterr().out
    assert "task sort" in shown and "test example 0" in shown

    config = {"data_path": str(data), "global_batch_size": 32, "epochs": 40, "eval_interval": 20, "lr": 3e-3, "lr_warmup_steps": 20,
              "weight_decay": 0.01, "tensorboard": False, "log_every": 25, "arch": {"name": "toy-mixer", "hidden_size": 32, "halt_max_steps": 2}}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "toy.yaml"), "--run-dir", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "toy-mixer with" in out
    assert re.search(r"token accuracy [\d.]+, ordered [01]\.\d{4}$", out, re.M), out  # the task's headline metric, in the last line

    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if r["split"] == "train"]
    assert train[-1]["lm_loss"] < 0.5 * train[0]["lm_loss"]  # it learns: sorting 6 digits

    made = OrderedEvaluator.made
    assert main(["eval", str(run), str(data), "--out", str(tmp_path / "report.json"), "--quiet"]) == 0
    assert "answers in ascending order:" in capsys.readouterr().out  # the evaluator's own summary line
    report = json.loads((tmp_path / "report.json").read_text())
    assert OrderedEvaluator.made == made + 1 and 0 <= report["ordered_fraction"] <= 1  # a fresh evaluator, its metric reported
    assert report["count"] == 64 and report["accuracy"] > 0.5  # measured 0.8 with this seed; chance is 0.1

    capsys.readouterr()
    assert main(["solve", str(run), "503412"]) == 0
    trace = capsys.readouterr().out
    assert "segment 2" in trace and "5 0 3 4 1 2" not in trace  # the toy task's parser read the digits
    assert main(["solve", str(run), "50341"]) == 2
    assert "expected 6 digits" in capsys.readouterr().err


def test_an_unregistered_task_is_a_clear_error_everywhere(tmp_path, capsys):
    data = tmp_path / "sort"
    assert main(["data", "build", "sort", "train=40", "test=8", "--out", str(data), "--quiet"]) == 0
    meta = json.loads((data / "metadata.json").read_text())
    meta["task"] = "nonesuch"
    (data / "metadata.json").write_text(json.dumps(meta))
    capsys.readouterr()
    for argv in (["data", "check", str(data)], ["data", "show", str(data)], ["train", "demo", f"data_path={data}", "--max-steps", "1"],
                 ["data", "build", "nonesuch"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: unknown") and "nonesuch" in err and "\n" not in err, err


def test_a_plug_in_task_s_build_settings_are_flags_with_no_package_edit(tmp_path, capsys):
    data = tmp_path / "sort4"
    assert main(["data", "build", "sort-digits", "--length", "4", "train=40", "test=8", "--out", str(data), "--quiet"]) == 0
    assert json.loads((data / "metadata.json").read_text())["seq_len"] == 4
    capsys.readouterr()
    assert main(["data", "build", "sort-digits", "--length", "1", "--out", str(tmp_path / "x")]) == 2  # SortBuild: ge=2
    assert capsys.readouterr().err.strip() == "error: --length must be at least 2, got 1"
    assert main(["data", "build", "sort", "--length", "13", "--out", str(tmp_path / "x")]) == 2  # le=12
    assert capsys.readouterr().err.strip() == "error: --length must be at most 12, got 13"
    assert main(["data", "build", "sudoku", "--length", "4", "--out", str(tmp_path / "x")]) == 2  # another task's setting
    assert "length (--length) does not apply to sudoku" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    with pytest.raises(SystemExit):
        main(["data", "build", "--help"])
    shown = capsys.readouterr().out
    flat = "".join(shown.split())  # argparse wraps help lines
    assert "--length LENGTH" in shown and "--lengthLENGTHsort:2..12,default6" in flat and "sort-digits" in flat


def test_show_refuses_a_negative_count_and_eval_refuses_another_tasks_dataset(tmp_path, capsys):
    from hrmkit.data.format import load_dataset
    from hrmkit.evaluate import check_compatible

    data = tmp_path / "sort"
    assert main(["data", "build", "sort", "train=20", "test=4", "--out", str(data), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["data", "show", str(data), "-n", "-3"]) == 2
    assert capsys.readouterr().err.strip() == "error: -n must be at least 0, got -3"
    sort_meta = load_dataset(data).metadata
    other = sort_meta.model_copy(update={"task": "sudoku"})
    with pytest.raises(HrmError, match="is a sort dataset; this model was trained on sudoku"):
        check_compatible(other, sort_meta, "data/sort")
    with pytest.raises(HrmError, match="does not fit this model"):
        check_compatible(sort_meta.model_copy(update={"seq_len": 9}), sort_meta, "data/sort")
    check_compatible(sort_meta, sort_meta, "data/sort")  # its own dataset fits


def test_an_unknown_model_is_a_clear_error(capsys):
    assert main(["train", "demo", "arch.name=nonesuch"]) == 2
    assert "unknown model 'nonesuch'; choose" in capsys.readouterr().err


def test_plugins_load_from_hrmkit_plugins_in_a_fresh_process(tmp_path):
    """A user's own file named in HRMKIT_PLUGINS is imported before the registries are read."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HRMKIT_PLUGINS": __file__}
    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "data", "build", "sort-digits", "train=50", "test=10",
                           "--out", str(tmp_path / "s"), "--quiet"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "task sort" in done.stdout
    env["HRMKIT_PLUGINS"] = str(tmp_path / "missing.py")
    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "data", "build", "sort-digits"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: HRMKIT_PLUGINS: no such file {tmp_path / 'missing.py'}"
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('plug-in fault')\n")
    env["HRMKIT_PLUGINS"] = str(broken)
    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "data", "build", "sort-digits"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: HRMKIT_PLUGINS: cannot import {broken} (RuntimeError: plug-in fault)"


def test_registries_refuse_a_second_object_under_a_taken_name():
    from hrmkit.models import model_names
    from hrmkit.tasks import task_names

    assert "sudoku" in task_names() and "toy-mixer" in model_names()  # built-ins and this file's plug-ins are in
    class Impostor(SortTask):
        presets: ClassVar[dict[str, dict[str, Any]]] = {}

    impostor = Impostor()
    impostor.name = "sudoku"
    with pytest.raises(ValueError, match="a task named 'sudoku' is already registered"):
        register_task(impostor)

    class Clash(SortTask):
        name = "sort-clash"
        presets: ClassVar[dict[str, dict[str, Any]]] = {"sudoku-4x4": {}}

    with pytest.raises(ValueError, match=r"dataset presets \['sudoku-4x4'\] of task 'sort-clash' are already taken"):
        register_task(Clash())

    class OtherCore(MixerCore):
        pass

    with pytest.raises(ValueError, match="a model named 'toy-mixer' is already registered"):
        register_model(MixerConfig, OtherCore)
