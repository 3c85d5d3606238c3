"""Faults a user meets: a loss that turns nan/inf, a run killed (SIGKILL) while writing a checkpoint, and bad
input to `hrm train`, which must be refused in one line before torch is imported."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from tiny_checkpoint import make_data

from hrmkit import checkpoint
from hrmkit.cli import main
from hrmkit.config import make_train_config
from hrmkit.train import Trainer, TrainingDiverged

SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data") / "s4", num_aug=0, train=40, test=8)


def tiny_config(folder: Path, data: Path, **overrides) -> Path:
    """A YAML config of a ~27k-parameter HRM that trains a step in milliseconds (5 steps per epoch)."""
    values = dict(data_path=str(data), global_batch_size=8, epochs=10, eval_interval=None, eval_max_examples=8, lr=1e-3,
                  lr_warmup_steps=0, log_every=5, checkpoint_every=5, tensorboard=False,
                  arch=dict(name="hrm", hidden_size=16, num_heads=2, H_layers=1, L_layers=1, H_cycles=1, L_cycles=1,
                            halt_max_steps=2, puzzle_emb_ndim=16, expansion=2.0, forward_dtype="float32"))
    values.update(overrides)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}


# --------------------------------------------------------------------------- nan / inf


@pytest.mark.parametrize("poison", ["nan", "inf"])
def test_a_nan_or_inf_loss_stops_the_run_and_keeps_the_last_good_checkpoint(poison, data, tmp_path, monkeypatch, capsys):
    import hrmkit.train as train_module

    real_loss, calls = train_module.act_loss, [0]

    def poisoned_loss(*args, **kwargs):
        total, metrics = real_loss(*args, **kwargs)
        calls[0] += 1
        if calls[0] == 7:  # the loss of training step 7 only; later steps are finite again
            bad = torch.tensor(float(poison))
            total, metrics["lm_loss"] = total + bad, metrics["lm_loss"] + bad
        return total, metrics

    monkeypatch.setattr(train_module, "act_loss", poisoned_loss)
    run = tmp_path / "run"
    assert main(["train", str(tiny_config(tmp_path, data)), "--run-dir", str(run), "--quiet"]) == 2
    out, err = capsys.readouterr()
    good = run / "checkpoints" / "step_5"
    assert re.fullmatch(rf"error: training loss is {poison} at step 7 \(lm_loss {poison}, q_halt_loss [0-9.]+, q_continue_loss [0-9.]+\); "
                        rf"stopped without saving: the last good checkpoint, {re.escape(str(good))}, is kept\n", err), err
    assert "checkpoints in" not in out
    # On disk: step 5 only, named by latest, with finite weights; nothing of step 10 (the next checkpoint), no temp folder.
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_5"]
    assert (run / "checkpoints" / "latest").read_text() == "step_5"
    assert checkpoint.read_state(run)["step"] == 5
    for name in ("model", "optimizer"):
        assert all(torch.isfinite(t).all() for t in load_file(str(good / f"{name}.safetensors")).values())
    logged = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [5]  # the nan window (steps 6-10) was never logged


def test_weights_that_overflow_with_a_finite_loss_are_never_saved(data, tmp_path, monkeypatch):
    real_step = Trainer.train_step

    def overflowing_step(self):
        metrics = real_step(self)
        if self.step == 8:  # the update of step 8 overflows; its loss (computed before the update) is finite
            with torch.no_grad():
                next(self.model.parameters()).fill_(float("inf"))
        return metrics

    monkeypatch.setattr(Trainer, "train_step", overflowing_step)
    cfg = make_train_config(str(tiny_config(tmp_path, data, checkpoint_every=4)))
    trainer = Trainer(cfg, run_dir=tmp_path / "run", progress=False)
    with pytest.raises(TrainingDiverged, match=r"^weights hold nan or inf after step 8 \(the loss was finite\); stopped without saving: "
                                               r"the last good checkpoint, .*step_4, is kept$"):
        trainer.fit()
    assert (tmp_path / "run" / "checkpoints" / "latest").read_text() == "step_4"
    assert not (tmp_path / "run" / "checkpoints" / "step_8").exists()


# --------------------------------------------------------------------------- SIGKILL while a checkpoint is written

# Runs `hrm train` with a pause planted in the checkpoint writer, after it has written half of optimizer.safetensors
# of step 8 (config, model and optimizer files are in the temporary folder; carry, rng and state are not yet).
CHILD = textwrap.dedent('''
    import os, sys, time
    from pathlib import Path
    import safetensors.torch

    real_save = safetensors.torch.save_file

    def save_file(tensors, filename, *args, **kwargs):
        real_save(tensors, filename, *args, **kwargs)
        if ".step_8.tmp-" in filename and filename.endswith("optimizer.safetensors"):
            with open(filename, "r+b") as f:  # as if the kill came halfway through this file
                f.truncate(os.path.getsize(filename) // 2)
            Path(os.environ["HRMKIT_TEST_MARKER"]).write_text(filename)
            time.sleep(600)  # killed here

    safetensors.torch.save_file = save_file
    from hrmkit.cli import main
    sys.exit(main(sys.argv[1:]))
''')


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_previous_one(data, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "marker"
    config = tiny_config(tmp_path, data, checkpoint_every=4, epochs=4)
    child = subprocess.Popen([sys.executable, "-c", CHILD, "train", str(config), "--run-dir", str(run), "--quiet"], cwd=tmp_path,
                             env={**env(), "HRMKIT_TEST_MARKER": str(marker)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never reached the checkpoint write"
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()

    ckpts = run / "checkpoints"
    assert (ckpts / "latest").read_text() == "step_4"
    assert json.loads((run / "run.lock").read_text())["pid"] == child.pid  # the dead run's lock file is still there...
    (half,) = ckpts.glob(".step_8.tmp-*")  # the half-written checkpoint is there, under its temporary name only
    assert not (ckpts / "step_8").exists() and not (half / "state.json").exists()

    done = subprocess.run([sys.executable, "-m", "hrmkit.cli", "train", "--resume", str(run), "--max-steps", "4", "--quiet"],
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr  # ... and stops nobody: the kernel dropped its flock with the process
    assert f"run {run}: hrm with" in done.stdout and "(resuming at 4)" in done.stdout
    assert (ckpts / "latest").read_text() == "step_8"
    assert checkpoint.read_state(run)["step"] == 8
    checkpoint.read_tensors(run, "optimizer")  # the rewritten step_8 is whole
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step_4", "step_8"]  # the temporary folder was cleared
    logged = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert logged == sorted(logged) and logged[-1] == 8 and len(logged) == len(set(logged))


def test_a_run_killed_after_the_folder_rename_but_before_latest_resumes_from_the_previous_one(data, tmp_path):
    """The other window of a checkpoint write: step_8 is complete and in place, ``latest`` still names step_4
    (reproduced in-process: the folder and file operations are renames, so a kill there leaves exactly this)."""
    cfg = make_train_config(str(tiny_config(tmp_path, data, checkpoint_every=4, epochs=4)))
    Trainer(cfg, run_dir=tmp_path / "run", progress=False).fit(max_steps=8)
    ckpts = tmp_path / "run" / "checkpoints"
    (ckpts / "latest").write_text("step_4")
    resumed = Trainer(cfg, run_dir=tmp_path / "run", resume=True, progress=False)
    assert resumed.step == 4
    resumed.fit(max_steps=4)  # writes step_8 again over the orphan
    assert (ckpts / "latest").read_text() == "step_8" and checkpoint.read_state(tmp_path / "run")["step"] == 8
    assert sorted(p.name for p in ckpts.iterdir()) == ["latest", "step_4", "step_8"]


def test_a_metrics_line_cut_by_a_kill_does_not_stop_a_resume(data, tmp_path):
    cfg = make_train_config(str(tiny_config(tmp_path, data)))
    Trainer(cfg, run_dir=tmp_path / "run", progress=False).fit(max_steps=5)
    metrics = tmp_path / "run" / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 10, "split": "tr')
    resumed = Trainer(cfg, run_dir=tmp_path / "run", resume=True, progress=False)
    assert resumed.step == 5
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [5]


# --------------------------------------------------------------------------- refused in one line, before torch is imported

PROBE = textwrap.dedent('''
    import contextlib, io, json, sys
    from hrmkit.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as e:  # argparse usage errors
                rc = e.code
        results.append({"argv": argv, "rc": rc, "out": out.getvalue(), "err": err.getvalue(), "torch": "torch" in sys.modules})
    print(json.dumps(results))
''')


def test_bad_train_commands_and_options_are_refused_in_one_line_before_torch_is_imported(data, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    not_data = tmp_path / "not-data"
    not_data.mkdir()
    busy = tmp_path / "busy-run"
    (busy / "checkpoints").mkdir(parents=True)
    (busy / "checkpoints" / "latest").write_text("step_5")
    empty_run = tmp_path / "empty-run"
    empty_run.mkdir()
    cases = [
        (["train", "no-such-preset"], "unknown config 'no-such-preset'; presets: "),
        (["train", "demo", "arch.hiden_size=64"], "unknown setting 'arch.hiden_size'"),
        (["train", "demo", "lr=fast"], "lr: Input should be a valid number"),
        (["train", "demo", "lr=.nan"], "lr: Input should be a finite number"),
        (["train", "demo", "global_batch_size=0"], "global_batch_size: Input should be greater than 0"),
        (["train", "demo", "beta1=1"], "beta1: Input should be less than 1"),  # was accepted, then AdamATan2 raised a ValueError
        (["train", "demo", "eval_max_examples=0"], "eval_max_examples: Input should be greater than or equal to 1"),  # failed at the 1st eval
        (["train", "demo", "eval_interval=-1"], "eval_interval: Input should be greater than or equal to 1"),  # evaluated every step
        (["train", "demo", "epochs"], "override 'epochs' is not of the form key=value"),
        (["train", "demo", "arch.name=nonesuch"], "arch: unknown model 'nonesuch'; choose "),
        (["train", "demo", f"data_path={tmp_path / 'nowhere'}", "data_preset=null"], f"dataset {tmp_path / 'nowhere'} not found"),
        (["train", "demo", f"data_path={tmp_path / 'nowhere'}", "data_preset=nonesuch"], "data_preset: unknown dataset 'nonesuch'"),
        (["train", "demo", f"data_path={not_data}", "data_preset=null"], f"{not_data}: not a dataset (no metadata.json)"),
        (["train", "demo", f"data_path={data}", "--run-dir", str(busy)], f"{busy} already holds a run; resume it with"),
        (["train", "--resume", str(tmp_path / "nowhere")], f"{tmp_path / 'nowhere'}: no such checkpoint or run folder"),
        (["train", "--resume", str(empty_run)], "not a checkpoint (no model.safetensors) nor a run with checkpoints"),
        (["train", "--resume", str(busy), "lr=1"], "--resume continues a run with its saved config"),
        (["train"], "give a CONFIG (a preset name or a .yaml file) or --resume RUN_DIR"),
        # Out-of-range numbers (cli.check_ranges) for every command that takes them.
        (["train", "demo", "--max-steps", "-5"], "--max-steps must be at least 1, got -5"),
        (["train", "demo", "--max-steps", "0"], "--max-steps must be at least 1, got 0"),
        (["data", "build", "sudoku", "--train", "0", "--test", "0"], "train must be at least 1 when generating, got 0"),
        (["data", "build", "arc-1", "--tasks", "0"], "--tasks must be at least 1, got 0"),
        (["data", "show", str(data), "-n", "-3"], "-n must be at least 0, got -3"),
        (["eval", "runs/x", str(data), "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
        (["eval", "runs/x", str(data), "--segments", "0"], "--segments must be at least 1, got 0"),
        (["solve", "runs/x", "1234", "--steps", "-1"], "--segments must be at least 1, got -1"),  # the old spelling
        (["demo", "--max-steps", "-1"], "--max-steps must be at least 1, got -1"),
    ]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([argv for argv, _ in cases])], cwd=work, env=env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for (argv, message), result in zip(cases, json.loads(done.stdout), strict=True):
        assert result["rc"] == 2, result
        assert result["err"].startswith("error: ") and result["err"].count("\n") == 1 and message in result["err"], result
        assert result["out"] == "", result  # nothing printed, so no checkpoint folder named
        assert not result["torch"], f"torch was imported before refusing {argv}"
    assert list(work.iterdir()) == []  # nothing written


def test_library_calls_refuse_counts_below_one_too(data, tmp_path):
    """The CLI range-checks its options; the library functions behind it must not read 0 or -5 as "the default"."""
    from hrmkit.errors import HrmError
    from hrmkit.evaluate import evaluate
    from hrmkit.solve import solve

    trainer = Trainer(make_train_config(str(tiny_config(tmp_path, data))), run_dir=tmp_path / "run", progress=False)
    with pytest.raises(HrmError, match="^max_steps must be at least 1, got -5$"):
        trainer.fit(max_steps=-5)
    assert trainer.step == 0 and not (tmp_path / "run" / "checkpoints").exists()
    meta = trainer.dataset.metadata
    with pytest.raises(HrmError, match="^segments must be at least 1, got 0$"):
        evaluate(trainer.model, trainer.dataset["test"], meta, 8, trainer.rt.device, segments=0)
    with pytest.raises(HrmError, match="^segments must be at least 1, got 0$"):  # the old keyword, still accepted
        evaluate(trainer.model, trainer.dataset["test"], meta, 8, trainer.rt.device, steps=0)
    with pytest.raises(HrmError, match="^give segments or its old name steps, not both$"):
        evaluate(trainer.model, trainer.dataset["test"], meta, 8, trainer.rt.device, segments=2, steps=2)
    with pytest.raises(HrmError, match="^batch_size must be at least 1, got 0$"):
        evaluate(trainer.model, trainer.dataset["test"], meta, 0, trainer.rt.device)
    with pytest.raises(HrmError, match="^segments must be at least 1, got 0$"):
        solve(trainer.model, meta, "1234" * 4, segments=0)
    assert len(solve(trainer.model, meta, "1..." + "." * 12, steps=3).segments) == 3  # the old keyword
