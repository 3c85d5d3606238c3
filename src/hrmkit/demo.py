"""`hrm demo`: the newcomer's first run. Builds a small dataset, trains a small HRM on the CPU in a
few minutes, evaluates it on held-out puzzles and solves one of them on screen."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from hrmkit.config import make_train_config
from hrmkit.errors import HrmError
from hrmkit.solve import format_trace, solve
from hrmkit.train import Trainer
from hrmkit.viz import plot_run


def run_demo(out: str = "runs/demo", max_steps: int | None = None, quiet: bool = False) -> dict:
    started = time.perf_counter()
    out_path = Path(out)
    if out_path.exists():
        if not (out_path / "config.json").exists():
            raise HrmError(f"{out_path} exists and is not a run folder; pick another --out")
        shutil.rmtree(out_path)  # a demo always starts afresh
    cfg = make_train_config("demo", [f"run_dir={out_path}"])
    print(f"[1/4] dataset {cfg.data_path} (4x4 Sudoku: {cfg.data_preset})")
    trainer = Trainer(cfg, progress=not quiet)
    meta = trainer.dataset.metadata
    n_params = sum(p.numel() for p in trainer.model.parameters())
    a = cfg.arch
    print(f"[2/4] training HRM ({n_params:,} parameters: hidden {a.hidden_size}, {a.H_layers}+{a.L_layers} layers, "
          f"{a.H_cycles}x{a.L_cycles} cycles, up to {a.halt_max_steps} ACT segments) for {trainer.total_steps} steps on {trainer.rt.device}")
    summary = trainer.fit(max_steps=max_steps)
    trainer.close()
    train_minutes = summary["seconds"] / 60

    print(f"[3/4] evaluating on {meta.splits['test'].total_examples} held-out puzzles (never seen in training)")
    # fit() evaluates at its last step; evaluate here only when training stopped early (--max-steps).
    result = trainer.last_eval_result if summary["step"] == trainer.total_steps and trainer.last_eval_result else trainer.run_eval()
    m = result.metrics
    print(f"      exact accuracy {m['exact_accuracy']:.1%} (whole puzzle right), token accuracy {m['accuracy']:.1%}")
    print("      exact accuracy after each ACT segment: " + "  ".join(f"{v:.1%}" for v in result.exact_by_step))

    print("[4/4] solving a held-out puzzle, segment by segment ([x] = changed since the previous segment)")
    test = trainer.dataset["test"]
    index = int(np.random.default_rng().integers(test.num_examples))
    trace = solve(trainer.model, meta, np.asarray(test.inputs[index], dtype=np.int32))
    print(format_trace(trace, meta))
    plot = plot_run(out_path)
    total = (time.perf_counter() - started) / 60
    print(f"\ndone in {total:.1f} min (training {train_minutes:.1f} min). Curves: {plot}")
    print(f"next: hrm eval {out_path} {cfg.data_path}   |   hrm solve {out_path} --dataset {cfg.data_path} --index 3")
    return {"exact_accuracy": m["exact_accuracy"], "accuracy": m["accuracy"], "minutes": total, "run_dir": str(out_path)}
