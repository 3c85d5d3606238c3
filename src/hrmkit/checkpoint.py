"""Checkpoints: safetensors for tensors, JSON for everything else; written atomically.

    <ckpt>/config.json        {"config": TrainConfig, "dataset": metadata}: enough to rebuild the model
                              (a run folder's own config.json has the same shape)
    <ckpt>/model.safetensors  the weights to use: parameters and buffers (puzzle table, init states);
                              the EMA weights when the run keeps an EMA
    <ckpt>/raw_model.safetensors   the raw (non-EMA) weights, to resume training  (EMA runs only)
    <ckpt>/optimizer.safetensors   AdamATan2 moments and step per parameter       (training only)
    <ckpt>/carry.safetensors  the ACT carry of every rank: states, steps, halted flags, examples   (training only)
    <ckpt>/rng.safetensors    torch RNG states of every rank                      (training only)
    <ckpt>/state.json         step, sampler state, last evaluation               (training only)

A run folder keeps its checkpoints under ``checkpoints/step_<N>`` and names the newest in
``checkpoints/latest``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hrmkit.atomic import atomic_directory, atomic_write_text
from hrmkit.config import TrainConfig
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError, first_validation_error


class CheckpointError(HrmError):
    pass


def clean_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # torch.compile wraps modules as `_orig_mod`; keep names stable across compiled and eager runs.
    return {k.replace("_orig_mod.", ""): v.detach().contiguous().cpu().clone() for k, v in state.items()}


def config_payload(config: TrainConfig, dataset: DatasetMetadata) -> str:
    """The one config.json shape, for run folders and checkpoints alike."""
    return json.dumps({"config": config.model_dump(), "dataset": dataset.model_dump(exclude={"build"})}, indent=2)


def write_run_config(run_dir: str | os.PathLike, config: TrainConfig, dataset: DatasetMetadata) -> None:
    atomic_write_text(Path(run_dir) / "config.json", config_payload(config, dataset))


def save_checkpoint(path: str | os.PathLike, weights: dict[str, torch.Tensor], config: TrainConfig, dataset: DatasetMetadata,
                    training: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint folder atomically (temp folder, then rename) and point ``latest`` at it.

    ``training``, when given, holds ``optimizer``, ``carry`` and ``rng`` (tensors by name), ``state``
    (JSON-able) and optionally ``raw_model`` (tensors): everything needed to resume exactly.
    """
    path = Path(path)
    with atomic_directory(path) as tmp:
        (tmp / "config.json").write_text(config_payload(config, dataset))
        save_file(clean_state(weights), str(tmp / "model.safetensors"))
        if training is not None:
            for name in ("optimizer", "carry", "rng", "raw_model"):
                if name in training:
                    save_file(clean_state(training[name]), str(tmp / f"{name}.safetensors"))
            (tmp / "state.json").write_text(json.dumps(training["state"]))
    atomic_write_text(path.parent / "latest", path.name)
    return path


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or a run folder (its newest checkpoint)."""
    path = Path(path)
    if (path / "model.safetensors").exists():
        return path
    for base in (path / "checkpoints", path):
        latest = base / "latest"
        if latest.exists():
            return base / latest.read_text().strip()
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run folder")
    raise CheckpointError(f"{path}: not a checkpoint (no model.safetensors) nor a run with checkpoints")


def read_config_file(file: str | os.PathLike) -> tuple[TrainConfig, DatasetMetadata]:
    file = Path(file)
    try:
        payload = json.loads(file.read_text())
        return TrainConfig.model_validate(payload["config"]), DatasetMetadata.model_validate(payload["dataset"])
    except ValidationError as e:
        where, _, message = first_validation_error(e)
        raise CheckpointError(f"{file}: invalid ({where}: {message})") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{file}: unreadable ({str(e).splitlines()[0]})") from None


def read_config(path: str | os.PathLike) -> tuple[TrainConfig, DatasetMetadata]:
    return read_config_file(resolve(path) / "config.json")


def read_tensors(path: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
    file = resolve(path) / f"{name}.safetensors"
    if not file.exists():
        raise CheckpointError(f"{file}: missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{file}: unreadable ({e})") from None


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    file = resolve(path) / "state.json"
    if not file.exists():
        raise CheckpointError(f"{file}: missing: this checkpoint holds weights only and cannot resume training")
    return json.loads(file.read_text())


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{source}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")


def from_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, DatasetMetadata]:
    """A model from a checkpoint folder or a run folder (its newest checkpoint), in eval mode, with
    the weights to use (EMA ones for an EMA run). ``model.config`` is its architecture's config."""
    from hrmkit.models import build_model

    ckpt = resolve(path)
    cfg, meta = read_config(ckpt)
    model = build_model(cfg.arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, device)
    load_weights(model, read_tensors(ckpt, "model"), ckpt)
    return model.eval(), meta
