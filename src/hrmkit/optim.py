"""Optimizers of the HRM reference, in pure PyTorch (no CUDA extension).

AdamATan2 (the ``adam-atan2`` package's formula, *not* lucidrains' ``adam-atan2-pytorch``, which
scales by a = 1.27): Adam whose update uses atan2 instead of m / (sqrt(v) + eps), so it needs no eps
and is bounded, with decoupled weight decay:

    p <- p * (1 - lr * wd)
    m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2
    p <- p - lr / (1 - b1^t) * atan2(m, sqrt(v) / sqrt(1 - b2^t))

SignSGDSparse updates the rows of a :class:`SparsePuzzleEmbedding` seen in the batch:
p <- p (1 - lr wd) - lr sign(sum of the row's gradients), gathering rows from every rank under DDP.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist

from hrmkit.models.layers import SparsePuzzleEmbedding


def _unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The function under torch's decorators (functools.wraps keeps it as ``__wrapped__``)."""
    while hasattr(fn, "__wrapped__"):
        fn = fn.__wrapped__
    return fn


class AdamATan2(torch.optim.Optimizer):
    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.95),
                 weight_decay: float = 0.0):
        if lr < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid AdamATan2 settings lr={lr} betas={betas} weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))

    # torch.optim.Optimizer wraps add_param_group and zero_grad in torch._disable_dynamo, whose first call imports
    # torch._dynamo (sympy and ~800 modules: +70 MB of RSS, a tenth of a small run's peak, and seconds of start-up).
    # An eager run never needs it, so both run unwrapped here; a compiled run imports it anyway.
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _unwrapped(torch.optim.Optimizer.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _unwrapped(torch.optim.Optimizer.zero_grad)(self, set_to_none)

    def _init_state(self, p: torch.Tensor) -> None:
        self.state[p].update(step=torch.zeros((), dtype=torch.float32), exp_avg=torch.zeros_like(p, memory_format=torch.preserve_format),
                             exp_avg_sq=torch.zeros_like(p, memory_format=torch.preserve_format))

    def init_state(self) -> None:
        """Allocate every parameter's state now, as its first step would (zeros). Done before the first step, the
        moments (twice the model, kept all run) sit below the activations in the heap rather than in the holes that
        the first step's freed activations leave, which grew the peak RSS (by 15 MB for the 27M model)."""
        for group in self.param_groups:
            for p in group["params"]:
                if not self.state[p]:
                    self._init_state(p)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, (b1, b2), wd = group["lr"], group["betas"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    self._init_state(p)
                state["step"] += 1
                t = float(state["step"])
                grad = p.grad.to(p.dtype)
                p.mul_(1 - lr * wd)
                state["exp_avg"].lerp_(grad, 1 - b1)
                state["exp_avg_sq"].mul_(b2).addcmul_(grad, grad, value=1 - b2)
                denom = state["exp_avg_sq"].sqrt() / math.sqrt(1 - b2**t)
                p.add_(torch.atan2(state["exp_avg"], denom), alpha=-lr / (1 - b1**t))
        return loss


class SignSGDSparse:
    """Sign-SGD with decoupled weight decay on the touched rows of sparse puzzle embeddings."""

    def __init__(self, embeddings: list[SparsePuzzleEmbedding], lr: float, weight_decay: float):
        self.embeddings = embeddings
        self.lr = lr
        self.weight_decay = weight_decay

    @torch.no_grad()
    def step(self) -> None:
        for emb in self.embeddings:
            if emb.local_weights is None or emb.local_weights.grad is None:
                continue
            grad, ids = emb.local_weights.grad, emb.local_ids
            if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
                world = dist.get_world_size()
                all_grads = [torch.empty_like(grad) for _ in range(world)]
                all_ids = [torch.empty_like(ids) for _ in range(world)]
                dist.all_gather(all_grads, grad.contiguous())
                dist.all_gather(all_ids, ids.contiguous())
                grad, ids = torch.cat(all_grads), torch.cat(all_ids)
            unique_ids, inverse = ids.unique(return_inverse=True)
            summed = torch.zeros(len(unique_ids), grad.shape[1], dtype=grad.dtype, device=grad.device)
            summed.index_add_(0, inverse, grad)
            rows = emb.weights[unique_ids]
            emb.weights[unique_ids] = rows * (1 - self.lr * self.weight_decay) - self.lr * torch.sign(summed)

    def zero_grad(self) -> None:
        for emb in self.embeddings:
            emb.local_weights = None
            emb.local_ids = None


def optimizer_tensors(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The optimizer's per-parameter state as flat tensors named ``<parameter>.<state key>`` (for safetensors)."""
    names = {id(p): n for n, p in model.named_parameters()}
    return {f"{names[id(p)]}.{k}": v for p, state in optimizer.state.items() for k, v in state.items()}


def load_optimizer_tensors(optimizer: torch.optim.Optimizer, model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`optimizer_tensors`; the step counter stays on the CPU, moments go to the parameter's device."""
    for name, p in model.named_parameters():
        keys = [k for k in tensors if k.rsplit(".", 1)[0] == name]
        bad = [k for k in keys if not k.endswith(".step") and tensors[k].shape != p.shape]
        if bad:  # refused here rather than failing inside the first optimizer step after a resume
            raise ValueError(f"optimizer state {bad[0]} has shape {tuple(tensors[bad[0]].shape)}, the parameter {tuple(p.shape)}")
        if keys:
            optimizer.state[p] = {k.rsplit(".", 1)[1]: tensors[k].to("cpu" if k.endswith(".step") else p.device) for k in keys}


def lr_at(step: int, base_lr: float, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Linear warmup from 0, then cosine from base_lr to base_lr * min_ratio (1.0 = constant).
    ``step`` counts from 1 (the reference increments before computing the rate)."""
    if step < warmup_steps:
        return base_lr * step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * (min_ratio + max(0.0, (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))))
