"""Checkpoints: safetensors for tensors, JSON for everything else; written atomically.

    <ckpt>/config.json        the TrainConfig and the dataset metadata (enough to rebuild the model)
    <ckpt>/model.safetensors  parameters and buffers (puzzle-embedding table and H/L init included)
    <ckpt>/optimizer.safetensors   AdamATan2 moments and step per parameter     (training only)
    <ckpt>/carry.safetensors  the ACT carry: states, steps, halted flags, current examples   (training only)
    <ckpt>/rng.safetensors    torch RNG states                                   (training only)
    <ckpt>/state.json         step, sampler state, numpy RNG                     (training only)

A run folder keeps its checkpoints under ``checkpoints/step_<N>`` and names the newest in
``checkpoints/latest``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hrmkit.config import TrainConfig
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError


class CheckpointError(HrmError):
    pass


def _clean(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # torch.compile wraps modules as `_orig_mod`; keep names stable across compiled and eager runs.
    return {k.replace("_orig_mod.", ""): v.detach().contiguous().cpu().clone() for k, v in state.items()}


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, config: TrainConfig, dataset: DatasetMetadata,
                    training: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint folder atomically (temp folder, then rename).

    ``training``, when given, holds ``optimizer`` (state tensors by name), ``carry`` (tensors), ``rng``
    (tensors) and ``state`` (JSON-able dict): everything needed to resume exactly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        payload = {"config": config.model_dump(), "dataset": dataset.model_dump(exclude={"build"})}
        (tmp / "config.json").write_text(json.dumps(payload, indent=2))
        save_file(_clean(model.state_dict()), str(tmp / "model.safetensors"))
        if training is not None:
            save_file(_clean(training["optimizer"]), str(tmp / "optimizer.safetensors"))
            save_file(_clean(training["carry"]), str(tmp / "carry.safetensors"))
            save_file(_clean(training["rng"]), str(tmp / "rng.safetensors"))
            (tmp / "state.json").write_text(json.dumps(training["state"]))
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            path.rename(old)
            tmp.rename(path)
            shutil.rmtree(old)
        else:
            tmp.rename(path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _atomic_write_text(path.parent / "latest", path.name)
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


def read_config(path: str | os.PathLike) -> tuple[TrainConfig, DatasetMetadata]:
    path = resolve(path)
    try:
        payload = json.loads((path / "config.json").read_text())
        return TrainConfig.model_validate(payload["config"]), DatasetMetadata.model_validate(payload["dataset"])
    except (OSError, json.JSONDecodeError, KeyError, ValueError) as e:
        raise CheckpointError(f"{path}/config.json: unreadable ({str(e).splitlines()[0]})") from None


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
