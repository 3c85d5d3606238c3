"""Checks of a core's initialisation against the references' init (hrm-spec.md §1, trm-spec.md §1.3-1.5), shared by
test_model.py (HRM) and test_trm.py (TRM, the transformer baseline)."""

from __future__ import annotations

import math

import torch
from torch import nn

from hrmkit.models.layers import CastedEmbedding, CastedLinear, SparsePuzzleEmbedding

# Standard deviation of a unit normal cut at +-2: the reference rescales by it so the cut distribution has the asked std.
TRUNC_STD_2 = 0.8796256610342398
# Share of a normal cut at +-2 sigma that lies within +-1 sigma: (2 Phi(1) - 1) / (2 Phi(2) - 1).
WITHIN_ONE_SIGMA = 0.6826894921370859 / 0.9544997361036416


def assert_shapes(model: nn.Module, params: dict[str, tuple[int, ...]], buffers: dict[str, tuple[int, ...]],
                  derived: dict[str, tuple[int, ...]]) -> None:
    """Every parameter and buffer by name and shape: ``params`` are trained, ``buffers`` are saved in a
    checkpoint too (state_dict), ``derived`` are non-persistent buffers (e.g. RoPE tables)."""
    assert {n: tuple(p.shape) for n, p in model.named_parameters()} == params
    assert {n: tuple(t.shape) for n, t in model.state_dict().items()} == params | buffers  # what a checkpoint holds
    assert {n: tuple(b.shape) for n, b in model.named_buffers()} == buffers | derived


def assert_truncated_normal(t: torch.Tensor, std: float, what: str) -> None:
    """``t`` looks like draws of the JAX-style truncated normal: cut at 2 sigma of the underlying normal, whose
    sigma is std / TRUNC_STD_2, so the values themselves have standard deviation ``std``. Bounds are 5 standard errors."""
    x = t.detach().double().flatten()
    n = x.numel()
    sigma = std / TRUNC_STD_2  # of the normal before the cut
    assert x.abs().max() <= 2 * sigma * (1 + 1e-6), f"{what}: values beyond the +-2 sigma cut"
    # The sample std's standard error is below sqrt((kurtosis - 1) / 4n) * std; a cut normal has kurtosis < 3.
    assert abs(x.std().item() / std - 1) <= 5 * math.sqrt(2 / (4 * n)), f"{what}: std {x.std().item():.5g}, want {std:.5g}"
    assert abs(x.mean().item()) <= 5 * std / math.sqrt(n), f"{what}: mean {x.mean().item():.3g}"
    within = (x.abs() < sigma).double().mean().item()
    assert abs(within - WITHIN_ONE_SIGMA) <= 5 * math.sqrt(WITHIN_ONE_SIGMA * (1 - WITHIN_ONE_SIGMA) / n), f"{what}: not normal-shaped"
    if n >= 2000:  # ~1.3% of the mass lies beyond 0.95 of the cut: the cut is at 2 sigma, not lower
        assert x.abs().max() >= 0.95 * 2 * sigma, f"{what}: cut below 2 sigma"


def assert_reference_init(core: nn.Module, hidden_size: int) -> None:
    """Every parameter and fixed buffer of ``core`` as the references initialise it:
    linear weights truncated LeCun (std 1 / sqrt(fan_in)) with no bias, the Q head at weight 0 and bias -5,
    embeddings std 1 / sqrt(hidden), the puzzle table zero, the initial states truncated normal with std 1."""
    checked: set[str] = set()
    for name, module in core.named_modules():
        if isinstance(module, CastedLinear):
            if name == "q_head":
                assert module.bias is not None and torch.equal(module.bias, torch.full((2,), -5.0)), "q_head.bias"
                assert torch.equal(module.weight, torch.zeros_like(module.weight)), "q_head.weight"
                checked.add(f"{name}.bias")
            else:
                assert module.bias is None, f"{name} has a bias; the reference has none"
                assert_truncated_normal(module.weight, 1 / math.sqrt(module.weight.shape[1]), name)
            checked.add(f"{name}.weight")
        elif isinstance(module, CastedEmbedding):
            assert_truncated_normal(module.weight, 1 / math.sqrt(hidden_size), name)
            checked.add(f"{name}.weight")
        elif isinstance(module, SparsePuzzleEmbedding):
            assert torch.equal(module.weights, torch.zeros_like(module.weights)), f"{name}: puzzle table not zero"
    assert checked == {n for n, _ in core.named_parameters()}, "a parameter no rule checks"
    params = {n for n, _ in core.named_parameters()}
    for name in core.init_names:
        buffer = getattr(core, name)
        assert name not in params and name in core.state_dict(), f"{name} must be a persistent buffer, never trained"
        assert buffer.shape == (hidden_size,)
        assert_truncated_normal(buffer, 1.0, name)
