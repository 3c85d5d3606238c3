"""The Hierarchical Reasoning Model core (HRM ACT v1, arXiv 2506.21734), one ACT segment.

With x the input embedding, a slow module H and a fast module L (each a stack of post-norm blocks,
each adding its *injection* to its state first):

    with no_grad:                                   # all but the last L and H updates
        for i in range(H_cycles):
            for j in range(L_cycles):
                if not last (i, j): z_L = L(z_L, z_H + x)
            if not last i:         z_H = H(z_H, z_L)
    z_L = L(z_L, z_H + x)                           # the 1-step gradient: only these two
    z_H = H(z_H, z_L)                               #   calls keep a graph
    y_hat = lm_head(z_H);  (q_halt, q_continue) = q_head(z_H[:, 0])

The carry (z_H, z_L) is detached, so memory does not grow with the number of cycles or segments.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field
from torch import nn

from hrmkit.models.base import BlockModelConfig, CoreOutput
from hrmkit.models.layers import (
    CastedEmbedding,
    CastedLinear,
    PostNormBlock,
    RotaryEmbedding,
    SparsePuzzleEmbedding,
    trunc_normal_,
)

State = tuple[torch.Tensor, torch.Tensor]


class HRMConfig(BlockModelConfig):
    """HRM ACT v1. Defaults are the paper's 27M model (hrm_v1.yaml of the reference)."""

    name: Literal["hrm"] = "hrm"
    H_layers: int = Field(4, ge=1)
    L_layers: int = Field(4, ge=1)
    H_cycles: int = Field(2, ge=1)
    L_cycles: int = Field(2, ge=1)


class ReasoningModule(nn.Module):
    """A stack of blocks; ``forward(z, injection)`` adds the injection, then runs the blocks."""

    def __init__(self, cfg: HRMConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            PostNormBlock(cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps) for _ in range(num_layers))

    def forward(self, z: torch.Tensor, injection: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        z = z + injection
        for layer in self.layers:
            z = layer(z, rope)
        return z


class HRM(nn.Module):
    """The HRM inner model: embeddings, the H and L modules, the output and Q heads."""

    has_q_continue = True

    def __init__(self, cfg: HRMConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, dtype: torch.dtype):
        super().__init__()
        self.cfg = cfg
        self.dtype = dtype
        d = cfg.hidden_size
        self.embed_scale = math.sqrt(d)
        self.embed_tokens = CastedEmbedding(vocab_size, d, init_std=1.0 / self.embed_scale, cast_to=dtype)
        # The puzzle embedding takes ceil(ndim / hidden) prefix positions (1 for ndim = hidden).
        self.puzzle_emb_len = -(-cfg.puzzle_emb_ndim // d) if cfg.puzzle_emb_ndim else 0
        self.puzzle_emb = (SparsePuzzleEmbedding(num_puzzle_identifiers, cfg.puzzle_emb_ndim, cast_to=dtype)
                           if cfg.puzzle_emb_ndim else None)
        self.total_len = seq_len + self.puzzle_emb_len
        if cfg.pos_encodings == "rope":
            self.rotary = RotaryEmbedding(d // cfg.num_heads, self.total_len, cfg.rope_theta)
        else:
            self.embed_pos = CastedEmbedding(self.total_len, d, init_std=1.0 / self.embed_scale, cast_to=dtype)
        self.H_level = ReasoningModule(cfg, cfg.H_layers)
        self.L_level = ReasoningModule(cfg, cfg.L_layers)
        self.lm_head = CastedLinear(d, vocab_size)
        self.q_head = CastedLinear(d, 2, bias=True)
        # Start out "continue": Q logits at -5 (sigmoid ~ 0.007), so early training runs all segments.
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)
        # Fixed initial states, never trained, broadcast to every position on reset.
        self.register_buffer("H_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)
        self.register_buffer("L_init", trunc_normal_(torch.empty(d), std=1.0), persistent=True)

    # ---- embeddings (outside the recursion, so torch.compile can take the recursion alone)

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(inputs.long())
        if self.puzzle_emb is not None:
            p = self.puzzle_emb(puzzle_identifiers.long())
            pad = self.puzzle_emb_len * self.cfg.hidden_size - p.shape[-1]
            if pad:
                p = nn.functional.pad(p, (0, pad))
            x = torch.cat([p.view(-1, self.puzzle_emb_len, self.cfg.hidden_size), x], dim=1)
        if self.cfg.pos_encodings == "learned":
            # 1/sqrt(2) keeps the variance of the sum equal to that of each term.
            x = 0.707106781 * (x + self.embed_pos.weight.to(self.dtype))
        return self.embed_scale * x

    # ---- states

    def empty_state(self, batch_size: int, device: torch.device) -> State:
        shape = (batch_size, self.total_len, self.cfg.hidden_size)
        return torch.empty(shape, dtype=self.dtype, device=device), torch.empty(shape, dtype=self.dtype, device=device)

    def reset_state(self, state: State, reset: torch.Tensor) -> State:
        """Rows where ``reset`` is True go back to the fixed initial states."""
        z_H, z_L = state
        mask = reset.view(-1, 1, 1)
        return (torch.where(mask, self.H_init.to(self.dtype), z_H), torch.where(mask, self.L_init.to(self.dtype), z_L))

    # ---- one segment

    def forward(self, state: State, x: torch.Tensor) -> CoreOutput:
        cfg = self.cfg
        rope = self.rotary() if cfg.pos_encodings == "rope" else None
        z_H, z_L = state
        with torch.no_grad():
            for i in range(cfg.H_cycles):
                for j in range(cfg.L_cycles):
                    if not (i == cfg.H_cycles - 1 and j == cfg.L_cycles - 1):
                        z_L = self.L_level(z_L, z_H + x, rope)
                if i != cfg.H_cycles - 1:
                    z_H = self.H_level(z_H, z_L, rope)
        # 1-step gradient approximation: only the final L and H updates are differentiated.
        z_L = self.L_level(z_L, z_H + x, rope)
        z_H = self.H_level(z_H, z_L, rope)
        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).float()
        return CoreOutput((z_H.detach(), z_L.detach()), logits, q[..., 0], q[..., 1])
