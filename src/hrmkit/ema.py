"""Exponential moving average of the weights (TRM's ``ema=True``, rate 0.999).

As the TRM reference: the shadow starts as a copy of every trainable parameter and after every
optimizer step becomes rate * shadow + (1 - rate) * param. Buffers (the puzzle-embedding table, the
fixed init states) are not averaged: evaluation uses the live ones. Evaluation and the checkpoint's
``model.safetensors`` use the shadow; training goes on with the raw weights (saved beside it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, rate: float = 0.999):
        if not 0 <= rate < 1:
            raise ValueError(f"EMA rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, p in model.named_parameters():
            if name in self.shadow:
                self.shadow[name].lerp_(p.detach(), 1 - self.rate)

    @contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[nn.Module]:
        """Within the block the model holds the EMA weights; the raw ones come back afterwards."""
        params = dict(model.named_parameters())
        raw = {name: params[name].detach().clone() for name in self.shadow}
        with torch.no_grad():
            for name, value in self.shadow.items():
                params[name].copy_(value)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, value in raw.items():
                    params[name].copy_(value)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    @torch.no_grad()
    def load_from_weights(self, weights: dict[str, torch.Tensor]) -> None:
        """Take the shadow from a saved state dict (the checkpoint's inference weights)."""
        for name, value in self.shadow.items():
            if name not in weights:
                raise KeyError(f"EMA weights lack {name}")
            value.copy_(weights[name])
