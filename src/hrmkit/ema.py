"""Exponential moving average of the weights (TRM: ``ema=True, ema_rate=0.999``; the paper reports
79.9% without it vs 87.4% with it on Sudoku-Extreme).

As the reference (TRM ``models/ema.py`` and ``pretrain.py``): a shadow copy of every trainable
parameter, taken when the helper is created; after *every* optimizer step (every ACT segment)
``shadow = rate * shadow + (1 - rate) * param``; evaluation and the checkpoint written at an
evaluation use the shadow weights while training goes on with the raw ones. Buffers (the puzzle
table, the fixed initial states, RoPE tables) are not averaged: evaluation uses the live puzzle table.

Trainer integration::

    ema = EMA(model, rate=cfg.ema_rate)          # after build_model (and after loading a checkpoint's weights)
    ...
    optimizer.step(); sparse.step()
    ema.update(model)                            # every training step
    ...
    with ema.applied(model):                     # evaluate (and save the model) with the EMA weights
        result = evaluate(model, ...)
    # the raw weights are back here

A checkpoint of a run with an EMA holds the averaged weights as its model (``model.safetensors``, what
evaluation, `hrm solve` and a later fine-tune load) and the raw ones beside them (``raw_model.safetensors``,
which a resume trains on); on resume the shadow is ``ema.load_state_dict(...)`` of the saved model's tensors,
whose names are those of ``model.named_parameters()``.

``model`` may be the ACT model or a DDP / ``torch.compile`` wrapper of it: names are read from the
unwrapped module, so a shadow saved from one loads into the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn


def _unwrap(model: nn.Module) -> nn.Module:
    # DDP and DataParallel keep the model in .module, torch.compile in ._orig_mod.
    while True:
        for attr in ("module", "_orig_mod"):
            inner = getattr(model, attr, None)
            if isinstance(inner, nn.Module):
                model = inner
                break
        else:
            return model


def _trainable(model: nn.Module) -> Iterator[tuple[str, nn.Parameter]]:
    return ((name, p) for name, p in _unwrap(model).named_parameters() if p.requires_grad)


class EMA:
    """Shadow weights of ``model``'s trainable parameters, in the parameters' dtype and device."""

    def __init__(self, model: nn.Module, rate: float = 0.999):
        if not 0 <= rate < 1:
            raise ValueError(f"EMA rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.shadow: dict[str, torch.Tensor] = {name: p.detach().clone() for name, p in _trainable(model)}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """shadow <- rate * shadow + (1 - rate) * param, for every trainable parameter."""
        for name, p in _trainable(model):
            # rate * shadow + (1 - rate) * param, rounded as the reference's expression (not lerp, which rounds differently).
            self.shadow[name].mul_(self.rate).add_((1 - self.rate) * p.detach())

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Overwrite the model's parameters with the shadow weights (no way back; see :meth:`applied`)."""
        for name, p in _trainable(model):
            p.copy_(self.shadow[name])

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[nn.Module]:
        """Inside the block the model holds the EMA weights; on exit (also on an exception) the raw ones are restored."""
        with torch.no_grad():
            raw = {name: p.detach().clone() for name, p in _trainable(model)}
        self.copy_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in _trainable(model):
                    p.copy_(raw[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The shadow weights by parameter name (plain, contiguous tensors: safetensors can save them as they are)."""
        return {name: t.detach().contiguous() for name, t in self.shadow.items()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if set(state) != set(self.shadow):
            missing, extra = sorted(set(self.shadow) - set(state)), sorted(set(state) - set(self.shadow))
            raise ValueError(f"EMA state does not fit the model: missing {missing}, unexpected {extra}")
        for name, t in state.items():
            if t.shape != self.shadow[name].shape:
                raise ValueError(f"EMA state {name}: shape {tuple(t.shape)} != {tuple(self.shadow[name].shape)}")
            self.shadow[name].copy_(t)
