"""Run folders: one process writes into a run at a time, a resume trains on with the checkpoint's config and dataset
(or records what it accepted), a demo replaces only its own folders, Ctrl-C is not an error, and a torn metrics line
does not stop a plot."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file
from test_faults import PROBE, env, tiny_config
from tiny_checkpoint import make_data

from hrmkit import checkpoint, runfolder
from hrmkit.cli import main
from hrmkit.config import make_train_config
from hrmkit.data import build as B
from hrmkit.errors import HrmError
from hrmkit.train import Trainer


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_data(tmp_path_factory.mktemp("data") / "s4", num_aug=0, train=40, test=8)


@pytest.fixture(scope="module")
def other_data(tmp_path_factory) -> Path:
    """Another dataset of the same shape as ``data`` (other puzzles): a model of one runs on the other."""
    return make_data(tmp_path_factory.mktemp("data") / "s4", num_aug=0, train=40, test=8, seed=5)


def trained_run(tmp_path: Path, data: Path, steps: int = 5, **overrides) -> Path:
    run = tmp_path / "run"
    cfg = make_train_config(str(tiny_config(tmp_path, data, **overrides)))
    with Trainer(cfg, run_dir=run, progress=False) as trainer:
        trainer.fit(max_steps=steps)
    return run


def probe(argvs: list[list[str]], cwd: Path) -> list[dict]:
    """Run several `hrm` commands in one other process (see test_faults.PROBE): rc, out, err of each."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(argvs)], cwd=cwd, env=env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def one_error_line(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err.removeprefix("error: ").rstrip("\n")


def edit_run_config(run: Path, **changes) -> None:
    payload = json.loads((run / "config.json").read_text())
    payload["config"].update(changes)
    (run / "config.json").write_text(json.dumps(payload, indent=2))


# --------------------------------------------------------------------------- one process per run folder


def test_a_run_folder_being_trained_refuses_a_second_training_process(data, tmp_path):
    run = trained_run(tmp_path, data)
    holder = Trainer(make_train_config(str(tiny_config(tmp_path, data))), run_dir=run, resume=True, progress=False)
    try:
        lock = json.loads((run / "run.lock").read_text())
        assert lock["pid"] == os.getpid() and lock["started"]
        results = probe([["train", "--resume", str(run), "--quiet"],
                         ["train", str(tmp_path / "tiny.yaml"), "--run-dir", str(run), "--quiet"],
                         ["eval", str(run), str(data), "--quiet"]], tmp_path)
        for result in results[:2]:
            assert result["rc"] == 2 and result["out"] == "", result
            assert re.fullmatch(rf"{re.escape(str(run))} is in use by pid {os.getpid()} \(.+, started at {lock['started']}\): "
                                "one process writes into a run folder at a time", one_error_line(result["err"])), result
            assert not result["torch"]  # refused before the slow import
        # Evaluating only reads the complete checkpoint `latest` names; its report goes into that checkpoint's folder.
        assert results[2]["rc"] == 0, results[2]
        assert (run / "checkpoints" / "step_5" / f"eval-{data.name}-test.json").is_file()
        # A second Trainer in this process is refused too, and says why.
        with pytest.raises(runfolder.RunInUse, match=r"in use by this process \(a Trainer on it is still open: close\(\) it first\)$"):
            Trainer(make_train_config(str(tiny_config(tmp_path, data))), run_dir=run, resume=True, progress=False)
        assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_5"]
        assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [5]
    finally:
        holder.close()
    # Released on close: the next resume takes the folder.
    assert main(["train", "--resume", str(run), "--max-steps", "1", "--quiet"]) == 0


