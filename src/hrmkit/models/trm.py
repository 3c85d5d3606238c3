"""The Tiny Recursive Model core (TRM, arXiv 2510.04871), one ACT segment (one "supervision step").

In the paper's notation, x is the embedded question, y the current answer (the reference's z_H)
and z the latent reasoning feature (z_L). ONE small network ``net`` (``L_layers`` post-norm blocks,
adding its injection to its state first) does both updates; whether x is in the injection tells it
which one it is doing:

    def latent_recursion(x, y, z):          # one "recursion process"
        for i in range(n):                  # n = L_cycles
            z = net(z, y + x)               # refine the latent from question, answer and itself
        y = net(y, z)                       # refine the answer from the latent
        return y, z

    with no_grad:                           # T - 1 processes only improve (y, z) ...
        for j in range(T - 1):              # T = H_cycles
            y, z = latent_recursion(x, y, z)
    y, z = latent_recursion(x, y, z)        # ... the last one is back-propagated in full
    y_hat = lm_head(y) without the prefix;  q_halt = q_head(y[:, 0])[0]

The carry (y, z) is detached between segments, and halting uses q_halt > 0 alone
(``no_ACT_continue``, the TRM default: no Q-continue loss and no extra forward pass).

Follows SamsungSAILMontreal/TinyRecursiveModels ``e7b6871`` (``models/recursive_reasoning/trm.py``),
including its 16-position puzzle prefix (the learned vector at position 0, zeros at 1..15 in x) and
the ``mlp_t`` variant (:class:`~hrmkit.models.layers.PostNormMixerBlock`). Differences: with
``no_ACT_continue=False`` hrmkit runs HRM's Q-continue rule and target (the reference unpacks the
wrong number of values there and fails); with ``puzzle_emb_ndim=0`` there is no prefix at all (the
reference keeps 16 positions in the state but none in x, and the shapes do not match).
"""

from __future__ import annotations

import torch

from hrmkit.models.base import CoreOutput
from hrmkit.models.configs import TRMConfig
from hrmkit.models.layers import PostNormBlock, PostNormMixerBlock, ReasoningModule
from hrmkit.models.puzzle_io import PuzzleIO

State = tuple[torch.Tensor, torch.Tensor]
Rope = tuple[torch.Tensor, torch.Tensor] | None


class TRM(PuzzleIO):
    """The TRM inner model: embeddings, the one network, the output and Q heads."""

    def __init__(self, cfg: TRMConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, dtype: torch.dtype):
        super().__init__()
        self.cfg = cfg
        self.has_q_continue = not cfg.no_ACT_continue
        # mlp_t blocks have no attention to rotate: RoPE would go unused.
        pos_encodings = "none" if cfg.mlp_t and cfg.pos_encodings == "rope" else cfg.pos_encodings
        self._build_io(cfg, vocab_size, seq_len, num_puzzle_identifiers, puzzle_emb_len=cfg.prefix_len, pos_encodings=pos_encodings, dtype=dtype)
        self.net = ReasoningModule(
            PostNormMixerBlock(self.total_len, cfg.hidden_size, cfg.expansion, cfg.rms_norm_eps) if cfg.mlp_t
            else PostNormBlock(cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps)
            for _ in range(cfg.L_layers))
        self._build_init_states("H_init", "L_init")  # y0 and z0

    def latent_recursion(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, rope: Rope) -> State:
        """One recursion process: n latent updates, then one answer update."""
        for _ in range(self.cfg.L_cycles):
            z = self.net(z, y + x, rope)
        y = self.net(y, z, rope)
        return y, z

    def forward(self, state: State, x: torch.Tensor) -> CoreOutput:
        rope = self.rope()
        y, z = state
        with torch.no_grad():
            for _ in range(self.cfg.H_cycles - 1):
                y, z = self.latent_recursion(x, y, z, rope)
        # The last process keeps its whole graph (no 1-step approximation); the incoming y, z carry none.
        y, z = self.latent_recursion(x, y, z, rope)
        logits, q_halt, q_continue = self.heads(y)
        return CoreOutput((y.detach(), z.detach()), logits, q_halt, q_continue)
