"""Metrics over a dataset split: every example runs ``halt_max_steps`` segments (no early halting);
metrics come from the final segment, plus the exact accuracy after every segment (the test-time
compute curve), plus whatever the task's streaming evaluator adds (ARC: voting over augmentations,
pass@K), fed batch by batch so that no N x seq_len prediction array is kept."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from hrmkit import jsonio
from hrmkit.atomic import WriteError, atomic_write_text, check_writable
from hrmkit.data.format import DatasetMetadata, SplitArrays
from hrmkit.data.loader import eval_batches
from hrmkit.errors import HrmError, check_at_least, renamed
from hrmkit.metrics import accumulate, accumulation_dtype, summarise
from hrmkit.models.act import ACTModel
from hrmkit.models.losses import IGNORE_LABEL_ID, act_loss
from hrmkit.tasks import StreamEvaluator, get_task


@dataclass
class EvalResult:
    metrics: dict[str, float]
    exact_by_step: list[float]
    predictions: np.ndarray | None = None  # [N, seq_len] argmax tokens of the final segment
    q_halt_logits: np.ndarray | None = None
    q_continue_logits: np.ndarray | None = None
    extras: dict[str, object] = field(default_factory=dict)
    evaluator: StreamEvaluator | None = None  # the task's streaming evaluator, merged (on rank 0 only)


def to_device(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model: ACTModel, split: SplitArrays, meta: DatasetMetadata, batch_size: int, device: torch.device, *,
             segments: int | None = None, max_examples: int | None = None, rank: int = 0, world_size: int = 1,
             keep_predictions: bool = False, identifiers: list[str] | None = None, dataset_path: str | os.PathLike | None = None,
             progress: bool = False, steps: int | None = None) -> EvalResult:
    """Run ``split`` through the model for ``segments`` ACT segments (default: its halt_max_steps). ``dataset_path``
    (the split's dataset folder) lets the task's streaming evaluator read what it scores against (ARC: the original
    tasks); without it only the generic metrics are made. ``steps`` is the old name of ``segments``."""
    segments = renamed("segments", segments, "steps", steps)  # type: ignore[assignment]
    check_at_least("segments", segments, 1)
    check_at_least("batch_size", batch_size, 1)
    check_at_least("max_examples", max_examples, 1)
    task = get_task(meta.task)
    evaluator = None
    if dataset_path is not None:
        if identifiers is None:
            identifiers = jsonio.read(Path(dataset_path) / "identifiers.json")
        evaluator = task.make_evaluator(split, meta, identifiers, Path(dataset_path))  # a fresh one: no state from earlier evaluations
    token_dtype = torch.uint8 if meta.vocab_size <= 256 else torch.int32  # ARC-1: 419k x 900 predictions, 377 MB as uint8, 3 GB as int64
    n_steps = segments or model.halt_max_steps
    sums: dict[str, torch.Tensor] = {}
    dtype = accumulation_dtype(device)
    exact_by_step = torch.zeros(n_steps, dtype=dtype, device=device)
    rows = torch.zeros((), dtype=dtype, device=device)
    preds, q_halts, q_continues = [], [], []
    total = split.num_examples if max_examples is None else min(max_examples, split.num_examples)
    batch_size = min(batch_size, -(-max(total, 1) // world_size) * world_size)  # no rows of padding beyond the split
    batches = eval_batches(split, batch_size, rank, world_size, meta.pad_id, meta.ignore_label_id, max_examples)
    bar = tqdm(batches, total=-(-total // batch_size), desc="eval", unit="batch", disable=not progress, leave=False)
    for idx, batch in bar:
        tb = to_device(batch, device)
        for s, (carry, out) in enumerate(model.rollout(tb, n_steps)):
            labels = carry.data["labels"]
            mask = labels != IGNORE_LABEL_ID
            right = ((out["logits"].argmax(-1) == labels) | ~mask).all(-1) & mask.any(-1)
            exact_by_step[s] += right.sum()
        _, m = act_loss(out, carry.data["labels"], carry.halted, carry.steps, model.config.loss_type)
        accumulate(sums, m, dtype)
        rows += int((idx >= 0).sum())
        if keep_predictions or evaluator is not None:
            real = idx >= 0
            tokens = out["logits"].argmax(-1).to(token_dtype).cpu().numpy()[real]
            q_halt = out["q_halt_logits"].float().cpu().numpy()[real]
            if evaluator is not None:
                evaluator.update(idx[real].astype(np.int64), tokens, q_halt)
            if keep_predictions:
                preds.append(tokens)
                q_halts.append(q_halt)
                q_continues.append(out["q_continue_logits"].float().cpu().numpy()[real])
    keys = sorted(sums)
    packed = torch.cat([torch.stack([sums[k] for k in keys]) if keys else exact_by_step[:0], rows[None], exact_by_step])
    distributed = dist.is_available() and dist.is_initialized() and world_size > 1
    if distributed:
        dist.all_reduce(packed)
    values = packed.cpu().double().tolist()
    metrics = summarise(dict(zip(keys, values[: len(keys)])), rows=values[len(keys)])
    metrics = {k: metrics.get(k, 0.0) for k in ("count", "accuracy", "exact_accuracy", "q_halt_accuracy", "steps", "lm_loss")}
    count = max(metrics["count"], 1.0)
    result = EvalResult(
        metrics=metrics,
        exact_by_step=[v / count for v in values[len(keys) + 1:]],
        predictions=np.concatenate(preds) if preds else None,
        q_halt_logits=np.concatenate(q_halts) if q_halts else None,
        q_continue_logits=np.concatenate(q_continues) if q_continues else None,
    )
    if evaluator is not None:
        if distributed:  # every process voted on its own slice: rank 0 merges the stores, then scores
            gathered: list[Any] | None = [None] * world_size if rank == 0 else None
            dist.gather_object(evaluator.state(), gathered, dst=0)
            if rank == 0:
                assert gathered is not None
                evaluator.merge([state for r, state in enumerate(gathered) if r != 0])
        if rank == 0:
            result.metrics.update(evaluator.metrics())
            result.evaluator = evaluator
    return result


# --------------------------------------------------------------------------- a checkpoint on a dataset


def evaluate_checkpoint(checkpoint_path: str | os.PathLike, dataset_path: str | os.PathLike, *, split: str = "test",
                        segments: int | Sequence[int] | None = None, max_examples: int | None = None, batch_size: int = 256,
                        device_name: str = "auto", out: str | os.PathLike | None = None, progress: bool = False,
                        steps: int | Sequence[int] | None = None, save_predictions: str | os.PathLike | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run's newest) on a dataset split; writes and returns a JSON report.

    ``segments`` as a list of ACT segment counts also measures exact accuracy after each of them (one run of the
    largest: evaluation never halts early, so the first s segments of a longer run are an s-segment run)
    and draws that curve to a PNG beside the report. ``save_predictions``: a .safetensors file of every evaluated row
    (see :func:`write_predictions`). ``steps`` is the old name of ``segments``."""
    from hrmkit import checkpoint
    from hrmkit.data.format import load_dataset
    from hrmkit.runtime import select_device

    segments = renamed("segments", segments, "steps", steps)  # type: ignore[assignment]
    counts = list(segments) if isinstance(segments, Sequence) else [segments]
    if isinstance(segments, Sequence) and not counts:
        raise HrmError("segments: give at least one number of ACT segments")
    for name, value in [("segments", s) for s in counts] + [("batch_size", batch_size), ("max_examples", max_examples)]:
        check_at_least(name, value, 1)  # before loading anything
    for path in (out, save_predictions):  # a path the user gave that cannot be written is refused before the evaluation
        if path is not None:
            check_writable(path, file=True)
    device = select_device(device_name)
    ckpt = checkpoint.resolve(checkpoint_path)
    model, meta = checkpoint.from_pretrained(ckpt, device)
    ds = load_dataset(dataset_path)
    check_compatible(meta, ds.metadata, str(ds.path))
    curve = sorted(set(counts)) if len(counts) > 1 else None
    run_segments = max(curve) if curve else counts[0]
    trained = model.halt_max_steps
    result = evaluate(model, ds[split], ds.metadata, batch_size, device, segments=run_segments, max_examples=max_examples,
                      identifiers=ds.identifiers, dataset_path=ds.path, progress=progress, keep_predictions=save_predictions is not None)
    # The "steps" metric (mean ACT segments per example) is the segment count itself here: evaluation never halts early.
    metrics = {k: v for k, v in result.metrics.items() if k != "steps"}
    report = {"checkpoint": str(ckpt), "dataset": str(ds.path), "split": split, "segments": run_segments or trained,
              **metrics, "exact_by_segment": result.exact_by_step}
    report_path = Path(out or ckpt / f"eval-{ds.path.name}-{split}{'-segments' if curve else ''}.json")
    if result.evaluator is not None:
        report.update(result.evaluator.report())
        report["summary"] = result.evaluator.summary()
    if save_predictions is not None:
        report["predictions_path"] = str(write_predictions(save_predictions, result, ds[split], ds.metadata))
    if curve:
        report["halt_max_steps"] = trained
        report["exact_by_segments"] = {str(s): result.exact_by_step[s - 1] for s in curve}
    try:
        _write_report(report, report_path, result.evaluator, curve, f"{meta.task} {'x'.join(map(str, meta.grid_shape))}, "
                                                                     f"{int(result.metrics['count'])} {split} examples")
    except WriteError as e:
        raise ReportNotWritten(e, report) from None
    return report


def write_predictions(path: str | os.PathLike, result: EvalResult, split: SplitArrays, meta: DatasetMetadata) -> Path:
    """Every evaluated row in the split's order, as the reference's ``eval_save_outputs`` gives them: ``inputs``,
    ``labels`` (unlabelled cells -100), ``puzzle_identifiers``, ``preds`` (argmax of the final logits), all int32, and
    ``q_halt_logits``, ``q_continue_logits`` (float32) of the final segment."""
    from safetensors.numpy import save

    from hrmkit.atomic import atomic_file
    from hrmkit.data.loader import example_labels

    assert result.predictions is not None and result.q_halt_logits is not None and result.q_continue_logits is not None
    n = len(result.predictions)
    example_puzzle = np.searchsorted(np.asarray(split.puzzle_indices), np.arange(n), side="right") - 1
    tensors = {"inputs": np.asarray(split.inputs[:n], dtype=np.int32),
               "labels": example_labels(np.asarray(split.labels[:n]), meta.ignore_label_id),
               "puzzle_identifiers": np.asarray(split.puzzle_identifiers, dtype=np.int32)[example_puzzle],
               "preds": result.predictions.astype(np.int32), "q_halt_logits": result.q_halt_logits.astype(np.float32),
               "q_continue_logits": result.q_continue_logits.astype(np.float32)}
    with atomic_file(path) as tmp:
        tmp.write_bytes(save(tensors))
    return Path(path)


class ReportNotWritten(WriteError):
    """The evaluation finished but its report (or a file beside it) could not be written; ``report`` holds the results."""

    def __init__(self, error: WriteError, report: dict[str, Any]):
        super().__init__(error.path, error.reason)
        self.report = report


def _write_report(report: dict[str, Any], report_path: Path, evaluator: StreamEvaluator | None, curve: list[int] | None,
                  title: str) -> None:
    """The files of a finished evaluation: the task's own (ARC: a submission), the segments curve, then the JSON report."""
    if evaluator is not None:
        report.update(evaluator.write_outputs(report_path))
    if curve:
        from hrmkit.viz import plot_segments_curve

        report["plot_path"] = str(plot_segments_curve(curve, [report["exact_by_segments"][str(s)] for s in curve], report["halt_max_steps"],
                                                   report_path.with_suffix(".png"), title))
    atomic_write_text(report_path, json.dumps(report, indent=2))
    report["report_path"] = str(report_path)


def check_compatible(model_meta: DatasetMetadata, data_meta: DatasetMetadata, where: str) -> None:
    """A model can run on a dataset of its own task, sequence length and vocabulary."""
    if data_meta.task != model_meta.task:
        raise HrmError(f"{where} is a {data_meta.task} dataset; this model was trained on {model_meta.task}")
    if (data_meta.seq_len, data_meta.vocab_size) != (model_meta.seq_len, model_meta.vocab_size):
        raise HrmError(f"{where} (seq_len {data_meta.seq_len}, vocab {data_meta.vocab_size}) does not fit this model "
                       f"(seq_len {model_meta.seq_len}, vocab {model_meta.vocab_size})")


def format_report(report: dict[str, Any]) -> str:
    curve = "  ".join(f"{i + 1}:{v:.3f}" for i, v in enumerate(report["exact_by_segment"]))
    text = (f"exact accuracy {report['exact_accuracy']:.4f}   token accuracy {report['accuracy']:.4f}   "
            f"ACT segments {report['segments']}   examples {int(report['count'])}\n"
            f"exact accuracy after each segment: {curve}")
    if "exact_by_segments" in report:
        points = "  ".join(f"{s}:{v:.3f}" for s, v in report["exact_by_segments"].items())
        text += f"\nexact accuracy against ACT segments (trained with up to {report['halt_max_steps']}): {points}"
        if "plot_path" in report:
            text += f"\ncurve: {report['plot_path']}"
    for line in report.get("summary", []):
        text += f"\n{line}"
    if "submission_path" in report:
        text += f"\nsubmission: {report['submission_path']}"
    return text
