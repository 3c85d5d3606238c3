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
from typing import NamedTuple

import torch

__all__ = ["CoreOutput", "State", "cpu_has_bf16_matrix_units", "resolve_dtype"]


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
