"""Plots a person would rather look at than read: training curves and the test-time compute curve."""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hrmkit.atomic import atomic_file
from hrmkit.errors import HrmError


def save_figure(fig: Figure, out: str | os.PathLike, dpi: int) -> Path:
    """Write a figure atomically (a reader never sees half a PNG) and free it, also when writing fails."""
    out = Path(out)
    try:
        with atomic_file(out) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return out


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Loss, train/eval exact accuracy over steps, and eval exact accuracy per ACT segment."""
    rows = read_metrics(run_dir)
    if not rows:
        raise HrmError(f"{run_dir}: no metrics.jsonl to plot")
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    out = Path(out or Path(run_dir) / "curves.png")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if train:
        axes[0].plot([r["step"] for r in train], [r["loss"] for r in train], label="train loss (total)")
        axes[0].plot([r["step"] for r in train], [r.get("lm_loss", r["loss"]) for r in train], label="train lm loss", alpha=0.7)
        axes[0].set_yscale("log")
        axes[1].plot([r["step"] for r in train], [r.get("exact_accuracy", 0) for r in train], label="train exact")
        axes[1].plot([r["step"] for r in train], [r.get("accuracy", 0) for r in train], label="train token acc", alpha=0.6)
    if evals:
        axes[1].plot([r["step"] for r in evals], [r["exact_accuracy"] for r in evals], "o-", label="eval exact")
        last = evals[-1]
        per_step = [last[k] for k in sorted((k for k in last if k.startswith("exact_at_step_")), key=lambda k: int(k.rsplit("_", 1)[1]))]
        axes[2].plot(range(1, len(per_step) + 1), per_step, "o-")
    axes[0].set(title="loss", xlabel="optimizer step")
    axes[1].set(title="accuracy", xlabel="optimizer step", ylim=(0, 1.02))
    axes[2].set(title="eval exact accuracy by ACT segment (last eval)", xlabel="segments run", ylim=(0, 1.02))
    if evals:
        axes[0].plot([r["step"] for r in evals], [r["lm_loss"] for r in evals], "o-", label="eval lm loss")
    for ax in axes[:2]:
        ax.legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)


def plot_steps_curve(steps: list[int], exact: list[float], trained_steps: int, out: str | os.PathLike, title: str) -> Path:
    """Exact accuracy against the number of ACT segments run (test-time compute), log-2 x axis,
    with the training step limit marked: to its right the model thinks longer than it was trained to."""
    out = Path(out)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, exact, "o-")
    for s, v in zip(steps, exact):
        ax.annotate(f"{v:.1%}", (s, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.axvline(trained_steps, color="grey", linestyle="--", label=f"training limit ({trained_steps} segments)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.set(title=f"exact accuracy against ACT steps\n{title}", xlabel="ACT segments run", ylabel="exact accuracy", ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)
