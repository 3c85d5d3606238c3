"""Metric sums -> reported means, the same way for training and evaluation.

``act_loss`` returns sums: loss parts summed over every row of the batch, the rest (accuracy,
exact_accuracy, q_halt_accuracy, steps) summed over the *counted* rows (halted at this segment, with
labels), and ``count`` itself. Sums are accumulated on the device in a wide float and divided once.
"""

from __future__ import annotations

import torch

LOSS_KEYS = frozenset({"loss", "lm_loss", "q_halt_loss", "q_continue_loss"})


def accumulation_dtype(device: torch.device) -> torch.dtype:
    """float64 for sums and the loss, except on MPS, which has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def accumulate(sums: dict[str, torch.Tensor], new: dict[str, torch.Tensor], dtype: torch.dtype) -> None:
    for k, v in new.items():
        v = v.detach().to(dtype)
        sums[k] = sums[k] + v if k in sums else v


def summarise(sums: dict[str, float], rows: float) -> dict[str, float]:
    """Means: loss parts per row seen (``rows``), everything else per counted row."""
    count = sums.get("count", 0.0)
    out = {"count": count}
    for k, v in sums.items():
        if k != "count":
            out[k] = v / max(rows, 1.0) if k in LOSS_KEYS else v / max(count, 1.0)
    return out
