"""Metrics over a dataset split: every example runs ``halt_max_steps`` segments (no early halting);
metrics come from the final segment, plus the exact accuracy after every segment (the test-time
compute curve)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from hrmkit.data.format import DatasetMetadata, SplitArrays
from hrmkit.data.loader import eval_batches
from hrmkit.models.act import ACTModel
from hrmkit.models.losses import IGNORE_LABEL_ID, act_loss


@dataclass
class EvalResult:
    metrics: dict[str, float]
    exact_by_step: list[float]
    predictions: np.ndarray | None = None  # [N, seq_len] argmax tokens of the final segment
    q_halt_logits: np.ndarray | None = None
    extras: dict[str, object] = field(default_factory=dict)


def to_device(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def evaluate(model: ACTModel, split: SplitArrays, meta: DatasetMetadata, batch_size: int, device: torch.device, *,
             steps: int | None = None, max_examples: int | None = None, loss_type: str = "stablemax",
             rank: int = 0, world_size: int = 1, keep_predictions: bool = False, progress: bool = False) -> EvalResult:
    was_training, old_steps = model.training, model.halt_max_steps
    model.eval()
    model.halt_max_steps = steps or old_steps
    n_steps = model.halt_max_steps
    sums: dict[str, torch.Tensor] = {}
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64
    exact_by_step = torch.zeros(n_steps, dtype=acc_dtype, device=device)
    preds, q_halts = [], []
    total = split.num_examples if max_examples is None else min(max_examples, split.num_examples)
    try:
        batches = eval_batches(split, batch_size, rank, world_size, meta.pad_id, meta.ignore_label_id, max_examples)
        bar = tqdm(batches, total=-(-total // batch_size), desc="eval", unit="batch", disable=not progress, leave=False)
        for idx, batch in bar:
            tb = to_device(batch, device)
            carry = model.initial_carry(tb)
            for s in range(n_steps):
                carry, out = model(carry, tb)
                labels = carry.data["labels"]
                mask = labels != IGNORE_LABEL_ID
                right = ((out["logits"].argmax(-1) == labels) | ~mask).all(-1) & mask.any(-1)
                exact_by_step[s] += right.sum()
            _, m = act_loss(out, carry.data["labels"], carry.halted, carry.steps, loss_type)
            for k, v in m.items():
                sums[k] = sums.get(k, 0) + v.to(acc_dtype)
            if keep_predictions:
                real = idx >= 0
                preds.append(out["logits"].argmax(-1).cpu().numpy()[real])
                q_halts.append(out["q_halt_logits"].float().cpu().numpy()[real])
    finally:
        model.halt_max_steps = old_steps
        model.train(was_training)
    keys = sorted(sums)
    packed = torch.cat([torch.stack([sums[k] for k in keys]) if keys else exact_by_step[:0], exact_by_step])
    if dist.is_available() and dist.is_initialized() and world_size > 1:
        dist.all_reduce(packed)
    values = packed.cpu().double().tolist()
    sums_f: dict[str, float] = dict(zip(keys, values[: len(keys)]))
    exact_by_step = torch.tensor(values[len(keys):], dtype=torch.float64)
    count = max(sums_f.get("count", 0.0), 1.0)
    metrics = {
        "count": sums_f.get("count", 0.0),
        "accuracy": sums_f.get("accuracy", 0.0) / count,
        "exact_accuracy": sums_f.get("exact_accuracy", 0.0) / count,
        "q_halt_accuracy": sums_f.get("q_halt_accuracy", 0.0) / count,
        "steps": sums_f.get("steps", 0.0) / count,
        "lm_loss": sums_f.get("lm_loss", 0.0) / count,
    }
    return EvalResult(
        metrics=metrics,
        exact_by_step=(exact_by_step / count).tolist(),
        predictions=np.concatenate(preds) if preds else None,
        q_halt_logits=np.concatenate(q_halts) if q_halts else None,
    )
