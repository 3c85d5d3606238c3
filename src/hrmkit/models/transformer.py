"""A plain transformer baseline: no recursion, one pass of ``num_layers`` post-norm blocks per ACT segment.

Same input embedding (tokens, a 1-position puzzle prefix, RoPE, sqrt(D) scale), output head and
Q head as HRM; 8 blocks at hidden 512 have exactly HRM's 27,275,266 parameters on Sudoku, so it is
the "same size, no hierarchy, no recursion" control.

The carry is one tensor h [B, seq_len + 1, D]: the output of the last block at the previous segment,
detached. A segment computes

    h = blocks(h + x)          # x = the input embedding, re-injected at every segment
    y_hat = lm_head(h) without the prefix;  (q_halt, q_continue) = q_head(h[:, 0])

and a reset slot restarts from a fixed truncated-normal vector ``H_init`` broadcast to every
position. This follows ``models/recursive_reasoning/transformers_baseline.py`` (``Model_ACTV2``) of
SamsungSAILMontreal/TinyRecursiveModels ``e7b6871``, the ARC Prize "single-level transformer + ACT"
ablation of HRM. With ``halt_max_steps = 1`` every segment starts from ``H_init``, so the carry plays
no part and the model is a plain single-pass transformer with one supervision step (no deep
supervision). The gradient flows through the whole pass (there is no recursion to truncate).

Differences from that file, chosen to make it a matched control for HRM:
- halting and the Q losses are HRM's (halt when q_halt > q_continue, with the bootstrapped continue
  target from one more segment); the reference computes that target only when its forward gets
  ``compute_target_q=True``, which its training loop never passes, so there q_continue is never
  trained. ``no_ACT_continue=True`` gives TRM's rule (q_halt > 0, no continue loss) instead;
- 8 heads (head size 64) rather than the reference yaml's 12, which with hidden 512 gives head size
  42 and a 504-wide attention (and a different parameter count);
- no ``act_inference`` switch: evaluation always runs ``halt_max_steps`` segments, as for HRM and TRM.
"""

from __future__ import annotations

import torch
from torch import nn

from hrmkit.models.base import CoreOutput
from hrmkit.models.configs import TransformerConfig
from hrmkit.models.layers import PostNormBlock
from hrmkit.models.puzzle_io import PuzzleIO


class TransformerBaseline(PuzzleIO):
    def __init__(self, cfg: TransformerConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, dtype: torch.dtype):
        super().__init__()
        self.cfg = cfg
        self.has_q_continue = not cfg.no_ACT_continue
        self._build_io(cfg, vocab_size, seq_len, num_puzzle_identifiers, puzzle_emb_len=cfg.prefix_len, pos_encodings=cfg.pos_encodings,
                       dtype=dtype)
        self.layers = nn.ModuleList(
            PostNormBlock(cfg.hidden_size, cfg.num_heads, cfg.expansion, cfg.rms_norm_eps) for _ in range(cfg.num_layers))
        self._build_init_states("H_init")

    def forward(self, state: tuple[torch.Tensor, ...], x: torch.Tensor) -> CoreOutput:
        rope = self.rope()
        (h,) = state
        h = h + x  # the previous segment's output, plus the input re-injected
        for layer in self.layers:
            h = layer(h, rope)
        logits, q_halt, q_continue = self.heads(h)
        return CoreOutput((h.detach(),), logits, q_halt, q_continue)