def test_the_lock_message_names_the_command_as_typed(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/venv/bin/hrm", "train", "my config.yaml", "--run-dir", "r"])
    assert runfolder.command_line() == "hrm train 'my config.yaml' --run-dir r"
    with runfolder.RunLock.acquire(tmp_path / "r"):
        info = json.loads((tmp_path / "r" / "run.lock").read_text())
        assert info["command"] == "hrm train 'my config.yaml' --run-dir r"
    # Released: a look finds it free, and the file stays (deleting it would race the next holder).
    runfolder.check_not_in_use(tmp_path / "r")
    assert (tmp_path / "r" / "run.lock").is_file()


def test_two_runs_started_in_the_same_second_under_the_default_name_get_a_folder_each(data, tmp_path, monkeypatch):
    import hrmkit.preflight as preflight

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(preflight.time, "strftime", lambda fmt: "20250101-120000")
    cfg = make_train_config(str(tiny_config(tmp_path, data)))
    with Trainer(cfg, progress=False) as first, Trainer(cfg, progress=False) as second:
        assert first.run_dir == Path("runs/s4-hrm-20250101-120000")
        assert second.run_dir == Path("runs/s4-hrm-20250101-120000-2")


def test_a_start_that_fails_leaves_no_folder_behind(tmp_path):
    cfg = make_train_config("demo", [f"data_path={tmp_path / 'nowhere'}", "data_preset=null"])
    with pytest.raises(HrmError, match="not found"):
        Trainer(cfg, run_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    runfolder.RunLock.acquire(tmp_path / "run").release()  # and the lock was released


def test_a_new_run_is_refused_where_a_killed_run_logged_but_saved_nothing(data, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"step": 5, "split": "train", "loss": 1.0}\n')
    assert main(["train", str(tiny_config(tmp_path, data)), "--run-dir", str(run), "--quiet"]) == 2
    assert (run / "metrics.jsonl").read_text() == '{"step": 5, "split": "train", "loss": 1.0}\n'  # not mixed with a new run's


def test_bad_run_folders_are_refused_in_one_line_before_torch_is_imported(data, tmp_path):
    run = trained_run(tmp_path, data)
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "killed").mkdir()
    (tmp_path / "killed" / "metrics.jsonl").write_text('{"step": 5, "split": "train", "loss": 1.0}\n')
    config = str(tmp_path / "tiny.yaml")
    cases = [
        (["train", config, "--run-dir", str(tmp_path / "a-file")], f"{tmp_path / 'a-file'} is a file, not a run folder; pick another run_dir"),
        (["train", config, "--run-dir", str(tmp_path / "a-file" / "run")], f"{tmp_path / 'a-file'} is a file, not a folder"),
        (["train", config, "--run-dir", str(tmp_path / "killed")], "holds the metrics.jsonl of an earlier run that wrote no checkpoint"),
        (["train", "--resume", str(run / "checkpoints" / "step_5")],
         f"{run / 'checkpoints' / 'step_5'} is a checkpoint, not a run folder; resume its run (from its newest checkpoint): "
         f"hrm train --resume {run}"),
        (["train", "--resume", str(run), "lr=1"], "to change a setting, edit RUN_DIR/config.json and resume with --accept-changes"),
        (["train", config, "--accept-changes"], "--accept-changes goes with --resume RUN_DIR"),
        (["train", config, f"data_path={tmp_path / 'killed'}", "data_preset=sudoku-4x4"],
         f"{tmp_path / 'killed'} is not a dataset (no metadata.json), so data_preset sudoku-4x4 cannot be built there"),
    ]
    results = probe([argv for argv, _ in cases], tmp_path)
    for (argv, message), result in zip(cases, results, strict=True):
        assert result["rc"] == 2 and result["out"] == "" and message in one_error_line(result["err"]), result
        assert not result["torch"], argv
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["latest", "step_5"]  # nothing written into the checkpoint


def test_a_run_resumes_only_with_the_number_of_processes_it_was_trained_with(data, tmp_path):
    run = trained_run(tmp_path, data)
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps([["train", "--resume", str(run)]])], cwd=tmp_path,
                          env={**env(), "WORLD_SIZE": "2", "RANK": "0"}, capture_output=True, text=True, timeout=120)
    (result,) = json.loads(done.stdout)
    assert one_error_line(result["err"]) == (f"{run} was trained by 1 process, this is 2; resume it with the same number "
                                             f"(hrm train --resume {run})") and not result["torch"]


# --------------------------------------------------------------------------- a resume with an edited config or another dataset


def test_a_resume_refuses_an_edited_config_json_and_keeps_the_edit(data, tmp_path, capsys):
    run = trained_run(tmp_path, data)
    edit_run_config(run, lr=0.002, epochs=20)
    edited = (run / "config.json").read_text()
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == (f"{run / 'config.json'} differs from the checkpoint's config (step_5): "
                                                       "epochs 10 -> 20, lr 0.001 -> 0.002; to train on with the edited values, "
                                                       "add --accept-changes")
    assert (run / "config.json").read_text() == edited and checkpoint.resolve(run).name == "step_5"
    # The library refuses alike.
    from hrmkit.train import Trainer

    with pytest.raises(runfolder.ResumeChanged, match="epochs 10 -> 20, lr 0.001 -> 0.002"):
        Trainer(runfolder.resume_config(run), run_dir=run, resume=True, progress=False)


