"""The CPU benchmark suite: HRM vs TRM vs a same-size transformer, compute-matched, over seeds.

Each architecture trains on each task under two budgets, over several seeds, with one training loop
and one data format, and is scored on the held-out split:

- ``wall``: the same wall-clock training time. A short probe measures each model's steps/s first, so
  that its learning-rate schedule ends when its time does (a run that still overruns by 15% stops).
- ``steps``: the same number of optimizer steps (the same examples seen).

Evaluation time is not counted in the budget. Writes ``suite.json`` (every run, every eval point),
``suite.md`` (exact accuracy mean ± std with every seed's number, token accuracy, mean ACT steps at
test time, training examples/s, training time) and ``suite.png`` (exact accuracy against training
wall-clock time, one panel per task).

    python benchmarks/suite.py                  # the full suite: about an hour on 2 cores
    python benchmarks/suite.py --quick          # tiny data and budgets: a few minutes, for CI-sized checks
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Task: dataset preset + the overrides that make it the suite's data (1000 training puzzles, as in the papers).
# The maze is 9x9 (81 cells, paths of 8+ moves): on 2 cores a maze of 11 (121 cells) costs ~1.5x per step and one
# of 15 (225 cells) ~3x, which leaves too few steps in a 90-second budget to tell the models apart.
TASKS: dict[str, dict[str, Any]] = {
    "sudoku-6x6": dict(preset="sudoku-6x6", build=dict(train=1000, test=500, num_aug=16)),
    "maze-9x9": dict(preset="maze-9x9", build=dict(train=1000, test=200)),
}

# Same width (64), the same 2-block nets for the recursive models and a 4-block transformer, so that one ACT
# segment costs about the same: HRM 2x2 cycles of 2+2 blocks, TRM T=2 x (n=2 + 1) passes of a 2-block net.
# TRM keeps the paper's EMA; TRM-MLP only on the fixed-size Sudoku grid (the paper uses attention for mazes).
ARCHS: dict[str, dict[str, Any]] = {
    "hrm": dict(name="hrm", hidden_size=64, num_heads=4, H_layers=2, L_layers=2, H_cycles=2, L_cycles=2, puzzle_emb_ndim=0),
    "trm": dict(name="trm", hidden_size=64, num_heads=4, L_layers=2, H_cycles=2, L_cycles=2, puzzle_emb_ndim=0),
    "transformer": dict(name="transformer", hidden_size=64, num_heads=4, num_layers=4, puzzle_emb_ndim=0),
}
HALT_MAX_STEPS = {"sudoku-6x6": 2, "maze-9x9": 4}
# Eager throughout: the probe's steps/s sizes the runs, and compile: auto could decide differently for the probe
# (a long nominal run) and for a run (whose length comes from the probe).
TRAINING = dict(global_batch_size=64, lr=3e-3, lr_min_ratio=0.1, lr_warmup_steps=50, weight_decay=0.1, log_every=25,
                tensorboard=False, eval_interval=None, compile=False)
EVAL_POINTS = 4  # evaluations per run, at evenly spaced steps: the points of the accuracy-against-time plot


@dataclass
class Budgets:
    wall_s: dict[str, float]
    steps: dict[str, int]
    seeds: list[int]
    quick: bool = False


FULL = Budgets(wall_s={"sudoku-6x6": 90.0, "maze-9x9": 90.0}, steps={"sudoku-6x6": 400, "maze-9x9": 200}, seeds=[0, 1, 2])
QUICK = Budgets(wall_s={"sudoku-6x6": 3.0, "maze-9x9": 3.0}, steps={"sudoku-6x6": 12, "maze-9x9": 12}, seeds=[0, 1], quick=True)


@dataclass
class RunResult:
    task: str
    arch: str
    budget: str
    seed: int
    steps: int
    train_seconds: float
    examples_per_s: float
    exact_accuracy: float
    accuracy: float
    act_steps: float
    parameters: int
    curve: list[dict[str, float]] = field(default_factory=list)  # {"seconds", "step", "exact_accuracy"} per eval point


def build_data(out: Path, quick: bool, tasks: list[str]) -> dict[str, Path]:
    from hrmkit.data import build as B

    paths = {}
    for name in tasks:
        spec = TASKS[name]
        path = out / "data" / name
        overrides = dict(spec["build"])
        if quick:
            overrides.update(train=48, test=16, num_aug=1) if name.startswith("sudoku") else overrides.update(train=48, test=16)
        if not (path / "metadata.json").exists():
            B.build(B.make_config(spec["preset"], **overrides), path, workers=None, progress=False)
        paths[name] = path
    return paths


def train_config(task: str, arch: str, data: Path, seed: int, run_dir: Path, epochs: int, quick: bool):
    from hrmkit.config import TrainConfig

    a = dict(ARCHS[arch], halt_max_steps=HALT_MAX_STEPS[task])
    if arch == "trm":
        a.update(mlp_t=task.startswith("sudoku"), pos_encodings="none" if task.startswith("sudoku") else "rope")
    if quick:
        a.update(hidden_size=32)
    extra = dict(ema=True, ema_rate=0.99) if arch == "trm" else {}
    return TrainConfig(data_path=str(data), arch=a, epochs=epochs, seed=seed, run_dir=str(run_dir), **TRAINING, **extra)


def probe_steps_per_s(task: str, arch: str, data: Path, out: Path, quick: bool) -> float:
    """Steps/s of one model on one task, measured after a warm-up (first steps allocate and are slow)."""
    from hrmkit.train import Trainer

    cfg = train_config(task, arch, data, seed=99, run_dir=out / "probe" / f"{task}-{arch}", epochs=10_000, quick=quick)
    trainer = Trainer(cfg, progress=False)
    warm, timed = (3, 5) if quick else (10, 30)
    for _ in range(warm):
        trainer.train_step()
    started = time.perf_counter()
    for _ in range(timed):
        trainer.train_step()
    rate = timed / (time.perf_counter() - started)
    trainer.close()
    return rate


def run_one(task: str, arch: str, budget: str, seed: int, data: Path, out: Path, total_steps: int, wall_s: float | None,
            quick: bool) -> RunResult:
    from hrmkit.data.build import open_dataset
    from hrmkit.train import Trainer, steps_per_epoch

    run_dir = out / "runs" / f"{task}-{arch}-{budget}-s{seed}"
    spe = steps_per_epoch(train_config(task, arch, data, seed, run_dir, epochs=1, quick=quick), open_dataset(data))
    epochs = max(1, round(total_steps / spe))  # the schedule runs over whole epochs, as every preset's does
    trainer = Trainer(train_config(task, arch, data, seed, run_dir, epochs, quick), progress=False)
    total = trainer.total_steps
    marks = sorted({max(1, round(total * (i + 1) / EVAL_POINTS)) for i in range(EVAL_POINTS)})
    seconds, curve, result = 0.0, [], None
    for mark in marks:
        summary = trainer.fit(max_steps=mark - trainer.step, evaluate=False)
        seconds += summary["seconds"]
        result = trainer.run_eval()
        curve.append({"seconds": round(seconds, 2), "step": trainer.step, "exact_accuracy": result.metrics["exact_accuracy"]})
        if wall_s is not None and seconds > 1.15 * wall_s:
            break  # the probe underestimated this run's cost: stop rather than overspend the budget
    trainer.close()
    m = result.metrics
    return RunResult(task=task, arch=arch, budget=budget, seed=seed, steps=trainer.step, train_seconds=round(seconds, 2),
                     examples_per_s=round(trainer.step * trainer.cfg.global_batch_size / max(seconds, 1e-9), 1),
                     exact_accuracy=m["exact_accuracy"], accuracy=m["accuracy"], act_steps=m["steps"],
                     parameters=trainer.num_parameters, curve=curve)


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def markdown_table(results: list[RunResult], budgets: Budgets) -> str:
    lines = ["| task | budget | model | params | exact % (mean ± std) | exact % per seed | token % | ACT steps | ex/s | train s |",
             "|---|---|---|---:|---:|---|---:|---:|---:|---:|"]
    for task in TASKS:
        for budget in ("wall", "steps"):
            label = f"{budgets.wall_s[task]:g} s" if budget == "wall" else f"{budgets.steps[task]} steps"
            for arch in ARCHS:
                rows = sorted((r for r in results if (r.task, r.budget, r.arch) == (task, budget, arch)), key=lambda r: r.seed)
                if not rows:
                    continue
                seeds = " / ".join(f"{100 * r.exact_accuracy:.1f}" for r in rows)
                lines.append(f"| {task} | {label} | {arch} | {rows[0].parameters:,} | {_mean_std([r.exact_accuracy for r in rows])} | {seeds} "
                             f"| {100 * statistics.mean(r.accuracy for r in rows):.1f} | {statistics.mean(r.act_steps for r in rows):.2f} "
                             f"| {statistics.mean(r.examples_per_s for r in rows):.0f} | {statistics.mean(r.train_seconds for r in rows):.0f} |")
    return "\n".join(lines) + "\n"


def plot(results: list[RunResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"hrm": "tab:blue", "trm": "tab:orange", "transformer": "tab:green"}
    fig, axes = plt.subplots(1, len(TASKS), figsize=(6 * len(TASKS), 4.2), squeeze=False)
    for ax, task in zip(axes[0], TASKS):
        for r in results:
            if r.task != task:
                continue
            xs = [0.0] + [p["seconds"] for p in r.curve]
            ys = [0.0] + [100 * p["exact_accuracy"] for p in r.curve]
            style = "-" if r.budget == "wall" else ":"
            ax.plot(xs, ys, style, marker="o", markersize=3, color=colours.get(r.arch, "black"), alpha=0.8,
                    label=f"{r.arch} ({r.budget})" if r.seed == min(x.seed for x in results) else None)
        best = max((100 * p["exact_accuracy"] for r in results if r.task == task for p in r.curve), default=0.0)
        ax.set(title=f"{task}: held-out exact accuracy", xlabel="training wall-clock (s, 2 CPU cores)", ylabel="exact %",
               ylim=(-0.5, max(5.0, 1.08 * best)))  # a flat zero line reads as zero, not as noise around it
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    partial = path.with_name(path.name + ".partial.png")
    fig.savefig(partial, dpi=90)
    plt.close(fig)
    partial.replace(path)  # never a half-written picture


def run_suite(out: Path, budgets: Budgets, archs: list[str], tasks: list[str]) -> dict[str, Any]:
    import torch

    from hrmkit.atomic import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = build_data(out, budgets.quick, tasks)
    rates = {(t, a): probe_steps_per_s(t, a, data[t], out, budgets.quick) for t in tasks for a in archs}
    results: list[RunResult] = []
    for task in tasks:
        for arch in archs:
            wall_steps = max(1, round(budgets.wall_s[task] * rates[task, arch]))
            for seed in budgets.seeds:
                for budget, steps, wall in (("wall", wall_steps, budgets.wall_s[task]), ("steps", budgets.steps[task], None)):
                    r = run_one(task, arch, budget, seed, data[task], out, steps, wall, budgets.quick)
                    results.append(r)
                    print(f"{task:11s} {budget:5s} {arch:11s} seed {seed}: exact {r.exact_accuracy:.1%} in {r.steps} steps, "
                          f"{r.train_seconds:.0f} s", file=sys.stderr, flush=True)
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "budgets": asdict(budgets),
              "probe_steps_per_s": {f"{t}/{a}": round(v, 2) for (t, a), v in rates.items()},
              "total_minutes": round((time.perf_counter() - started) / 60, 1), "runs": [asdict(r) for r in results]}
    atomic_write_text(out / "suite.json", json.dumps(report, indent=2))
    atomic_write_text(out / "suite.md", markdown_table(results, budgets))
    plot(results, out / "suite.png")
    return report


def rewrite_reports(out: Path) -> None:
    """The table and the plot again from a finished run's suite.json (e.g. after a change to how they are drawn)."""
    from hrmkit.atomic import atomic_write_text

    report = json.loads((out / "suite.json").read_text())
    results = [RunResult(**r) for r in report["runs"]]
    budgets = Budgets(**report["budgets"])
    atomic_write_text(out / "suite.md", markdown_table(results, budgets))
    plot(results, out / "suite.png")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/suite", help="folder for data, runs and the report files")
    parser.add_argument("--quick", action="store_true", help="tiny data, models and budgets (a few minutes)")
    parser.add_argument("--seeds", type=int, help="number of seeds (default 3, or 2 with --quick)")
    parser.add_argument("--archs", nargs="+", choices=sorted(ARCHS), default=list(ARCHS))
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    parser.add_argument("--from-json", action="store_true", help="only rewrite suite.md and suite.png from OUT/suite.json")
    args = parser.parse_args(argv)
    if args.from_json:
        if not (Path(args.out) / "suite.json").is_file():
            parser.error(f"no suite.json in {args.out}: run the suite first or point --out at a finished run")
        rewrite_reports(Path(args.out))
        return
    budgets = QUICK if args.quick else FULL
    if args.seeds is not None:
        if args.seeds < 1:
            parser.error("--seeds must be at least 1")
        budgets = Budgets(budgets.wall_s, budgets.steps, list(range(args.seeds)), budgets.quick)
    report = run_suite(Path(args.out), budgets, args.archs, args.tasks)
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2))
    print((Path(args.out) / "suite.md").read_text())


if __name__ == "__main__":
    main()
