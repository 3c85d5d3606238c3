"""Building blocks shared by every architecture: init, casted linear/embedding, RMSNorm, RoPE,
attention (through torch's scaled_dot_product_attention, which picks flash kernels on GPUs), SwiGLU,
the post-norm transformer and mixer blocks, and the reasoning module (a stack of blocks run on state plus
injection) that HRM and TRM recurse through. No biases anywhere except where a caller asks for one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- init


def _truncated_std(lower: float, upper: float) -> float:
    """Standard deviation of a unit normal truncated to [lower, upper]."""
    def pdf(x: float) -> float:
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    z = 0.5 * (math.erf(upper / math.sqrt(2)) - math.erf(lower / math.sqrt(2)))
    var = 1 + (lower * pdf(lower) - upper * pdf(upper)) / z - ((pdf(lower) - pdf(upper)) / z) ** 2
    return math.sqrt(var)


@torch.no_grad()
def trunc_normal_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """JAX-style truncated normal: cut at [lower, upper] standard deviations, rescaled so the
    *truncated* distribution has standard deviation ``std`` (torch's ``trunc_normal_`` does not)."""
    if std == 0:
        return tensor.zero_()
    scale = std / _truncated_std(lower, upper)
    a, b = math.erf(lower / math.sqrt(2)), math.erf(upper / math.sqrt(2))
    tensor.uniform_(a, b).erfinv_().mul_(math.sqrt(2) * scale)
    return tensor.clamp_(lower * scale, upper * scale)


# --------------------------------------------------------------------------- casted layers


class CastedLinear(nn.Module):
    """Linear layer with fp32 master weights cast to the input's dtype (bf16 forward, fp32 weights)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(out_features, in_features), std=1.0 / math.sqrt(in_features)))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    def __init__(self, num_embeddings: int, dim: int, init_std: float, cast_to: torch.dtype):
        super().__init__()
        self.cast_to = cast_to
        self.weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, dim), std=init_std))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.weight.to(self.cast_to))


class SparsePuzzleEmbedding(nn.Module):
    """A per-puzzle learned vector kept in a buffer, not a Parameter: only the rows of the current
    batch get a gradient, and :class:`hrmkit.optim.SignSGDSparse` updates just those rows.

    In training (with grad enabled) the rows of the batch are copied into a fresh leaf tensor
    ``local_weights`` whose ``.grad`` the optimizer reads; ``local_ids`` records which rows they are.
    """

    def __init__(self, num_embeddings: int, dim: int, cast_to: torch.dtype):
        super().__init__()
        self.cast_to = cast_to
        self.register_buffer("weights", torch.zeros(num_embeddings, dim), persistent=True)  # zero-init, as the reference
        self.local_weights: torch.Tensor | None = None
        self.local_ids: torch.Tensor | None = None

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return self.weights[ids].to(self.cast_to)
        self.local_ids = ids.detach().clone()
        self.local_weights = self.weights[ids].detach().clone().requires_grad_(True)
        return self.local_weights.to(self.cast_to)


# --------------------------------------------------------------------------- norm, positions


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm without a learnable scale, computed in fp32."""
    dtype = x.dtype
    x = x.float()
    return (x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)).to(dtype)


class RotaryEmbedding(nn.Module):
    """cos/sin tables for RoPE over positions 0..max_len-1 (the puzzle prefix included)."""

    def __init__(self, head_dim: int, max_len: int, theta: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos, self.sin


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k: [B, L, heads, head_dim]; rotation in fp32, then back to the input dtype."""
    dtype = q.dtype
    cos, sin = cos[:, None, :], sin[:, None, :]
    qf, kf = q.float(), k.float()
    return (qf * cos + _rotate_half(qf) * sin).to(dtype), (kf * cos + _rotate_half(kf) * sin).to(dtype)


# --------------------------------------------------------------------------- block


class Attention(nn.Module):
    """Non-causal multi-head self-attention, fused qkv projection, no padding mask (as the reference)."""

    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * hidden_size)
        self.o_proj = CastedLinear(hidden_size, hidden_size)

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        B, L, _ = h.shape
        q, k, v = self.qkv_proj(h).view(B, L, 3, self.num_heads, self.head_dim).unbind(2)
        if rope is not None:
            q, k = apply_rotary(q, k, *rope)
        out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=False)
        return self.o_proj(out.transpose(1, 2).reshape(B, L, -1))


def swiglu_width(hidden_size: int, expansion: float) -> int:
    """round(expansion * d * 2/3) rounded up to a multiple of 256 (512, 4 -> 1536)."""
    inter = round(expansion * hidden_size * 2 / 3)
    return -(-inter // 256) * 256


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, expansion: float):
        super().__init__()
        inter = swiglu_width(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, 2 * inter)
        self.down_proj = CastedLinear(inter, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class PostNormBlock(nn.Module):
    """h = rms(h + Attn(h)); h = rms(h + SwiGLU(h)) — post-norm, unscaled RMSNorm."""

    def __init__(self, hidden_size: int, num_heads: int, expansion: float, eps: float):
        super().__init__()
        self.attn = Attention(hidden_size, num_heads)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.eps = eps

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        h = rms_norm(h + self.attn(h, rope), self.eps)
        return rms_norm(h + self.mlp(h), self.eps)


class PostNormMixerBlock(nn.Module):
    """The MLP-Mixer-style block of TRM's ``mlp_t`` variant: a SwiGLU over the *token* axis in place of
    attention, then the usual channel SwiGLU, both post-norm.

    The token half runs on the transposed tensor [B, D, L], and its RMSNorm is taken there too, so it
    normalises every channel over the sequence axis, not every position over D. That is what the
    reference does (TRM ``models/recursive_reasoning/trm.py``); it is kept on purpose.
    """

    def __init__(self, num_positions: int, hidden_size: int, expansion: float, eps: float):
        super().__init__()
        self.mlp_t = SwiGLU(num_positions, expansion)  # mixes positions; its "hidden size" is L
        self.mlp = SwiGLU(hidden_size, expansion)
        self.eps = eps

    def forward(self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        t = h.transpose(1, 2)
        h = rms_norm(t + self.mlp_t(t), self.eps).transpose(1, 2)  # RMSNorm over L (the quirk)
        return rms_norm(h + self.mlp(h), self.eps)


# --------------------------------------------------------------------------- the recursed module


class ReasoningModule(nn.Module):
    """A stack of blocks applied to ``state + injection``: HRM's H and L modules and TRM's one network, as in
    both references. The blocks stay in ``layers``: checkpoints name them ``<module>.layers.<i>...``."""

    def __init__(self, blocks: Iterable[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(blocks)

    def forward(self, state: torch.Tensor, injection: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        h = state + injection
        for layer in self.layers:
            h = layer(h, rope)
        return h
