"""Architectures as plug-ins. ``models/configs.py`` holds every built-in config class (torch-free, so a training config
is checked before torch loads); ``hrm.py``, ``trm.py`` and ``transformer.py`` hold the cores; the registry
(``registry.py``) pairs them by ``name``, and ``build_model`` wraps any core in the shared ACT loop (``act.py``).

Names are imported from here, on first use: ``from hrmkit.models import HRMConfig`` loads no torch, ``build_model``
does."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hrmkit.models.act import ACTCarry, ACTModel
    from hrmkit.models.base import CoreOutput, resolve_dtype
    from hrmkit.models.configs import HRMConfig, ModelConfig, TransformerConfig, TRMConfig, parse_model_config
    from hrmkit.models.registry import build_model, count_parameters, get_model, model_names, register_model

_WHERE = {
    "ACTCarry": "act", "ACTModel": "act",
    "CoreOutput": "base", "resolve_dtype": "base",
    "HRMConfig": "configs", "ModelConfig": "configs", "TRMConfig": "configs", "TransformerConfig": "configs",
    "parse_model_config": "configs",
    "build_model": "registry", "count_parameters": "registry", "get_model": "registry", "model_names": "registry",
    "register_model": "registry",
}
__all__ = ["ACTCarry", "ACTModel", "CoreOutput", "HRMConfig", "ModelConfig", "TRMConfig", "TransformerConfig", "build_model",
           "count_parameters", "get_model", "model_names", "parse_model_config", "register_model", "resolve_dtype"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
