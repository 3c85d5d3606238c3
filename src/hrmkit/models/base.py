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

from pathlib import Path
from typing import Literal, NamedTuple

import torch
from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelConfig(BaseModel):
    """Settings of the ACT loop, precision and loss; each architecture subclasses it with
    ``name: Literal["<its name>"]`` and its own fields."""

    model_config = ConfigDict(extra="forbid")
    name: str
    halt_max_steps: int = Field(16, ge=1)
    halt_exploration_prob: float = Field(0.1, ge=0, le=1)
    forward_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bfloat16 on CUDA with bf16 support and on CPUs with AMX-BF16 units, float32 elsewhere")
    loss_type: Literal["stablemax", "softmax"] = "stablemax"


class BlockModelConfig(ModelConfig):
    """Fields of models built from post-norm attention blocks over an embedded puzzle (HRM, the baseline)."""

    hidden_size: int = Field(512, gt=0)
    num_heads: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    pos_encodings: Literal["rope", "learned"] = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_emb_ndim: int = Field(512, ge=0, description="0 disables the per-puzzle embedding")

    @model_validator(mode="after")
    def _heads_fit(self) -> BlockModelConfig:
        check_heads(self.hidden_size, self.num_heads, self.pos_encodings == "rope")
        return self


def check_heads(hidden_size: int, num_heads: int, rope: bool) -> None:
    """Attention needs hidden_size = heads x head size, and RoPE an even head size."""
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    if rope and (hidden_size // num_heads) % 2:
        raise ValueError(f"RoPE needs an even head size; hidden_size / num_heads = {hidden_size // num_heads}")


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
    if device.type == "cpu" and cpu_has_bf16_matrix_units():
        return torch.bfloat16
    return torch.float32


def cpu_has_bf16_matrix_units() -> bool:
    """True on CPUs with AMX-BF16 tiles (Intel Sapphire Rapids and later), where bf16 matmuls run ~2-3x faster
    than fp32. Elsewhere bf16 is emulated and far slower than fp32, so ``forward_dtype: auto`` keeps fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, but the only check torch offers
    try:
        if probe is None or not probe():
            return False
    except RuntimeError:
        return False
    flags = Path("/proc/cpuinfo")
    if flags.exists():  # AMX tiles without the bf16 unit exist (AMX-INT8 only parts): check the bf16 flag on Linux
        return "amx_bf16" in flags.read_text()
    return True
