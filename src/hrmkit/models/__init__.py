"""Architectures as plug-ins: each model module holds its config class and its core; the registry
maps ``name`` to both, and ``build_model`` wraps any core in the shared ACT loop."""

from __future__ import annotations

from hrmkit.models.act import ACTCarry, ACTModel
from hrmkit.models.base import CoreOutput, ModelConfig, resolve_dtype
from hrmkit.models.hrm import HRM, HRMConfig
from hrmkit.models.registry import build_model, count_parameters, get_model, model_names, parse_model_config, register_model
from hrmkit.models.transformer import TransformerBaseline, TransformerConfig
from hrmkit.models.trm import TRM, TRMConfig

register_model(HRMConfig, HRM)
register_model(TRMConfig, TRM)
register_model(TransformerConfig, TransformerBaseline)

__all__ = ["ACTCarry", "ACTModel", "CoreOutput", "HRMConfig", "ModelConfig", "TRMConfig", "TransformerConfig", "build_model",
           "count_parameters", "get_model", "model_names", "parse_model_config", "register_model", "resolve_dtype"]
