"""Training loop, checkpoints and exact resume, evaluation and solving through the CLI."""

import json
import math
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hrmkit import checkpoint
from hrmkit.cli import main
from hrmkit.compile_policy import CPU_COMPILE_MIN_STEPS, cxx_compiler, resolve_compile
from hrmkit.config import TrainConfig, make_train_config
from hrmkit.data import build as B
from hrmkit.errors import HrmError
from hrmkit.evaluate import evaluate
from hrmkit.models import HRMConfig, TransformerConfig, TRMConfig, build_model
from hrmkit.runtime import keep_freed_memory
from hrmkit.solve import format_trace, from_pretrained, solve
from hrmkit.tasks import get_task
from hrmkit.train import Trainer


@pytest.fixture(scope="module")
def data4(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "s4"
    B.build(B.make_config("sudoku-4x4", train=200, test=40, num_aug=2), out, workers=1, progress=False)
    return out


def small_cfg(data, run_dir, **overrides) -> TrainConfig:
    arch = HRMConfig(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=3,
                      puzzle_emb_ndim=32, expansion=2.0)
    values = dict(data_path=str(data), arch=arch, global_batch_size=16, epochs=2, eval_interval=1, eval_max_examples=32,
                  lr=1e-3, lr_warmup_steps=5, lr_min_ratio=0.5, puzzle_emb_lr=1e-2, run_dir=str(run_dir), tensorboard=False, log_every=5)
    values.update(overrides)
    return TrainConfig(**values)


def _spread_q_head(trainer: Trainer, seed: int = 1) -> None:
    """A non-zero Q head: at init (weight 0, bias -5) every slot says "continue" and all halt together at
    halt_max_steps, so a fresh carry after a checkpoint would look the same as the saved one. Here most
    slots want to halt, so the exploration draws (the torch RNG) decide when many of them do."""
    g = torch.Generator().manual_seed(seed)
    q = trainer.model.core.q_head
    with torch.no_grad():
        q.weight.copy_(0.25 * torch.randn(q.weight.shape, generator=g))
        q.bias.copy_(torch.tensor([3.0, 0.0]))  # (halt, continue)


def _snapshot(trainer: Trainer) -> dict[str, object]:
    opt = {f"{name}.{k}": v.clone() for name, p in trainer.model.named_parameters() for k, v in trainer.optimizer.state[p].items()}
    return {"weights": {k: v.clone() for k, v in trainer.model.state_dict().items()},
            "carry": {k: v.clone() for k, v in trainer.carry.tensors().items()},
            "optimizer": opt, "sampler": json.dumps(trainer.sampler.state_dict(), sort_keys=True),
            "rng": torch.get_rng_state(), "step": trainer.step}


def _assert_same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a["step"] == b["step"] and a["sampler"] == b["sampler"]
    assert torch.equal(a["rng"], b["rng"]), "torch RNG streams diverged"
    for part in ("weights", "carry", "optimizer"):
        assert a[part].keys() == b[part].keys(), part
        for name in a[part]:
            assert torch.equal(a[part][name], b[part][name]), f"{part}: {name}"


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_resume_mid_act_with_slots_out_of_step_is_bit_exact(arch, data4, tmp_path):
    """Stop at step 7 with halt_max_steps 4, per-slot Q halting and exploration on, so at the checkpoint the
    slots sit at different segments: a resume that dropped the carry, the torch RNG (exploration draws),
    the sampler or the optimizer state would continue differently from the uninterrupted run. Compared bit for
    bit: every step's logged metrics, and at the end the weights, buffers, carry, optimizer, sampler and RNG."""
    common = dict(halt_max_steps=4, halt_exploration_prob=0.5, hidden_size=32, num_heads=2, L_layers=1, H_cycles=2, L_cycles=2,
                  puzzle_emb_ndim=32, expansion=2.0, forward_dtype="float32")
    model_cfg = TRMConfig(**common, puzzle_emb_len=1) if arch == "trm" else HRMConfig(**common, H_layers=1)
    stop, more = 7, 6

    def cfg(run: str) -> TrainConfig:
        return small_cfg(data4, tmp_path / run, arch=model_cfg, eval_interval=None, log_every=1)

    def logged(run: str) -> list[dict[str, float]]:
        # One row per step: that step's loss parts, halting count, accuracies (the timing column is dropped).
        rows = [json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rows]

    # The uninterrupted run (each Trainer reseeds the global RNG, so this one runs to the end first).
    straight = Trainer(cfg("a"), progress=False)
    _spread_q_head(straight)
    straight.fit(max_steps=stop + more)
    want = _snapshot(straight)
    del straight

    first = Trainer(cfg("b"), progress=False)
    _spread_q_head(first)
    first.fit(max_steps=stop)  # stops with a checkpoint at step 7
    steps, halted = first.carry.steps, first.carry.halted
    # The precondition that makes this test bite: slots out of step, some mid-example.
    assert len(set(steps.tolist())) >= 3 and halted.any() and not halted.all(), (steps, halted)
    del first

    resumed = Trainer(cfg("b"), resume=True, progress=False)
    assert resumed.step == stop
    resumed.fit(max_steps=more)
    a, b = logged("a"), logged("b")
    assert [r["step"] for r in b] == list(range(1, stop + more + 1))
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a == row_b, {k: (row_a[k], row_b.get(k)) for k in row_a if row_a[k] != row_b.get(k)} | {"step": row_a["step"]}
    _assert_same(want, _snapshot(resumed))
    # The puzzle-embedding table is trained (sign-SGD) and saved with the model.
    assert resumed.model.core.puzzle_emb.weights.abs().sum() > 0


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("arch", ["hrm", "trm", "transformer"])
def test_trainer_gives_every_parameter_once_and_the_config_to_the_optimizers(arch, data4, tmp_path):
    """AdamATan2 gets each model parameter exactly once with the config's betas and weight decay (values unlike
    the optimizer's defaults, so a dropped argument shows); sign-SGD gets the puzzle table with its own lr and wd."""
    sizes = dict(hidden_size=32, num_heads=2, puzzle_emb_ndim=32, expansion=2.0, halt_max_steps=3)
    model_cfg = {"hrm": HRMConfig(**sizes, H_layers=1, L_layers=1),
                 "trm": TRMConfig(**sizes, L_layers=1, H_cycles=2, L_cycles=2, puzzle_emb_len=1),
                 "transformer": TransformerConfig(**sizes, num_layers=2)}[arch]
    cfg = small_cfg(data4, tmp_path / "run", arch=model_cfg, eval_interval=None, lr=2e-3, lr_warmup_steps=4, beta1=0.8, beta2=0.99,
                    weight_decay=0.37, puzzle_emb_lr=3e-2, puzzle_emb_weight_decay=0.23)
    trainer = Trainer(cfg, progress=False)
    handed = [p for group in trainer.optimizer.param_groups for p in group["params"]]
    params = dict(trainer.model.named_parameters())
    assert len({id(p) for p in handed}) == len(handed), "a parameter is in the optimizer twice"
    missing = [n for n, p in params.items() if all(p is not q for q in handed)]
    assert not missing and len(handed) == len(params), missing
    for group in trainer.optimizer.param_groups:
        assert group["betas"] == (0.8, 0.99) and group["weight_decay"] == 0.37
    table = trainer.model.core.puzzle_emb
    assert len(trainer.sparse.embeddings) == 1 and trainer.sparse.embeddings[0] is table
    assert trainer.sparse.weight_decay == 0.23
    assert all(table.weights is not p for p in handed)  # the table is sign-SGD's alone (a buffer, not an Adam parameter)

    trainer.train_step()
    # Step 1 of a 4-step warmup: both rates at a quarter of their base, and every parameter took a step.
    assert all(math.isclose(g["lr"], 2e-3 / 4) for g in trainer.optimizer.param_groups)
    assert math.isclose(trainer.sparse.lr, 3e-2 / 4)
    assert all(float(trainer.optimizer.state[p]["step"]) == 1 for p in params.values())
    # From a zero table, one sign-SGD step puts every touched entry at -lr * sign(g): magnitude exactly lr.
    moved = table.weights[table.weights != 0]
    assert moved.numel() > 0 and torch.allclose(moved.abs(), torch.tensor(3e-2 / 4))


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_ema_runs_save_both_weights_evaluate_with_the_shadow_and_resume_exactly(arch, data4, tmp_path):
    model_cfg = {"trm": TRMConfig(hidden_size=32, num_heads=2, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=3, puzzle_emb_ndim=32,
                                  expansion=2.0, puzzle_emb_len=1)}.get(arch, small_cfg(data4, tmp_path).arch)
    cfg = small_cfg(data4, tmp_path / "a", arch=model_cfg, ema=True, ema_rate=0.8)
    straight = Trainer(cfg, progress=False)
    straight.fit(max_steps=10)
    first = Trainer(cfg, run_dir=tmp_path / "b", progress=False)
    first.fit(max_steps=4)
    del first
    resumed = Trainer(cfg, run_dir=tmp_path / "b", resume=True, progress=False)
    resumed.fit(max_steps=6)
    for name, p in straight.model.state_dict().items():
        assert torch.equal(p, resumed.model.state_dict()[name]), name
    for name, shadow in straight.ema.shadow.items():
        assert torch.equal(shadow, resumed.ema.shadow[name]), name
        assert not torch.equal(shadow, dict(straight.model.named_parameters())[name])  # the average lags the raw weights
    # model.safetensors holds the EMA weights (what inference uses), raw_model.safetensors the raw ones (to resume).
    ckpt = checkpoint.resolve(tmp_path / "a")
    inference, raw = load_file(str(ckpt / "model.safetensors")), load_file(str(ckpt / "raw_model.safetensors"))
    for name, shadow in straight.ema.shadow.items():
        assert torch.equal(inference[name], shadow) and torch.equal(raw[name], straight.model.state_dict()[name])
    # Evaluation inside training and from_pretrained both use the shadow; the raw weights stay in the trainer.
    loaded, meta = from_pretrained(tmp_path / "a")
    split = straight.dataset["test"]
    from_disk = evaluate(loaded, split, meta, 16, torch.device("cpu"), max_examples=32)
    assert straight.run_eval().metrics == from_disk.metrics
    assert torch.equal(dict(straight.model.named_parameters())[name], raw[name])


def test_checkpoint_files_and_atomicity(data4, tmp_path):
    trainer = Trainer(small_cfg(data4, tmp_path / "run"), progress=False)
    trainer.fit(max_steps=3)
    ckpt = checkpoint.resolve(tmp_path / "run")
    assert ckpt.name == "step_3"
    names = sorted(p.name for p in ckpt.iterdir())
    assert names == ["carry.safetensors", "config.json", "model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"]
    weights = load_file(str(ckpt / "model.safetensors"))
    assert "core.puzzle_emb.weights" in weights and "core.H_init" in weights
    assert not list(ckpt.parent.glob(".*tmp*"))  # no temp folders left behind
    state = json.loads((ckpt / "state.json").read_text())
    assert state["step"] == 3 and "sampler" in state
    trainer.close()  # an open Trainer holds its folder: another one there is refused as "in use" before this check
    with pytest.raises(HrmError, match="already holds a run"):
        Trainer(small_cfg(data4, tmp_path / "run"), progress=False)


def test_metrics_and_tensorboard_logs(data4, tmp_path):
    trainer = Trainer(small_cfg(data4, tmp_path / "run", tensorboard=True, epochs=1), progress=False)
    summary = trainer.fit()
    trainer.close()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_rows = [r for r in rows if r["split"] == "train"]
    eval_rows = [r for r in rows if r["split"] == "eval"]
    assert train_rows and eval_rows
    assert {"loss", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lr", "steps_per_s"} <= set(train_rows[0])
    assert {"exact_at_step_1", "exact_at_step_3"} <= set(eval_rows[-1])
    assert summary["step"] == trainer.total_steps == int(200 / 16)  # an epoch = one pass over the groups
    # The final evaluation is kept (with its per-segment curve) so callers need not run it again.
    assert trainer.last_eval_result is not None and trainer.last_eval_result.metrics == summary["eval"]
    assert len(trainer.last_eval_result.exact_by_step) == 3
    assert list((tmp_path / "run" / "tensorboard").iterdir())


def test_cli_train_eval_solve_and_errors(data4, tmp_path, capsys):
    run = tmp_path / "cli-run"
    args = ["train", "cpu-sudoku-4x4", f"data_path={data4}", "data_preset=null", "arch.hidden_size=32", "arch.num_heads=2",
            "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16", "epochs=1", "tensorboard=false", "--run-dir", str(run), "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "eval exact accuracy" in out and (run / "curves.png").exists()
    assert main(["eval", str(run), str(data4), "--segments", "2", "--out", str(tmp_path / "r.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["segments"] == 2 and len(report["exact_by_segment"]) == 2 and 0 <= report["exact_accuracy"] <= 1
    assert main(["solve", str(run), "1...", "--segments", "2"]) == 2
    assert "bad puzzle: expected 81 cells (or 16 or 36), got 4" in capsys.readouterr().err
    assert main(["solve", str(run), "12..34.........."]) == 0
    assert "segment 1" in capsys.readouterr().out
    assert main(["solve", str(run), "--dataset", str(data4), "--index", "3", "--final-only"]) == 0
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # already finished: nothing to do, no error
    for bad, message in [
        (["train", "demo", "arch.hidden=3"], "unknown setting 'arch.hidden'"),
        (["train", "demo", "data_path=/nonexistent", "data_preset=null"], "dataset /nonexistent not found"),
        (["eval", str(tmp_path / "nothing"), str(data4)], "no such checkpoint or run folder"),
        (["train", "demo", "--resume", str(run)], "give no CONFIG"),
    ]:
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err


def test_solve_api_trace(data4, tmp_path):
    trainer = Trainer(small_cfg(data4, tmp_path / "run"), progress=False)
    trainer.fit(max_steps=2)
    model, meta = from_pretrained(tmp_path / "run")
    puzzle = np.asarray(trainer.dataset["test"].inputs[0], dtype=np.int32)
    trace = solve(model, meta, puzzle, steps=4)
    assert [s.segment for s in trace.segments] == [1, 2, 3, 4]
    assert all(s.prediction.shape == (16,) and 0 <= s.q_halt_prob <= 1 for s in trace.segments)
    text = format_trace(trace, meta)
    assert "puzzle:" in text and "segment 4" in text
    label = np.asarray(trainer.dataset["test"].labels[0])
    assert get_task(meta.task).check_answer(puzzle, label, meta) is True
    assert get_task(meta.task).check_answer(puzzle, puzzle, meta) is False


def test_ctrl_c_stops_with_a_resumable_checkpoint(data4, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "hrmkit.cli", "train", "cpu-sudoku-4x4", f"data_path={data4}", "data_preset=null", "arch.hidden_size=32",
           "arch.num_heads=2", "arch.H_layers=1", "arch.L_layers=1", "global_batch_size=16", "epochs=10000", "eval_interval=null",
           "tensorboard=false", "log_every=1", "compile=false", "--run-dir", str(run), "--quiet"]  # auto would compile so long a run
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "error" not in err, err[-2000:]  # a stop that saved its work: 130, not an error
    assert "interrupted at step" in out and "hrm train --resume" in out
    step = json.loads((checkpoint.resolve(run) / "state.json").read_text())["step"]
    assert step >= 1
    assert main(["train", "--resume", str(run), "--max-steps", "2", "--quiet"]) == 0
    assert json.loads((checkpoint.resolve(run) / "state.json").read_text())["step"] == step + 2


def test_solve_a_maze_and_reject_wrong_sizes(tmp_path):
    from hrmkit.config import make_train_config
    from hrmkit.puzzles import maze as maze_lib

    data = tmp_path / "m9"
    B.build(B.make_config("maze-9x9", train=16, test=4), data, workers=1, progress=False)
    cfg = make_train_config("cpu-maze-9x9", [f"data_path={data}", "data_preset=null", "arch.hidden_size=32", "arch.num_heads=2",
                                             "arch.L_layers=1", "arch.halt_max_steps=2", "global_batch_size=8",
                                             f"run_dir={tmp_path / 'run'}", "tensorboard=false"])
    Trainer(cfg, progress=False).fit(max_steps=1)
    model, meta = from_pretrained(tmp_path / "run")
    r = maze_lib.generate(9, np.random.default_rng(5), min_path_length=8)
    trace = solve(model, meta, maze_lib.format_maze(r.maze))
    assert len(trace.segments) == 2 and trace.segments[-1].valid in (True, False)
    text = format_trace(trace, meta)
    assert "S" in text and "G" in text
    with pytest.raises(HrmError, match="this model solves 9x9 mazes, got 3x3"):
        solve(model, meta, "S #\n  #\n  G")
    with pytest.raises(HrmError, match="bad puzzle: invalid character 'x'"):
        solve(model, meta, "x" * 9)


def test_torch_compile_trains_like_eager(data4, tmp_path):
    eager = Trainer(small_cfg(data4, tmp_path / "eager", lr_warmup_steps=0), progress=False)
    eager.fit(max_steps=2)
    compiled = Trainer(small_cfg(data4, tmp_path / "compiled", lr_warmup_steps=0, compile=True), progress=False)
    compiled.fit(max_steps=2)
    a = load_file(str(checkpoint.resolve(tmp_path / "eager") / "model.safetensors"))
    b = load_file(str(checkpoint.resolve(tmp_path / "compiled") / "model.safetensors"))
    assert a.keys() == b.keys()  # compiling does not rename weights
    assert all(torch.equal(eager.model.state_dict()[k], a[k]) for k in a)  # the checkpoint holds the trained weights
    torch.manual_seed(0)
    m = eager.dataset.metadata
    init = build_model(eager.cfg.arch, m.vocab_size, m.seq_len, m.num_puzzle_identifiers).state_dict()
    assert any(not torch.equal(init[k], a[k]) for k in a)  # training moved the weights
    for k in a:
        # Fused kernels change rounding; AdamATan2 (steps up to lr) and the puzzle table's SignSGD (steps of exactly
        # puzzle_emb_lr) can turn that into a step of the other sign on ~zero gradients: allow two such flips over
        # the two steps (4 x that optimizer's lr), and no more. Seen on an Intel Xeon: one SignSGD flip, 0.0199.
        lr = eager.cfg.puzzle_emb_lr if k.startswith("core.puzzle_emb.") else eager.cfg.lr
        assert float((a[k] - b[k]).abs().max()) <= 4 * lr, k


def test_an_eager_training_run_never_imports_torch_dynamo(data4, tmp_path):
    """torch.optim.Optimizer's add_param_group and zero_grad import torch._dynamo on first call (sympy and ~800
    modules, ~70 MB of RSS); AdamATan2 runs them unwrapped, so an eager run stays without it (a fresh process: this
    one may have imported it for the compile tests)."""
    code = (
        "import sys\n"
        "from hrmkit.train import Trainer\n"
        "from hrmkit.config import TrainConfig\n"
        f"cfg = TrainConfig.model_validate({small_cfg(data4, tmp_path / 'run', compile=False).model_dump()!r})\n"
        "t = Trainer(cfg, progress=False)\n"
        "t.fit(max_steps=6)\n"
        "t.close()\n"
        "assert 'torch._dynamo' not in sys.modules, 'torch._dynamo was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)


@pytest.mark.skipif(not keep_freed_memory(False), reason="glibc only")
def test_a_cpu_trainer_keeps_freed_memory_for_the_next_step_until_closed(data4, tmp_path):
    def page_faults(n: int) -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            torch.empty(4 << 20).fill_(1.0)  # 16 MB, allocated and freed as an activation is
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    trainer = Trainer(small_cfg(data4, tmp_path / "run"), progress=False)
    try:
        page_faults(10)  # the heap settles in a few rounds
        assert page_faults(20) < 1000  # 20 x 4096 pages if each allocation faulted its pages in again
    finally:
        trainer.close()
    assert not trainer._kept_memory


@pytest.mark.parametrize(("value", "parsed"), [("auto", "auto"), ("true", True), ("false", False), ("True", True), ("'auto'", "auto"),
                                               ("'false'", False)])
def test_compile_setting_takes_auto_true_or_false(value, parsed):
    assert make_train_config("cpu-sudoku-4x4", [f"compile={value}"]).compile == parsed
    assert make_train_config("cpu-sudoku-4x4").compile == "auto"  # the default


@pytest.mark.parametrize(("value", "shown"), [("maybe", "'maybe'"), ("1", "1"), ("null", "None"), ("", "''")])
def test_a_bad_compile_setting_stops_hrm_train_in_one_line(value, shown, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "cpu-sudoku-4x4", f"compile={value}"]) == 2
    assert capsys.readouterr().err.strip() == f"error: compile: expected auto, true or false, got {shown}"
    assert list(tmp_path.iterdir()) == []


def test_compile_auto_compiles_long_cpu_runs_of_small_models_only(monkeypatch):
    cpu, small, big = torch.device("cpu"), HRMConfig(hidden_size=64, num_heads=4), HRMConfig()  # HRMConfig(): the 27M model
    long_run, short_run = CPU_COMPILE_MIN_STEPS, CPU_COMPILE_MIN_STEPS - 1
    assert resolve_compile(True, cpu, 1, big) == (True, "compile=true")  # forced either way
    assert resolve_compile(False, cpu, 10**6, small) == (False, "compile=false")
    assert resolve_compile("auto", cpu, long_run, small)[0] is (cxx_compiler() is not None)
    assert resolve_compile("auto", cpu, short_run, small) == (False, f"auto: eager ({short_run} steps < {long_run}: compiling would not "
                                                                     "pay for itself)")
    assert resolve_compile("auto", cpu, 10**6, big)[1] == "auto: eager (hidden_size 512 > 256: compiling gains nothing on the CPU)"
    assert resolve_compile("auto", torch.device("cuda"), 10**6, small)[0] is False  # not measured there
    assert resolve_compile("auto", torch.device("mps"), 10**6, small)[0] is False
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert resolve_compile("auto", cpu, 10**6, small) == (False, "auto: eager (no C++ compiler for torch.compile)")


def test_the_trainer_allocates_the_optimizer_state_before_the_first_step(data4, tmp_path):
    trainer = Trainer(small_cfg(data4, tmp_path / "a"), progress=False)
    params = list(trainer.model.parameters())
    assert params and all(float(trainer.optimizer.state[p]["step"]) == 0 for p in params)
    assert all(trainer.optimizer.state[p]["exp_avg_sq"].shape == p.shape for p in params)


def test_compile_auto_falls_back_to_eager_where_inductor_fails_and_forced_compile_does_not(data4, tmp_path, monkeypatch):
    import torch._dynamo.config as dynamo_config

    monkeypatch.setattr(dynamo_config, "suppress_errors", False)  # restored after the test
    monkeypatch.setattr("hrmkit.compile_policy.CPU_COMPILE_MIN_STEPS", 1)
    monkeypatch.setattr("hrmkit.compile_policy.cxx_compiler", lambda: "g++")  # the rule's answer, whatever this machine has
    forced = Trainer(small_cfg(data4, tmp_path / "forced", compile=True), progress=False)
    assert forced.decide_compile(10) is True and dynamo_config.suppress_errors is False  # compile=true: failures stop the run
    auto = Trainer(small_cfg(data4, tmp_path / "auto"), progress=False)
    assert auto.decide_compile(10) is True and auto.compile_reason.startswith("auto: compiled")
    assert dynamo_config.suppress_errors is True  # auto: inductor failures run that code eager with a warning


def test_the_trainer_decides_compile_once_for_the_steps_it_will_run(data4, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("hrmkit.compile_policy.CPU_COMPILE_MIN_STEPS", 5)
    trainer = Trainer(small_cfg(data4, tmp_path / "a"), progress=False)
    assert trainer.total_steps >= 5 and trainer.compiled is None
    trainer.fit(max_steps=2)  # 2 steps to run in this process: eager, whatever the rest of the run
    assert trainer.compiled is False and trainer.compile_reason.startswith("auto: eager (2 steps < 5")
    assert trainer.decide_compile(10**6) is False  # decided once
    trainer.close()
    assert main(["train", "--resume", str(tmp_path / "a"), "--max-steps", "1", "--quiet"]) == 0
    assert "; auto: eager (1 steps < 5: compiling would not pay for itself)" in capsys.readouterr().out  # said on the first line


def test_demo_and_plot_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    from hrmkit.data import build as B

    # A small stand-in for the demo's 6x6 dataset (the demo builds the full one only when none is there).
    B.build(B.make_config("sudoku-6x6", train=64, test=40, num_aug=1), tmp_path / "data" / "sudoku-6x6", workers=1, progress=False)
    assert main(["demo", "--max-steps", "5", "--quiet", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    index = int(np.random.default_rng(3).integers(40))  # the seed picks the puzzle solved at the end
    assert f"[4/4] solving held-out puzzle #{index}" in out and "exact accuracy" in out and "segment 8" in out
    assert "thinking for 8 ACT segments (training used 2)" in out  # test-time compute beyond the training depth
    # 5 steps cannot solve a 6x6 Sudoku: the demo must say so plainly, with the right solution
    assert f"WRONG: the model's answer differs from the known solution of puzzle #{index}" in out and "RIGHT" not in out
    assert (tmp_path / "runs" / "demo" / "curves.png").exists() and (tmp_path / "data" / "sudoku-6x6" / "metadata.json").exists()
    assert (tmp_path / "runs" / "demo" / ".hrm-demo").is_file()  # marked: a later demo may replace it
    assert main(["plot", "runs/demo", "--out", "c.png"]) == 0 and (tmp_path / "c.png").stat().st_size > 1000
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main(["demo", "--out", "mine"]) == 2
    assert "mine is a folder that hrm demo did not write (not empty); pick another --out" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "mine"
    assert main(["demo", "--max-steps", "-1"]) == 2  # refused before anything is trained or evaluated
    assert "--max-steps must be at least 1" in capsys.readouterr().err
    assert main(["plot", "mine"]) == 2
    assert "mine: not a run folder (no metrics.jsonl nor config.json)" in capsys.readouterr().err


def test_demo_verdict_compares_every_scored_cell_with_the_solution():
    from hrmkit.demo import verdict

    label = np.array([2, 3, 4, 0])  # the last cell is not scored (ignore id 0)
    assert verdict(np.array([2, 3, 4, 9]), label, ignore_label_id=0) == (True, 0, 3)
    assert verdict(np.array([2, 5, 6, 0]), label, ignore_label_id=0) == (False, 2, 3)


def test_hrm_train_says_first_which_data_it_trains_on(data4, tmp_path, capsys):
    from hrmkit import puzzles
    from hrmkit.config import make_train_config
    from hrmkit.preflight import data_lines

    common = ["cpu-sudoku-4x4", f"data_path={data4}", "--max-steps", "1", "--quiet"]
    assert main(["train", *common, "--run-dir", str(tmp_path / "a")]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"data {data4}: sudoku, made by hrmkit's generator: random full grids, clues removed in random order while the " \
                       "solution stays unique (minimal puzzles)"
    assert first[1].startswith("run ")  # a 4x4 Sudoku has no paper's files to point at
    # A preset named after a paper's dataset, trained on what hrmkit generated: the route to the official files is named.
    assert main(["train", *common, "data_preset=sudoku-extreme-1k", "--run-dir", str(tmp_path / "b")]) == 0
    hint = capsys.readouterr().out.splitlines()[1]
    assert hint == ("  generated by hrmkit, not the paper's files: for those, `hrm data build sudoku --csv-dir DIR --out "
                    "data/sudoku-extreme-1k-official`, then train with data_path=data/sudoku-extreme-1k-official")
    # Imported data says which files.
    rng = np.random.default_rng(0)
    csv = tmp_path / "csv"
    csv.mkdir()
    for split in ("train", "test"):
        rows = [puzzles.sudoku.generate(9, rng, "any") for _ in range(3)]
        (csv / f"{split}.csv").write_text("source,question,answer,rating\n" + "".join(
            f"s,{puzzles.sudoku.to_string(p)},{puzzles.sudoku.to_string(s)},{r.backtracks}\n" for p, s, r in rows))
    B.build(B.make_config("sudoku", csv_dir=str(csv), train=3, num_aug=0), tmp_path / "official", workers=1, progress=False)
    cfg = make_train_config("sudoku-extreme-1k", [f"data_path={tmp_path / 'official'}"])
    (line,) = data_lines(cfg)
    assert line.startswith(f"data {tmp_path / 'official'}: sudoku, made by import from {csv.resolve()}: train.csv (sha256 ")
