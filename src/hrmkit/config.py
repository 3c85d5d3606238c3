"""Typed configuration: the model architecture and the training run, presets, and key=value overrides."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hrmkit.errors import HrmError, first_validation_error


class ConfigError(HrmError):
    pass


class ArchConfig(BaseModel):
    """Model architecture. Defaults are the HRM paper's 27M model (hrm_v1.yaml of the reference)."""

    model_config = ConfigDict(extra="forbid")
    name: Literal["hrm"] = "hrm"
    hidden_size: int = Field(512, gt=0)
    num_heads: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    H_layers: int = Field(4, ge=1)
    L_layers: int = Field(4, ge=1)
    H_cycles: int = Field(2, ge=1)
    L_cycles: int = Field(2, ge=1)
    halt_max_steps: int = Field(16, ge=1)
    halt_exploration_prob: float = Field(0.1, ge=0, le=1)
    pos_encodings: Literal["rope", "learned"] = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_emb_ndim: int = Field(512, ge=0, description="0 disables the per-puzzle embedding")
    forward_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bfloat16 on CUDA with bf16 support, float32 elsewhere")
    loss_type: Literal["stablemax", "softmax"] = "stablemax"

    @model_validator(mode="after")
    def _heads_fit(self) -> ArchConfig:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.pos_encodings == "rope" and (self.hidden_size // self.num_heads) % 2:
            raise ValueError(f"RoPE needs an even head size; hidden_size / num_heads = {self.hidden_size // self.num_heads}")
        return self


class TrainConfig(BaseModel):
    """One training run. Defaults follow the reference cfg_pretrain.yaml (the ARC setting)."""

    model_config = ConfigDict(extra="forbid")
    data_path: str
    data_preset: str | None = Field(None, description="build data_path from this dataset preset when it is missing")
    arch: ArchConfig = ArchConfig()
    global_batch_size: int = Field(768, gt=0)
    epochs: int = Field(100000, gt=0)
    eval_interval: int | None = Field(10000, description="evaluate every this many epochs (None: only at the end)")
    eval_max_examples: int | None = Field(None, description="evaluate on at most this many test examples")
    lr: float = Field(1e-4, ge=0)
    lr_min_ratio: float = Field(1.0, ge=0, le=1)
    lr_warmup_steps: int = Field(2000, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = 0.9
    beta2: float = 0.95
    puzzle_emb_lr: float = Field(1e-2, ge=0)
    puzzle_emb_weight_decay: float = Field(0.1, ge=0)
    seed: int = 0
    run_dir: str | None = Field(None, description="default runs/<data name>-<arch>-<time>")
    checkpoint_every: int | None = Field(None, description="also checkpoint every this many steps")
    log_every: int = Field(10, gt=0)
    compile: bool = False
    device: str = "auto"
    tensorboard: bool = True


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return data


def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("hrmkit.configs").iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (see ``preset_names()``) or a YAML file path, as a plain dict."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        return _read_yaml(path)
    resource = resources.files("hrmkit.configs") / f"{name_or_path}.yaml"
    if not resource.is_file():
        raise ConfigError(f"unknown config {name_or_path!r}; presets: {', '.join(preset_names())}, or a .yaml path")
    return _read_yaml(Path(str(resource)))


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides; dotted keys reach into sections (``arch.hidden_size=128``);
    values are parsed as YAML scalars (``true``, ``1e-4``, ``null``)."""
    values = {k: (dict(v) if isinstance(v, dict) else v) for k, v in values.items()}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = values
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key!r}: {part!r} is not a section")
        node[parts[-1]] = value
    return values


def make_train_config(name_or_path: str, overrides: list[str] | None = None) -> TrainConfig:
    values = apply_overrides(load_preset(name_or_path), overrides or [])
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as e:
        where, kind, message = first_validation_error(e)
        if kind == "extra_forbidden":
            raise ConfigError(f"unknown setting {where!r}") from None
        raise ConfigError(f"{where}: {message}") from None
