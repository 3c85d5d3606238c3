"""The architectures' config schemas and the name -> config class table, importable without torch.

``TrainConfig.arch`` is validated here, so ``hrm train`` can check a config (preset, overrides,
values) in a fraction of a second and stop on a typo before torch is imported. The cores live in
``hrmkit.models`` (which needs torch) and are paired with these classes by ``register_model``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DEFAULT_MODEL", "BlockModelConfig", "HRMConfig", "ModelConfig", "TRMConfig", "TransformerConfig", "check_heads",
           "config_names", "parse_model_config", "puzzle_prefix_len", "register_config"]

DEFAULT_MODEL = "hrm"


class ModelConfig(BaseModel):
    """Settings of the ACT loop, precision and loss; each architecture subclasses it with
    ``name: Literal["<its name>"]`` and its own fields."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # nan/inf settings are typos, never intended
    name: str
    halt_max_steps: int = Field(16, ge=1)
    halt_exploration_prob: float = Field(0.1, ge=0, le=1)
    forward_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto: bfloat16 on CUDA with bf16 support and on CPUs with AMX-BF16 units, float32 elsewhere")
    loss_type: Literal["stablemax", "softmax"] = "stablemax"

    def describe(self, n_params: int) -> str:
        """One line a newcomer can read (`hrm demo`, `hrm serve`): which model, how big, how much recursion per segment."""
        return f"{self.name} ({n_params:,} parameters, up to {self.halt_max_steps} ACT segments)"


def puzzle_prefix_len(puzzle_emb_ndim: int, hidden_size: int) -> int:
    """Positions the puzzle vector takes before the tokens: ceil(ndim / hidden), 1 for ndim = hidden, 0 without one."""
    return -(-puzzle_emb_ndim // hidden_size)


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

    @property
    def prefix_len(self) -> int:
        return puzzle_prefix_len(self.puzzle_emb_ndim, self.hidden_size)


def check_heads(hidden_size: int, num_heads: int, rope: bool) -> None:
    """Attention needs hidden_size = heads x head size, and RoPE an even head size."""
    if hidden_size % num_heads:
        raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
    if rope and (hidden_size // num_heads) % 2:
        raise ValueError(f"RoPE needs an even head size; hidden_size / num_heads = {hidden_size // num_heads}")


class HRMConfig(BlockModelConfig):
    """HRM ACT v1. Defaults are the paper's 27M model (hrm_v1.yaml of the reference)."""

    name: Literal["hrm"] = "hrm"
    H_layers: int = Field(4, ge=1)
    L_layers: int = Field(4, ge=1)
    H_cycles: int = Field(2, ge=1)
    L_cycles: int = Field(2, ge=1)

    def describe(self, n_params: int) -> str:
        return (f"HRM ({n_params:,} parameters: hidden {self.hidden_size}, {self.H_layers}+{self.L_layers} layers, "
                f"{self.H_cycles}x{self.L_cycles} cycles, up to {self.halt_max_steps} ACT segments)")


class TRMConfig(ModelConfig):
    """TRM. Defaults are the reference's ``config/arch/trm.yaml`` (TRM-Att, T = 3, n = 6, 2 layers)."""

    name: Literal["trm"] = "trm"
    hidden_size: int = Field(512, gt=0)
    num_heads: int = Field(8, gt=0)
    expansion: float = Field(4.0, gt=0)
    L_layers: int = Field(2, ge=1, description="blocks in the one network")
    H_cycles: int = Field(3, ge=1, description="T: recursion processes per segment, the last with gradients")
    L_cycles: int = Field(6, ge=1, description="n: latent (z) updates per recursion process")
    pos_encodings: Literal["rope", "learned", "none"] = "rope"
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5
    puzzle_emb_ndim: int = Field(512, ge=0, description="0 disables the per-puzzle embedding (and the prefix)")
    puzzle_emb_len: int = Field(16, ge=0, description="prefix positions; 0: ceil(puzzle_emb_ndim / hidden_size) as HRM")
    mlp_t: bool = Field(False, description="mix tokens with an MLP over the sequence axis instead of attention (TRM-MLP)")
    no_ACT_continue: bool = Field(True, description="halt on q_halt > 0 with no Q-continue loss (False: HRM's Q-learning rule)")

    @model_validator(mode="after")
    def _shapes_fit(self) -> TRMConfig:
        if not self.mlp_t:
            check_heads(self.hidden_size, self.num_heads, self.pos_encodings == "rope")
        if self.puzzle_emb_ndim > self.prefix_len * self.hidden_size:
            raise ValueError(f"puzzle_emb_ndim {self.puzzle_emb_ndim} does not fit in puzzle_emb_len {self.puzzle_emb_len} "
                             f"positions of hidden_size {self.hidden_size}")
        return self

    @property
    def prefix_len(self) -> int:
        if not self.puzzle_emb_ndim:
            return 0
        return self.puzzle_emb_len or puzzle_prefix_len(self.puzzle_emb_ndim, self.hidden_size)

    def describe(self, n_params: int) -> str:
        net = "MLP-mixer" if self.mlp_t else "attention"
        return (f"TRM ({n_params:,} parameters: one {self.L_layers}-layer {net} net of width {self.hidden_size}, "
                f"T={self.H_cycles} x n={self.L_cycles} recursions, up to {self.halt_max_steps} ACT segments)")


class TransformerConfig(BlockModelConfig):
    """The baseline. Defaults: HRM's width and size (8 blocks of hidden 512 = 27.3M on Sudoku) and HRM's ACT."""

    name: Literal["transformer"] = "transformer"
    num_layers: int = Field(8, ge=1)
    no_ACT_continue: bool = Field(False, description="True: halt on q_halt > 0 with no Q-continue loss (TRM's rule)")

    def describe(self, n_params: int) -> str:
        return (f"transformer baseline ({n_params:,} parameters: {self.num_layers} layers of width {self.hidden_size}, "
                f"no recursion, up to {self.halt_max_steps} ACT segments)")


# --------------------------------------------------------------------------- name -> config class

# Built-ins are here from the start; plug-ins add theirs through hrmkit.models.register_model.
_CONFIGS: dict[str, type[ModelConfig]] = {cls.model_fields["name"].default: cls for cls in (HRMConfig, TRMConfig, TransformerConfig)}


def register_config(config_cls: type[ModelConfig]) -> None:
    """Make ``config_cls`` the schema of its ``name`` (called by ``register_model``, which checks for clashes)."""
    _CONFIGS[config_cls.model_fields["name"].default] = config_cls


def config_names() -> list[str]:
    from hrmkit.plugins import load_plugins

    load_plugins()
    return sorted(_CONFIGS)


def parse_model_config(value: Any) -> ModelConfig:
    """A model config from a dict (dispatching on ``name``, default hrm) or an instance (kept as is)."""
    if isinstance(value, ModelConfig):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a mapping of model settings")
    name = value.get("name", DEFAULT_MODEL)
    # Plug-ins may add or replace models; without any this is a no-op, and torch stays unimported.
    names = config_names()
    if not isinstance(name, str) or name not in names:
        raise ValueError(f"unknown model {name!r}; choose {', '.join(names)}")
    return _CONFIGS[name].model_validate({**value, "name": name})