def test_accepted_changes_are_trained_with_and_recorded(data, tmp_path, capsys):
    run = trained_run(tmp_path, data)
    edit_run_config(run, lr=0.002, epochs=20, log_every=1)
    assert main(["train", "--resume", str(run), "--max-steps", "2", "--quiet", "--accept-changes"]) == 0
    out = capsys.readouterr().out
    assert "100 steps (resuming at 5)" in out  # 20 epochs of 5 steps
    assert f"changed since the checkpoint, recorded in {run / 'changes.jsonl'}: epochs 10 -> 20, lr 0.001 -> 0.002, log_every 5 -> 1" in out
    (record,) = runfolder.read_changes(run)
    assert record["step"] == 5 and record["checkpoint"] == "step_5" and record["accepted_changes"] is True
    assert record["changes"] == [{"key": "epochs", "old": 10, "new": 20}, {"key": "lr", "old": 0.001, "new": 0.002},
                                 {"key": "log_every", "old": 5, "new": 1}]
    cfg, _ = checkpoint.read_config(run)
    assert checkpoint.resolve(run).name == "step_7" and (cfg.lr, cfg.epochs, cfg.log_every) == (0.002, 20, 1)
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [5, 6, 7]
    # Once checkpointed, the edited values are the run's: the next resume needs no flag.
    assert main(["train", "--resume", str(run), "--max-steps", "1", "--quiet"]) == 0


def test_harmless_edits_are_taken_without_the_flag_and_recorded(data, tmp_path, capsys):
    run = trained_run(tmp_path, data)
    moved = tmp_path / "moved"
    shutil.copytree(data, moved)  # the same dataset elsewhere: the same content hash
    edit_run_config(run, log_every=1, checkpoint_every=1, data_path=str(moved))
    assert main(["train", "--resume", str(run), "--max-steps", "1", "--quiet"]) == 0
    assert f'changed since the checkpoint, recorded in {run / "changes.jsonl"}: data_path "{data}" -> "{moved}", ' \
           "checkpoint_every 5 -> 1, log_every 5 -> 1\n" in capsys.readouterr().out
    (record,) = runfolder.read_changes(run)
    assert record["accepted_changes"] is False and [c["key"] for c in record["changes"]] == ["data_path", "checkpoint_every", "log_every"]


def test_a_resume_refuses_another_dataset_at_data_path_unless_accepted(data, other_data, tmp_path, capsys):
    swapped = tmp_path / "mine"
    shutil.copytree(data, swapped)
    run = trained_run(tmp_path, swapped)
    shutil.rmtree(swapped)
    shutil.copytree(other_data, swapped)  # data_path now holds other puzzles of the same shape
    saved_hash = checkpoint.read_config(run)[1].content_hash
    other_hash = json.loads((other_data / "metadata.json").read_text())["content_hash"]
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == (f"the dataset at {swapped} is not the one step_5 trained on (content hash "
                                                       f"{other_hash[:12]}, the checkpoint's {saved_hash[:12]}); to train on with "
                                                       "this dataset, add --accept-changes")
    # The trainer checks it too (the library path, and a dataset built from data_preset after the CLI looked).
    with pytest.raises(runfolder.ResumeChanged, match="is not the one step_5 trained on"):
        Trainer(runfolder.resume_config(run), run_dir=run, resume=True, progress=False)
    assert main(["train", "--resume", str(run), "--max-steps", "1", "--quiet", "--accept-changes"]) == 0
    (record,) = runfolder.read_changes(run)
    assert {"key": "dataset", "old": saved_hash, "new": other_hash, "where": str(swapped)} in record["changes"]
    # The new dataset's sampler starts afresh (the saved position was in the other dataset's order).
    state = checkpoint.read_state(run)
    assert state["step"] == 6 and state["sampler"]["epoch"] == 0 and state["sampler"]["cursor"] == 8


def test_an_accepted_batch_size_or_ema_change_resumes(data, tmp_path):
    run = trained_run(tmp_path, data, ema=True, ema_rate=0.5)
    saved = checkpoint.resolve(run)
    raw = load_file(str(saved / "raw_model.safetensors"))
    cfg = runfolder.resume_config(run).model_copy(update={"global_batch_size": 16, "ema": False})
    with Trainer(cfg, run_dir=run, resume=True, progress=False, accept_changes=True) as trainer:
        # The raw weights train on (model.safetensors of an EMA run holds the average), with a fresh carry of 16 slots.
        for name, value in trainer.model.state_dict().items():
            assert (value == raw[name]).all(), name
        assert trainer.carry is None
        trainer.fit(max_steps=1)
        assert trainer.carry.steps.shape == (16,)


