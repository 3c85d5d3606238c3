"""Plots a person would rather look at than read: training curves and the test-time compute curve."""

from __future__ import annotations

import json
import math
import os
import sys
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
    """The records of a run's metrics.jsonl ([] when it has logged nothing yet). A last line that does not parse is
    what a kill mid-write leaves: skipped, with a warning on stderr. A bad line before it is damage: a one-line error."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise HrmError(f"{path}: unreadable ({getattr(e, 'strerror', None) or e})") from None
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    rows = []
    for i, (n, line) in enumerate(numbered):
        record = _record(line)
        if record is None:
            if i == len(numbered) - 1:
                print(f"warning: {path}: line {n} is cut short (the run was killed while writing it); skipped", file=sys.stderr)
                break
            raise HrmError(f"{path}: line {n} is not a metrics record (damaged); fix or delete that line")
        rows.append(record)
    return rows


def _record(line: str) -> dict | None:
    """A metrics line: a JSON object with a numeric step and a split name; None for anything else."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    ok = (isinstance(record, dict) and isinstance(record.get("step"), int | float) and not isinstance(record.get("step"), bool)
          and isinstance(record.get("split"), str))
    return record if ok else None


def _values(rows: list[dict], key: str, fallback: str | None = None) -> list[float]:
    """One column (nan where a record lacks it: plotted as a gap, not a crash)."""
    out = []
    for r in rows:
        v = r.get(key, r.get(fallback) if fallback else None)
        out.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan)
    return out


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Loss, train/eval exact accuracy over steps, and eval exact accuracy per ACT segment. A run that has logged
    nothing yet (stopped before its first log line) gets empty axes that say so."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise HrmError(f"{run_dir}: no such run folder")
    if not (run_dir / "metrics.jsonl").exists() and not (run_dir / "config.json").exists():
        raise HrmError(f"{run_dir}: not a run folder (no metrics.jsonl nor config.json)")
    rows = read_metrics(run_dir)
    train = [r for r in rows if r["split"] == "train"]
    evals = [r for r in rows if r["split"] == "eval"]
    out = Path(out or run_dir / "curves.png")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    if train:
        steps = _values(train, "step")
        axes[0].plot(steps, _values(train, "loss"), label="train loss (total)")
        axes[0].plot(steps, _values(train, "lm_loss", "loss"), label="train lm loss", alpha=0.7)
        axes[0].set_yscale("log")
        axes[1].plot(steps, _values(train, "exact_accuracy"), label="train exact")
        axes[1].plot(steps, _values(train, "accuracy"), label="train token acc", alpha=0.6)
    if evals:
        axes[1].plot(_values(evals, "step"), _values(evals, "exact_accuracy"), "o-", label="eval exact")
        last = evals[-1]
        keys = sorted((k for k in last if k.startswith("exact_at_step_") and k.rsplit("_", 1)[1].isdigit()), key=lambda k: int(k.rsplit("_", 1)[1]))
        per_step = [_values([last], k)[0] for k in keys]
        axes[2].plot(range(1, len(per_step) + 1), per_step, "o-")
        axes[0].plot(_values(evals, "step"), _values(evals, "lm_loss"), "o-", label="eval lm loss")
    axes[0].set(title="loss", xlabel="optimizer step")
    axes[1].set(title="accuracy", xlabel="optimizer step", ylim=(0, 1.02))
    axes[2].set(title="eval exact accuracy by ACT segment (last eval)", xlabel="segments run", ylim=(0, 1.02))
    if not rows:
        for ax in axes[:2]:
            ax.text(0.5, 0.5, "nothing logged yet", ha="center", va="center", transform=ax.transAxes, color="grey")
    for ax in axes[:2]:
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)


def plot_run_or_warn(run_dir: str | os.PathLike) -> Path | None:
    """plot_run at the end of a run whose work is saved: failing to draw the curves (a damaged metrics line, a full
    disk) is a warning there, not an error that would make the finished run look failed."""
    try:
        return plot_run(run_dir)
    except (HrmError, OSError) as e:
        reason = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror else str(e)
        print(f"warning: curves not drawn ({reason}); draw them later with `hrm plot {run_dir}`", file=sys.stderr)
        return None


def plot_segments_curve(segments: list[int], exact: list[float], halt_max_steps: int, out: str | os.PathLike, title: str) -> Path:
    """Exact accuracy against the number of ACT segments run (test-time compute), log-2 x axis,
    with the training step limit marked: to its right the model thinks longer than it was trained to."""
    out = Path(out)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(segments, exact, "o-")
    for s, v in zip(segments, exact):
        ax.annotate(f"{v:.1%}", (s, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.axvline(halt_max_steps, color="grey", linestyle="--", label=f"training limit ({halt_max_steps} segments)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(segments, [str(s) for s in segments])
    ax.set(title=f"exact accuracy against ACT segments\n{title}", xlabel="ACT segments run", ylabel="exact accuracy", ylim=(0, 1.05))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return save_figure(fig, out, dpi=90)
