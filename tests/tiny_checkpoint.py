"""A small dataset and an untrained checkpoint of a tiny model on it, in seconds: enough for tests of
the tools around a model (solve traces, pictures, eval curves, the web page), not of learning."""

from __future__ import annotations

from pathlib import Path

import torch

from hrmkit.checkpoint import save_checkpoint
from hrmkit.config import TrainConfig
from hrmkit.data import build as B
from hrmkit.models import HRMConfig, ModelConfig, TRMConfig, build_model


def tiny_hrm(**overrides) -> HRMConfig:
    values = dict(hidden_size=32, num_heads=2, H_layers=1, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=2, puzzle_emb_ndim=0,
                  expansion=2.0)
    return HRMConfig(**{**values, **overrides})


def tiny_trm(**overrides) -> TRMConfig:
    values = dict(hidden_size=32, num_heads=2, L_layers=1, H_cycles=2, L_cycles=2, halt_max_steps=2, puzzle_emb_ndim=0, mlp_t=True,
                  pos_encodings="none", expansion=2.0)
    return TRMConfig(**{**values, **overrides})


def make_data(out: Path, preset: str = "sudoku-4x4", **settings) -> Path:
    B.build(B.make_config(preset, **{"train": 8, "test": 6, **settings}), out, workers=1, progress=False)
    return out


def make_checkpoint(run_dir: Path, data: Path, arch: ModelConfig, seed: int = 0) -> Path:
    """An untrained model saved as a run folder's newest checkpoint (run_dir/checkpoints/step_0)."""
    from hrmkit.data.format import load_dataset

    meta = load_dataset(data, verify_hash=False).metadata
    cfg = TrainConfig(data_path=str(data), arch=arch, global_batch_size=8, epochs=1, run_dir=str(run_dir), tensorboard=False)
    torch.manual_seed(seed)
    model = build_model(arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, "cpu")
    save_checkpoint(run_dir / "checkpoints" / "step_0", model.state_dict(), cfg, meta)
    return run_dir
