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
``checkpoints/latest``. A checkpoint is filled in a hidden temporary folder, renamed into place, and
only then named in ``latest`` (also replaced by rename): a process killed at any point leaves
``latest`` naming the previous complete checkpoint, and resuming never reads a half-written one.

Nothing here imports torch at module level, so the CLI can read and check a run's config first.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from safetensors import SafetensorError

from hrmkit import jsonio
from hrmkit.atomic import atomic_directory, atomic_write_text
from hrmkit.config import TrainConfig
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError, first_validation_error

if TYPE_CHECKING:
    import torch


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
    from safetensors.torch import save_file

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


def remove_temporaries(folder: str | os.PathLike) -> None:
    """Delete the half-written checkpoint folders (``.step_<N>.tmp-<pid>``) that a killed run leaves behind.
    Only for the one process that writes this run's checkpoints; ``latest`` never names such a folder."""
    folder = Path(folder)
    if folder.is_dir():
        for tmp in folder.glob(".*.tmp-*"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)  # a `latest` cut short before its rename


def resolve(path: str | os.PathLike) -> Path:
    """A checkpoint folder, or a run folder (its newest checkpoint)."""
    path = Path(path)
    if (path / "model.safetensors").exists():
        return path
    for base in (path / "checkpoints", path):
        latest = base / "latest"
        if latest.is_file():
            try:
                name = latest.read_text().strip()
            except (OSError, UnicodeDecodeError) as e:
                raise CheckpointError(f"{latest}: unreadable ({_first_line(e)})") from None
            # `latest` holds one folder name written by save_checkpoint; anything else is damage, not a path to follow.
            if not name or name != Path(name).name or name.startswith(".") or not (base / name).is_dir():
                raise CheckpointError(f"{latest}: names {name!r}, which is not a checkpoint folder beside it")
            return base / name
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint or run folder")
    raise CheckpointError(f"{path}: not a checkpoint (no model.safetensors) nor a run with checkpoints")


def _first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else type(e).__name__


def read_config_file(file: str | os.PathLike) -> tuple[TrainConfig, DatasetMetadata]:
    file = Path(file)
    payload = jsonio.read(file, CheckpointError)
    try:
        return TrainConfig.model_validate(payload["config"]), DatasetMetadata.model_validate(payload["dataset"])
    except ValidationError as e:
        where, _, message = first_validation_error(e)
        raise CheckpointError(f"{file}: invalid ({where}: {message})") from None
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{file}: unreadable ({type(e).__name__}: {_first_line(e)})") from None


def read_config(path: str | os.PathLike) -> tuple[TrainConfig, DatasetMetadata]:
    return read_config_file(resolve(path) / "config.json")


def read_tensors(path: str | os.PathLike, name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    file = resolve(path) / f"{name}.safetensors"
    if not file.exists():
        raise CheckpointError(f"{file}: missing")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{file}: unreadable ({_first_line(e)})") from None


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    file = resolve(path) / "state.json"
    if not file.exists():
        raise CheckpointError(f"{file}: missing: this checkpoint holds weights only and cannot resume training")
    state = jsonio.read(file, CheckpointError)
    # Check the fields resuming reads, so damage is named here rather than as a KeyError mid-resume.
    if not isinstance(state, dict):
        raise CheckpointError(f"{file}: expected a JSON object")
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{file}: step must be a non-negative integer, got {step!r}")
    if not isinstance(state.get("sampler"), dict):
        raise CheckpointError(f"{file}: sampler must be a JSON object")
    world_size = state.get("world_size", 1)
    if not isinstance(world_size, int) or isinstance(world_size, bool) or world_size < 1:
        raise CheckpointError(f"{file}: world_size must be a positive integer, got {world_size!r}")
    if not isinstance(state.get("last_eval", {}), dict):
        raise CheckpointError(f"{file}: last_eval must be a JSON object")
    return state


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: str | os.PathLike) -> None:
    own = model.state_dict()
    # Shapes are compared first: load_state_dict would raise a multi-line RuntimeError on the first misfit.
    misfit = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in weights.items() if k in own and v.shape != own[k].shape]
    if misfit:
        raise CheckpointError(f"{source}: weights do not fit the model (saved vs built shape: {', '.join(misfit[:3])})")
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


def find_dataset(run: Path, data_path: str) -> Path | None:
    """The model's dataset: data_path as given, else relative to the run's folder or one of its parents
    (a run trained as `hrm train` in a project folder keeps a relative data_path)."""
    candidates = [Path(data_path)] + [base / data_path for base in [run, *run.parents]]
    return next((p for p in candidates if (p / "metadata.json").is_file()), None)
