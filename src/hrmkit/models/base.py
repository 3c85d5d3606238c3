"""What every architecture shares: its config's common fields and the contract of a *core*.

A core is the model of one ACT segment; the shared ACT loop (``act.py``) wraps it. A core is an
``nn.Module`` built as ``Core(cfg, vocab_size, seq_len, num_puzzle_identifiers, dtype)`` with:

- ``has_q_continue``: True when it learns a Q-continue value (HRM); the ACT loop then halts on
  q_halt > q_continue and computes the bootstrapped continue target. False (TRM): halt on q_halt > 0,
  no continue target, no extra forward;
- ``embed(inputs, puzzle_identifiers) -> x``: the input embedding (kept outside the recursion);
- ``empty_state(batch_size, device)`` and ``reset_state(state, reset)``: the recurrent state and its
  reset to the initial values in the rows where ``reset`` is True;
- ``forward(state, x) -> CoreOutput``: one segment; the returned state is detached.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    """Settings of the ACT loop, precision and loss; each architecture subclasses it with
    ``name: Literal["<its name>"]`` and its own fields."""

    model_config = ConfigDict(extra="forbid")
    name: str
    halt_max_steps: int = Field(16, ge=1)
    halt_exploration_prob: float = Field(0.1, ge=0, le=1)
    forward_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bfloat16 on CUDA with bf16 support, float32 elsewhere")
    loss_type: Literal["stablemax", "softmax"] = "stablemax"


State = tuple[torch.Tensor, ...]


class CoreOutput(NamedTuple):
    state: State  # detached: no graph crosses segments
    logits: torch.Tensor  # [B, seq_len, vocab], the puzzle prefix removed
    q_halt: torch.Tensor  # [B] float32
    q_continue: torch.Tensor  # [B] float32 (computed by every core; used only when has_q_continue)


def resolve_dtype(forward_dtype: str, device: torch.device) -> torch.dtype:
    if forward_dtype == "float32":
        return torch.float32
    if forward_dtype == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
