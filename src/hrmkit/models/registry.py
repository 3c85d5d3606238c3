"""Architectures by name: ``register_model(ConfigClass, CoreClass)`` and everything that picks one.

The built-in models (HRM, TRM, the transformer baseline) register at the first lookup; a plug-in calls
``register_model`` (or ships an entry point in the group ``hrmkit.models``, see ``hrmkit.plugins``).
``TrainConfig.arch`` is validated through :func:`parse_model_config` (in ``hrmkit.models.configs``, which
needs no torch), which dispatches on ``name``: a discriminated union whose members can be added at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrmkit.models.base import resolve_dtype
from hrmkit.models.configs import DEFAULT_MODEL, ModelConfig, parse_model_config, register_config
from hrmkit.registry import Registry

__all__ = ["DEFAULT_MODEL", "ModelSpec", "build_model", "count_parameters", "get_model", "model_names", "parse_model_config",
           "register_model"]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    config_cls: type[ModelConfig]
    core_cls: type[nn.Module]


_builtins_registered = False


def _load_builtins() -> None:
    global _builtins_registered
    if not _builtins_registered:
        _builtins_registered = True
        from hrmkit.models.configs import HRMConfig, TransformerConfig, TRMConfig
        from hrmkit.models.hrm import HRM
        from hrmkit.models.transformer import TransformerBaseline
        from hrmkit.models.trm import TRM

        for config_cls, core_cls in ((HRMConfig, HRM), (TRMConfig, TRM), (TransformerConfig, TransformerBaseline)):
            register_model(config_cls, core_cls)
    from hrmkit.plugins import load_plugins

    load_plugins()


_MODELS: Registry[ModelSpec] = Registry("model", _load_builtins)


def register_model(config_cls: type[ModelConfig], core_cls: type[nn.Module], *, replace: bool = False) -> ModelSpec:
    """Make an architecture available under its config's ``name`` (the default of its ``name`` field)."""
    name = config_cls.model_fields["name"].default
    if not isinstance(name, str) or not name:
        raise ValueError(f"{config_cls.__name__}.name needs a default naming the model")
    spec = _MODELS.add(name, ModelSpec(name, config_cls, core_cls), replace=replace, same=lambda a, b: a.core_cls is b.core_cls)
    register_config(config_cls)  # the torch-free schema table validates TrainConfig.arch
    return spec


def model_names() -> list[str]:
    return _MODELS.names()


def get_model(name: str) -> ModelSpec:
    return _MODELS.get(name)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (buffers such as the puzzle table and fixed init states are not counted, as the papers)."""
    return sum(p.numel() for p in model.parameters())


def build_model(arch: ModelConfig, vocab_size: int, seq_len: int, num_puzzle_identifiers: int = 1,
                device: torch.device | str = "cpu") -> nn.Module:
    """The architecture named by ``arch.name``, wrapped in the shared ACT loop, on ``device``."""
    from hrmkit.models.act import ACTModel

    device = torch.device(device)
    spec = get_model(arch.name)
    core = spec.core_cls(arch, vocab_size, seq_len, num_puzzle_identifiers, resolve_dtype(arch.forward_dtype, device))
    return ACTModel(core, arch).to(device)
