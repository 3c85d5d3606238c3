"""Losses and metrics of the ACT loss head (reference ``models/losses.py``), kept out of the model.

- stable-max cross-entropy (the default), s(x) = x + 1 for x >= 0 else 1 / (1 - x), in float64;
  softmax cross-entropy as the alternative;
- per-sequence normalisation: each sequence's token losses are averaged over its supervised tokens,
  then summed over the batch;
- Q losses: BCE(q_halt, sequence exactly right) and BCE(q_continue, bootstrapped target), summed;
- total = lm_loss + 0.5 * (q_halt_loss + q_continue_loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hrmkit.metrics import accumulation_dtype

IGNORE_LABEL_ID = -100


def _stablemax_s(x: torch.Tensor, eps: float = 1e-30) -> torch.Tensor:
    return torch.where(x < 0, 1 / (1 - x + eps), x + 1)


def stablemax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID) -> torch.Tensor:
    """Per-token loss [..., L] (0 at ignored positions), computed in float64 (float32 on MPS, which has no float64)."""
    s = _stablemax_s(logits.to(accumulation_dtype(logits.device)))
    log_probs = torch.log(s / s.sum(dim=-1, keepdim=True))
    valid = labels != ignore_index
    picked = torch.gather(log_probs, -1, torch.where(valid, labels, 0).long().unsqueeze(-1)).squeeze(-1)
    return -torch.where(valid, picked, torch.zeros_like(picked))


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = IGNORE_LABEL_ID) -> torch.Tensor:
    flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.long().reshape(-1),
                           ignore_index=ignore_index, reduction="none")
    return flat.view(labels.shape)


LOSSES = {"stablemax": stablemax_cross_entropy, "softmax": softmax_cross_entropy}


def act_loss(outputs: dict[str, torch.Tensor], labels: torch.Tensor, halted: torch.Tensor, steps: torch.Tensor,
             loss_type: str = "stablemax") -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss (summed over the batch) and metric *sums* (divide by ``count`` to report).

    Metrics are counted over ``valid`` rows: those that halted at this segment and have labels.
    """
    logits = outputs["logits"]
    mask = labels != IGNORE_LABEL_ID
    loss_counts = mask.sum(-1)
    divisor = loss_counts.clamp_min(1).unsqueeze(-1)
    with torch.no_grad():
        is_correct = mask & (logits.argmax(-1) == labels)
        seq_is_correct = is_correct.sum(-1) == loss_counts
        valid = halted & (loss_counts > 0)
        metrics = {
            "count": valid.sum(),
            "accuracy": torch.where(valid, (is_correct.float() / divisor).sum(-1), 0).sum(),
            "exact_accuracy": (valid & seq_is_correct).sum(),
            "q_halt_accuracy": (valid & ((outputs["q_halt_logits"] >= 0) == seq_is_correct)).sum(),
            "steps": torch.where(valid, steps, 0).sum(),
        }
    lm_loss = (LOSSES[loss_type](logits, labels) / divisor).sum()
    q_halt_loss = F.binary_cross_entropy_with_logits(outputs["q_halt_logits"], seq_is_correct.to(outputs["q_halt_logits"].dtype),
                                                     reduction="sum")
    metrics.update(lm_loss=lm_loss.detach(), q_halt_loss=q_halt_loss.detach())
    total = lm_loss + 0.5 * q_halt_loss
    if "target_q_continue" in outputs:
        q_continue_loss = F.binary_cross_entropy_with_logits(outputs["q_continue_logits"], outputs["target_q_continue"], reduction="sum")
        metrics["q_continue_loss"] = q_continue_loss.detach()
        total = total + 0.5 * q_continue_loss
    return total, metrics
