"""Typed configuration of a training run (the model part is the registered architecture's own config), presets, and key=value overrides."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator

from hrmkit.errors import HrmError, first_validation_error
from hrmkit.models.configs import ModelConfig, parse_model_config  # torch-free: configs validate before torch loads


class ConfigError(HrmError):
    pass


class TrainConfig(BaseModel):
    """One training run. Defaults follow the reference cfg_pretrain.yaml (the ARC setting)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # lr=nan or lr=.inf is a typo, not a setting
    data_path: str
    data_preset: str | None = Field(None, description="build data_path from this dataset preset when it is missing")
    arch: SerializeAsAny[ModelConfig] = Field(default_factory=lambda: parse_model_config({}),
                                              description="the model: a config of the architecture named by arch.name")
    global_batch_size: int = Field(768, gt=0)
    epochs: int = Field(100000, gt=0)
    eval_interval: int | None = Field(10000, ge=1, description="evaluate every this many epochs (None: only at the end)")
    eval_max_examples: int | None = Field(None, ge=1, description="evaluate on at most this many test examples")
    lr: float = Field(1e-4, ge=0)
    lr_min_ratio: float = Field(1.0, ge=0, le=1)
    lr_warmup_steps: int = Field(2000, ge=0)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = Field(0.9, ge=0, lt=1)  # the optimizer's own range, checked here rather than in the trainer
    beta2: float = Field(0.95, ge=0, lt=1)
    puzzle_emb_lr: float = Field(1e-2, ge=0)
    puzzle_emb_weight_decay: float = Field(0.1, ge=0)
    ema: bool = Field(False, description="keep an exponential moving average of the weights; evaluate and solve with it (TRM)")
    ema_rate: float = Field(0.999, ge=0, lt=1)
    seed: int = Field(0, ge=0, lt=2**63, description="seeds weights and batches (torch takes 0..2^64-1; each rank adds its rank)")
    run_dir: str | None = Field(None, description="default runs/<data name>-<arch>-<time>")
    checkpoint_every: int | None = Field(None, ge=1, description="also checkpoint every this many steps")
    log_every: int = Field(10, gt=0)
    compile: Literal["auto"] | bool = Field(
        "auto", description="torch.compile the recursion: true, false, or auto (where it measured faster over the run: "
                            "see hrmkit.compile_policy.resolve_compile)")
    device: str = "auto"
    tensorboard: bool = True

    @field_validator("compile", mode="before")
    @classmethod
    def _compile_setting(cls, value: object) -> object:
        # YAML gives true/false as bools; "auto", and "true"/"false" as text (quoted, or from the Python API), are
        # accepted too. Anything else (yes, 1, "maybe") is refused rather than read as a truth value.
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("auto", "true", "false"):
            return {"auto": "auto", "true": True, "false": False}[value.strip().lower()]
        raise ValueError(f"expected auto, true or false, got {value!r}")

    @field_validator("arch", mode="before")
    @classmethod
    def _arch_by_name(cls, value: object) -> ModelConfig:
        return parse_model_config(value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    # Besides YAMLError: ValueError for dates such as 2001-13-45 (and undecodable bytes), RecursionError for deep nesting.
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        lines = str(e).strip().splitlines()
        raise ConfigError(f"{path}: not valid YAML ({lines[0] if lines else type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    return data


def preset_names() -> list[str]:
    return sorted(p.name.removesuffix(".yaml") for p in resources.files("hrmkit.configs").iterdir() if p.name.endswith(".yaml"))


def is_config_path(name_or_path: str) -> bool:
    """A config is named by a path when it ends in .yaml/.yml or holds a folder separator; anything else is a preset
    name, whatever the working folder holds (a folder called `demo` there must not shadow the preset)."""
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return Path(name_or_path).suffix in (".yaml", ".yml") or any(sep in name_or_path for sep in separators)


def load_preset(name_or_path: str) -> dict[str, Any]:
    """A preset by name (see ``preset_names()``) or a YAML file path (see ``is_config_path``), as a plain dict."""
    if is_config_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"{path}: {'a folder, not a config file' if path.is_dir() else 'no such config file'}")
        return _read_yaml(path)
    resource = resources.files("hrmkit.configs") / f"{name_or_path}.yaml"
    if not name_or_path or not resource.is_file():
        here = f"; for the file {name_or_path} here, give ./{name_or_path}" if name_or_path and Path(name_or_path).is_file() else ""
        raise ConfigError(f"unknown config {name_or_path!r}; presets: {', '.join(preset_names())}, or a .yaml path{here}")
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
        except (yaml.YAMLError, ValueError, RecursionError):  # not a YAML value (e.g. the date 2001-13-45): keep the text
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
