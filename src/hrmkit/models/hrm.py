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

import torch

from hrmkit.models.base import CoreOutput
from hrmkit.models.configs import HRMConfig
from hrmkit.models.layers import (
    CastedEmbedding,
    CastedLinear,
    PostNormBlock,
    ReasoningModule,
    RotaryEmbedding,
    SparsePuzzleEmbedding,
)
from hrmkit.models.puzzle_io import PuzzleIO

State = tuple[torch.Tensor, torch.Tensor]


def _blocks(cfg: HRMConfig, num_layers: int) -> list[PostNormBlock]:
    return [PostNormBlock(cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps) for _ in range(num_layers)]


class HRM(PuzzleIO):
    """The HRM inner model: embeddings, the H and L modules, the output and Q heads.

    The embedding, states and heads are :class:`PuzzleIO`'s; the modules are built here in the HRM
    reference's order (embeddings, positions, H and L, heads, init states), so a seed draws the same
    weights as before TRM shared that code.
    """

    has_q_continue = True

    def __init__(self, cfg: HRMConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, dtype: torch.dtype):
        super().__init__()
        self.cfg = cfg
        self.dtype = dtype
        self.hidden_size = d = cfg.hidden_size
        self.pos_encodings = cfg.pos_encodings
        self.embed_scale = math.sqrt(d)
        self.embed_tokens = CastedEmbedding(vocab_size, d, init_std=1.0 / self.embed_scale, cast_to=dtype)
        self.puzzle_emb_len = cfg.prefix_len
        self.puzzle_emb = (SparsePuzzleEmbedding(num_puzzle_identifiers, cfg.puzzle_emb_ndim, cast_to=dtype)
                           if cfg.puzzle_emb_ndim else None)
        self.total_len = seq_len + self.puzzle_emb_len
        self.rotary = RotaryEmbedding(d // cfg.num_heads, self.total_len, cfg.rope_theta) if cfg.pos_encodings == "rope" else None
        if cfg.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(self.total_len, d, init_std=1.0 / self.embed_scale, cast_to=dtype)
        self.H_level = ReasoningModule(_blocks(cfg, cfg.H_layers))
        self.L_level = ReasoningModule(_blocks(cfg, cfg.L_layers))
        self.lm_head = CastedLinear(d, vocab_size)
        self.q_head = CastedLinear(d, 2, bias=True)
        self._build_init_states("H_init", "L_init")  # also sets the Q head to "continue" (weight 0, bias -5)

    # ---- one segment

    def forward(self, state: State, x: torch.Tensor) -> CoreOutput:
        cfg = self.cfg
        rope = self.rope()
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
        logits, q_halt, q_continue = self.heads(z_H)
        return CoreOutput((z_H.detach(), z_L.detach()), logits, q_halt, q_continue)