# --------------------------------------------------------------------------- Ctrl-C


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_saves_and_exits_128_plus_the_signal_with_the_resume_command_and_no_error(signum, data, tmp_path):
    run = tmp_path / "run"
    config = tiny_config(tmp_path, data, epochs=100000, log_every=10**6, checkpoint_every=20, compile=False)  # logs nothing before the stop
    child = subprocess.Popen([sys.executable, "-m", "hrmkit.cli", "train", str(config), "--run-dir", str(run), "--quiet"], cwd=tmp_path,
                             env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not (run / "checkpoints" / "latest").exists():  # written inside the training loop: Ctrl-C is handled there
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "no checkpoint written"
            time.sleep(0.05)
        child.send_signal(signum)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 128 + signum, (out, err)  # 130 for Ctrl-C, 143 for SIGTERM: what a shell reports for them
    assert "error" not in err, err
    step = checkpoint.read_state(run)["step"]
    by = "" if signum == signal.SIGINT else " by SIGTERM"
    assert f"interrupted{by} at step {step}; continue with: hrm train --resume {run}\n" in out
    assert step >= 20 and (run / "checkpoints" / "latest").read_text() == f"step_{step}"  # the stop saved its own step
    assert not (run / "metrics.jsonl").exists() and (run / "curves.png").stat().st_size > 1000  # an empty figure that says so
    runfolder.check_not_in_use(run)  # released


# --------------------------------------------------------------------------- hrm plot


def test_plot_skips_a_torn_last_metrics_line_with_a_warning(data, tmp_path, capsys):
    run = trained_run(tmp_path, data, steps=10)
    metrics = run / "metrics.jsonl"
    metrics.write_text(metrics.read_text() + '{"step": 15, "split": "tr')
    assert main(["plot", str(run)]) == 0
    out, err = capsys.readouterr()
    assert err == f"warning: {metrics}: line 3 is cut short (the run was killed while writing it); skipped\n"
    assert out == f"{run / 'curves.png'}\n"


def test_plot_names_a_damaged_line_in_the_middle(data, tmp_path, capsys):
    run = trained_run(tmp_path, data, steps=10)
    metrics = run / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{not json", lines[1]]) + "\n")
    assert main(["plot", str(run)]) == 2
    assert one_error_line(capsys.readouterr().err) == f"{metrics}: line 2 is not a metrics record (damaged); fix or delete that line"


def test_plot_of_a_run_that_logged_nothing_draws_an_empty_figure(data, tmp_path, capsys):
    run = tmp_path / "run"
    Trainer(make_train_config(str(tiny_config(tmp_path, data))), run_dir=run, progress=False).close()  # started, nothing logged
    assert (run / "config.json").exists() and not (run / "metrics.jsonl").exists()
    assert main(["plot", str(run)]) == 0 and (run / "curves.png").stat().st_size > 1000
    assert main(["plot", str(tmp_path / "nowhere")]) == 2
    assert one_error_line(capsys.readouterr().err) == f"{tmp_path / 'nowhere'}: no such run folder"


# --------------------------------------------------------------------------- hrm demo and preset names


@pytest.fixture
def no_demo_training(monkeypatch):
    """Fail loudly should a test's demo get as far as training (these tests are about what happens before)."""
    import hrmkit.demo as demo

    def refuse(*args, **kwargs):
        raise AssertionError("the demo went on to train")

    monkeypatch.setattr(demo, "Trainer", refuse)


@pytest.mark.parametrize("what", ["training run", "other folder", "file"])
def test_a_demo_refuses_to_replace_what_it_did_not_write(what, data, tmp_path, monkeypatch, capsys, no_demo_training):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    if what == "training run":
        shutil.copytree(trained_run(tmp_path, data), out)
        message = f"{out} holds a training run that hrm demo did not write; pick another --out (a demo replaces only its own folders)"
    elif what == "other folder":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        message = f"{out} is a folder that hrm demo did not write (not empty); pick another --out"
    else:
        out.write_text("mine")
        message = f"{out} is a file, not a demo folder; pick another --out"
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert main(["demo", "--out", str(out), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == message
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before  # nothing deleted, nothing built


def test_a_demo_replaces_its_own_folder_unless_a_demo_is_writing_it(tmp_path, monkeypatch, capsys):
    import hrmkit.demo as demo

    monkeypatch.chdir(tmp_path)
    # A small stand-in for the demo's dataset (as in test_train), and an earlier demo's folder.
    B.build(B.make_config("sudoku-6x6", train=16, test=8, num_aug=0), tmp_path / "data" / "sudoku-6x6", workers=1, progress=False)
    out = tmp_path / "runs" / "demo"
    (out / "checkpoints" / "step_9").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / demo.DEMO_MARK).write_text("")
    seen = {}
    monkeypatch.setattr(demo, "_train_and_show", lambda trainer, *args: seen.update(run=sorted(p.name for p in out.iterdir())) or {})
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from hrmkit.runfolder import RunLock; "
                               f"lock = RunLock.acquire({str(out)!r}, 'hrm demo'); print('locked', flush=True); sys.stdin.read()"],
                              env=env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        assert main(["demo", "--quiet"]) == 2
        assert one_error_line(capsys.readouterr().err).startswith(f"runs/demo is in use by pid {holder.pid} (hrm demo, started at ")
        assert (out / "checkpoints" / "step_9").is_dir()
    finally:
        holder.communicate("")  # closes its stdin: it exits and the kernel drops its lock
    assert main(["demo", "--quiet"]) == 0
    assert seen["run"] == [".hrm-demo", "config.json", "run.lock", "tensorboard"]  # the old checkpoints went, the new run started marked
    runfolder.check_not_in_use(out)  # released when the demo ends


def test_a_folder_named_like_a_preset_does_not_shadow_the_preset(data, tmp_path, monkeypatch, capsys, no_demo_training):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # `hrm train demo` and `hrm demo` in this folder used to read it as the config file
    (tmp_path / "cpu-sudoku-4x4").write_text("lr: 5\n")
    assert make_train_config("demo").data_preset == "sudoku-6x6"
    assert make_train_config("cpu-sudoku-4x4").lr != 5
    (tmp_path / "file").write_text("x")
    assert main(["demo", "--out", "file"]) == 2  # the config loaded: the demo got as far as its --out
    assert one_error_line(capsys.readouterr().err) == "file is a file, not a demo folder; pick another --out"
    # A config file is named by a path: .yaml/.yml or a folder separator.
    (tmp_path / "mine").write_text(yaml.safe_dump({"data_path": str(data)}))
    assert make_train_config("./mine").data_path == str(data)
    with pytest.raises(HrmError, match=r"^unknown config 'mine'; presets: .*, or a \.yaml path; for the file mine here, give \./mine$"):
        make_train_config("mine")
    with pytest.raises(HrmError, match="^demo: a folder, not a config file$"):
        make_train_config("demo/")


def test_curves_that_cannot_be_drawn_do_not_fail_a_finished_run(data, tmp_path, monkeypatch, capsys):
    import hrmkit.viz as viz

    def full_disk(fig, out, dpi):
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr(viz, "save_figure", full_disk)
    run = tmp_path / "run"
    assert main(["train", str(tiny_config(tmp_path, data)), "--run-dir", str(run), "--max-steps", "5", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == (f"warning: curves not drawn (No space left on device: {run / 'curves.png'}); draw them later with `hrm plot {run}`\n")
    assert f"checkpoints in {run / 'checkpoints'}\n" in out and checkpoint.read_state(run)["step"] == 5


def test_a_run_folder_on_a_read_only_path_is_refused_before_training(data, tmp_path, monkeypatch, capsys):
    run = trained_run(tmp_path, data)
    locked = tmp_path / "ro"
    locked.mkdir()
    import tempfile

    from hrmkit import atomic

    real_mkdtemp = tempfile.mkdtemp

    def read_only_mkdtemp(*args: object, dir: str | os.PathLike, **kwargs: object) -> str:
        if Path(dir) in (locked, run):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(dir))
        return real_mkdtemp(*args, dir=dir, **kwargs)

    # As if on a read-only mount (a test running as root cannot make a folder it may not write into).
    monkeypatch.setattr(atomic.tempfile, "mkdtemp", read_only_mkdtemp)
    assert main(["train", str(tmp_path / "tiny.yaml"), "--run-dir", str(locked / "run"), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err) == f"cannot write into {locked} (Read-only file system); pick another run_dir"
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(f"cannot write into {run} (")
    assert list(locked.iterdir()) == [] and checkpoint.resolve(run).name == "step_5"
