"""Model factory: an architecture by name, wrapped in the shared ACT outer loop."""

from __future__ import annotations

import torch

from hrmkit.config import ArchConfig
from hrmkit.data.format import DatasetMetadata
from hrmkit.models.act import ACTCarry, ACTModel
from hrmkit.models.hrm import HRM

__all__ = ["ACTCarry", "ACTModel", "build_model", "resolve_dtype"]


def resolve_dtype(arch: ArchConfig, device: torch.device) -> torch.dtype:
    if arch.forward_dtype == "float32":
        return torch.float32
    if arch.forward_dtype == "bfloat16":
        return torch.bfloat16
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def build_model(arch: ArchConfig, dataset: DatasetMetadata, device: torch.device | str = "cpu") -> ACTModel:
    device = torch.device(device)
    dtype = resolve_dtype(arch, device)
    if arch.name == "hrm":
        core = HRM(arch, dataset.vocab_size, dataset.seq_len, dataset.num_puzzle_identifiers, dtype)
    else:  # pragma: no cover - the config only admits known names
        raise ValueError(f"unknown architecture {arch.name!r}")
    return ACTModel(core, arch.halt_max_steps, arch.halt_exploration_prob).to(device)
