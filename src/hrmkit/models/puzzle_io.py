"""What the TRM and transformer-baseline cores share with HRM around their networks: the input
embedding (tokens, the per-puzzle prefix, positions, the sqrt(D) scale), the output and Q heads,
and fixed initial states. Built in the references' order (embeddings, heads, puzzle table,
positions, then the core's network, then the initial states), so a seeded build draws its weights
in the same order as the reference code.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from hrmkit.models.layers import CastedEmbedding, CastedLinear, RotaryEmbedding, SparsePuzzleEmbedding, trunc_normal_

State = tuple[torch.Tensor, ...]


class PuzzleIO(nn.Module):
    """Base of a core: ``_build_io`` before the network, ``_build_init_states`` after it.

    The puzzle vector (``puzzle_emb_ndim`` wide) is zero-padded to ``puzzle_emb_len`` positions and
    prepended to the tokens, so the model sequence is ``seq_len + puzzle_emb_len`` long; TRM uses 16
    prefix positions (vector at 0, zeros at 1..15), HRM and the baseline ceil(ndim / D) = 1.
    """

    dtype: torch.dtype
    hidden_size: int
    puzzle_emb_len: int
    total_len: int
    pos_encodings: str
    init_names: tuple[str, ...]

    def _build_io(self, cfg: Any, vocab_size: int, seq_len: int, num_puzzle_identifiers: int, *, puzzle_emb_len: int,
                  pos_encodings: str, dtype: torch.dtype) -> None:
        """``cfg`` gives hidden_size, num_heads, puzzle_emb_ndim and rope_theta."""
        num_heads, puzzle_emb_ndim, rope_theta = cfg.num_heads, cfg.puzzle_emb_ndim, cfg.rope_theta
        self.dtype = dtype
        self.hidden_size = d = cfg.hidden_size
        self.pos_encodings = pos_encodings
        self.embed_scale = math.sqrt(d)
        self.embed_tokens = CastedEmbedding(vocab_size, d, init_std=1.0 / self.embed_scale, cast_to=dtype)
        self.lm_head = CastedLinear(d, vocab_size)
        self.q_head = CastedLinear(d, 2, bias=True)
        self.puzzle_emb_len = puzzle_emb_len
        self.puzzle_emb = SparsePuzzleEmbedding(num_puzzle_identifiers, puzzle_emb_ndim, cast_to=dtype) if puzzle_emb_ndim else None
        self.total_len = seq_len + puzzle_emb_len
        self.rotary = RotaryEmbedding(d // num_heads, self.total_len, rope_theta) if pos_encodings == "rope" else None
        if pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(self.total_len, d, init_std=1.0 / self.embed_scale, cast_to=dtype)

    def _build_init_states(self, *names: str) -> None:
        """Fixed initial states (truncated normal, std 1), never trained, broadcast to every position on reset;
        and the Q head at "continue" (weight 0, bias -5: sigmoid ~ 0.007), so early training runs every segment."""
        self.init_names = names
        for name in names:
            self.register_buffer(name, trunc_normal_(torch.empty(self.hidden_size), std=1.0), persistent=True)
        with torch.no_grad():
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5.0)

    # ---- the core contract (see base.py)

    def embed(self, inputs: torch.Tensor, puzzle_identifiers: torch.Tensor) -> torch.Tensor:
        x = self.embed_tokens(inputs.long())
        if self.puzzle_emb is not None:
            p = self.puzzle_emb(puzzle_identifiers.long())
            pad = self.puzzle_emb_len * self.hidden_size - p.shape[-1]
            if pad:
                p = nn.functional.pad(p, (0, pad))
            x = torch.cat([p.view(-1, self.puzzle_emb_len, self.hidden_size), x], dim=1)
        if self.pos_encodings == "learned":
            # 1/sqrt(2) keeps the variance of the sum equal to that of each term.
            x = 0.707106781 * (x + self.embed_pos.weight.to(self.dtype))
        return self.embed_scale * x

    def empty_state(self, batch_size: int, device: torch.device) -> State:
        shape = (batch_size, self.total_len, self.hidden_size)
        return tuple(torch.empty(shape, dtype=self.dtype, device=device) for _ in self.init_names)

    def reset_state(self, state: State, reset: torch.Tensor) -> State:
        """Rows where ``reset`` is True go back to the fixed initial states."""
        mask = reset.view(-1, 1, 1)
        return tuple(torch.where(mask, getattr(self, name).to(self.dtype), s) for name, s in zip(self.init_names, state, strict=True))

    def rope(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        return self.rotary() if self.rotary is not None else None

    def heads(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits of the answer (prefix positions dropped) and the (halt, continue) Q logits from position 0."""
        logits = self.lm_head(y)[:, self.puzzle_emb_len:]
        q = self.q_head(y[:, 0]).float()
        return logits, q[..., 0], q[..., 1]
