"""A checkpoint of the reference code (sapientinc/HRM, SamsungSAILMontreal/TinyRecursiveModels) -> an hrmkit run folder.

The reference ``pretrain.py`` saves ``torch.save(model.state_dict())`` of its loss head around the model (keys
``model.inner.*``; ``_orig_mod.`` in front when the run was compiled) as ``step_N`` (or ``checkpoint``), and writes
``all_config.yaml`` beside it. The file is a pickle: it is read with ``torch.load(weights_only=True)`` only, so a
downloaded file cannot run code. The architecture and training settings come from ``all_config.yaml``; the sequence
length, vocabulary and puzzle identifiers from the dataset the model runs on (an hrmkit dataset, e.g. one imported with
`hrm data import`), checked against the tensors' shapes.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

from hrmkit.config import TrainConfig
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError

# The reference's model classes (``arch.name`` in all_config.yaml, module@class) -> hrmkit's model names.
REFERENCE_MODELS = {"HierarchicalReasoningModel_ACTV1": "hrm", "TinyRecursiveReasoningModel_ACTV1": "trm"}
# Reference parameter/buffer names -> hrmkit's, applied in order (the golden tests load the reference weights the same way).
NAME_MAPS: dict[str, list[tuple[str, str]]] = {
    "hrm": [(r"^inner\.", "core."), (r"\.self_attn\.", ".attn."), (r"embedding_weight$", "weight")],
    # TRM's one network is ``L_level`` in the reference and ``net`` here (both the z and the y update use it).
    "trm": [(r"^inner\.L_level\.", "core.net."), (r"^inner\.", "core."), (r"\.self_attn\.", ".attn."), (r"embedding_weight$", "weight")],
}
LOSS_TYPES = {"stablemax_cross_entropy": "stablemax", "softmax_cross_entropy": "softmax"}
# Arch settings of the reference that hrmkit's configs do not have, because they do nothing there.
UNUSED_ARCH_KEYS = {"trm": {"H_layers"}}  # TRM has no H network: the reference's value is ignored by its own model too
TRAIN_KEYS = ("global_batch_size", "epochs", "eval_interval", "lr", "lr_min_ratio", "lr_warmup_steps", "weight_decay", "beta1",
              "beta2", "puzzle_emb_lr", "puzzle_emb_weight_decay", "seed", "ema", "ema_rate")


class ReferenceImportError(HrmError):
    """A reference checkpoint or config that cannot be imported (named in one line)."""


def map_name(arch: str, name: str) -> str:
    """A reference parameter name (``inner.H_level...``) as hrmkit names it (``core.H_level...``)."""
    for pattern, repl in NAME_MAPS[arch]:
        name = re.sub(pattern, repl, name)
    return name


def _existing(path: str | os.PathLike, missing: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise ReferenceImportError(f"{path}: {missing}")
    return path


def read_state_dict(path: str | os.PathLike) -> dict[str, Any]:
    """The tensors of a reference checkpoint file, prefixes of the compiled loss head removed. Never runs code."""
    import torch

    path = _existing(path, "no such checkpoint file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only refuses anything that is not plain tensors and containers
        first = str(e).strip().splitlines()[0] if str(e).strip() else "not a state dict"
        raise ReferenceImportError(f"{path}: refused: the file holds more than tensors, and loading it could run code ({first[:160]})") from None
    except Exception as e:  # a file from elsewhere: the unpickler fails on garbage in many ways (KeyError, EOFError, ...)
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise ReferenceImportError(f"{path}: not a PyTorch checkpoint ({type(e).__name__}: {first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReferenceImportError(f"{path}: not a state dict (a mapping of names to tensors)")
    return {key.removeprefix("_orig_mod.").removeprefix("model."): value for key, value in state.items()}


def read_reference_config(path: str | os.PathLike) -> dict[str, Any]:
    import yaml

    path = _existing(path, "no such file (the reference writes all_config.yaml beside its checkpoints)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ReferenceImportError(f"{path}: not readable YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("arch"), dict):
        raise ReferenceImportError(f"{path}: no arch section: not a reference all_config.yaml")
    return data


def train_config(reference: dict[str, Any], data_path: str | os.PathLike, forward_dtype: str | None = None) -> TrainConfig:
    """hrmkit's TrainConfig for a reference all_config.yaml (architecture and the training settings both share)."""
    from pydantic import ValidationError

    from hrmkit.errors import first_validation_error
    from hrmkit.models.configs import parse_model_config

    arch = dict(reference["arch"])
    class_name = str(arch.pop("name", "")).rsplit("@", 1)[-1]
    if class_name not in REFERENCE_MODELS:
        raise ReferenceImportError(f"unknown reference architecture {class_name or '(none)'!r}; hrmkit imports {', '.join(REFERENCE_MODELS)}")
    name = REFERENCE_MODELS[class_name]
    loss = arch.pop("loss", {}) or {}
    loss_type = LOSS_TYPES.get(str(loss.get("loss_type", "stablemax_cross_entropy")))
    if loss_type is None:
        raise ReferenceImportError(f"unknown reference loss {loss.get('loss_type')!r}; hrmkit has {', '.join(LOSS_TYPES)}")
    for key in UNUSED_ARCH_KEYS.get(name, ()):
        arch.pop(key, None)
    values = {**arch, "name": name, "loss_type": loss_type}
    if forward_dtype is not None:
        values["forward_dtype"] = forward_dtype
    try:
        model = parse_model_config(values)
        settings = {k: reference[k] for k in TRAIN_KEYS if k in reference}
        return TrainConfig(data_path=str(data_path), arch=model, **settings)
    except ValidationError as e:
        where, _, message = first_validation_error(e)
        raise ReferenceImportError(f"all_config.yaml: {where}: {message}") from None
    except ValueError as e:
        raise ReferenceImportError(f"all_config.yaml: {e}") from None


def hrmkit_weights(state: dict[str, Any], cfg: TrainConfig, meta: DatasetMetadata) -> dict[str, Any]:
    """The reference tensors under hrmkit's names, checked against a model built from ``cfg`` for ``meta``: every key
    has a home and every home a key, shapes equal; one line naming what does not fit."""
    import torch

    from hrmkit.models import build_model

    with torch.random.fork_rng(devices=[]):  # a model built for its names and shapes only: the caller's RNG stays as it was
        wanted = build_model(cfg.arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers).state_dict()
    weights = {map_name(cfg.arch.name, k): v for k, v in state.items()}
    missing, extra = sorted(set(wanted) - set(weights)), sorted(set(weights) - set(wanted))
    if missing or extra:
        parts = ([f"missing {', '.join(missing[:4])}" + (" ..." if len(missing) > 4 else "")] if missing else []) + \
                ([f"not in a {cfg.arch.name} model: {', '.join(extra[:4])}" + (" ..." if len(extra) > 4 else "")] if extra else [])
        raise ReferenceImportError(f"the checkpoint does not fit the config's {cfg.arch.name} model: {'; '.join(parts)}")
    for key, value in weights.items():
        if tuple(value.shape) != tuple(wanted[key].shape):
            raise ReferenceImportError(f"{key}: shape {tuple(value.shape)} in the checkpoint, {tuple(wanted[key].shape)} for the config and "
                               f"dataset (hidden_size, vocab {meta.vocab_size}, {meta.num_puzzle_identifiers} puzzle ids)")
    return {k: v.to(wanted[k].dtype).contiguous() for k, v in weights.items()}


def step_of(path: Path) -> int:
    match = re.fullmatch(r"step_(\d+)", path.name)
    return int(match.group(1)) if match else 0


def import_checkpoint(checkpoint: str | os.PathLike, dataset: str | os.PathLike, out: str | os.PathLike, *,
                      config: str | os.PathLike | None = None, forward_dtype: str | None = None) -> Path:
    """Write an hrmkit run folder ``out`` (config.json, checkpoints/step_N) holding a reference checkpoint, for the
    hrmkit dataset ``dataset``. Returns the checkpoint folder."""
    from hrmkit import checkpoint as ckpt_io
    from hrmkit import runfolder
    from hrmkit.data.format import read_metadata

    source = Path(checkpoint)
    state = read_state_dict(source)  # first: a file that is not plain tensors is refused before anything else is read
    reference = read_reference_config(config if config is not None else source.parent / "all_config.yaml")
    meta = read_metadata(dataset)
    cfg = train_config(reference, dataset, forward_dtype)
    weights = hrmkit_weights(state, cfg, meta)
    out = Path(out)
    runfolder.check_folder_path(out)
    runfolder.check_fresh(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_io.write_run_config(out, cfg, meta)
    return ckpt_io.save_checkpoint(out / "checkpoints" / f"step_{step_of(source)}", weights, cfg, meta)


# --------------------------------------------------------------------------- hrmkit -> the reference layout

REFERENCE_CLASSES = {"hrm": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1", "trm": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"}
# What each reference config has that hrmkit's does not: arch settings, and the key naming the dataset (TRM takes a list).
REFERENCE_EXTRAS: dict[str, tuple[dict[str, Any], str]] = {"hrm": ({}, "data_path"), "trm": ({"H_layers": 0}, "data_paths")}
# hrmkit's names -> the reference's: the inverse of NAME_MAPS (checked key by key in reference_state)
INVERSE_MAPS: dict[str, list[tuple[str, str]]] = {
    "hrm": [(r"^core\.", "inner."), (r"\.attn\.", ".self_attn."), (r"\.(embed_tokens|embed_pos)\.weight$", r".\1.embedding_weight")],
    "trm": [(r"^core\.net\.", "inner.L_level."), (r"^core\.", "inner."), (r"\.attn\.", ".self_attn."),
            (r"\.(embed_tokens|embed_pos)\.weight$", r".\1.embedding_weight")],
}


def reference_name(arch: str, name: str) -> str:
    for pattern, repl in INVERSE_MAPS[arch]:
        name = re.sub(pattern, repl, name)
    return name


def reference_state(arch: str, weights: dict[str, Any]) -> dict[str, Any]:
    """hrmkit's tensors under the names the reference's compiled loss head saves (``_orig_mod.model.inner.*``)."""
    out = {}
    for key, value in weights.items():
        ref = reference_name(arch, key)
        if map_name(arch, ref) != key:  # the two maps must be each other's inverse on every key
            raise ReferenceImportError(f"{key}: has no reference name ({ref!r} maps back to {map_name(arch, ref)!r})")
        out[f"_orig_mod.model.{ref}"] = value
    return out


def reference_config(cfg: TrainConfig) -> dict[str, Any]:
    """all_config.yaml's content for ``cfg``: the arch with the reference's class and loss names, and the training settings."""
    if cfg.arch.name not in REFERENCE_CLASSES:
        raise ReferenceImportError(f"the reference code has no {cfg.arch.name!r} model; hrmkit exports {', '.join(REFERENCE_CLASSES)}")
    arch = cfg.arch.model_dump(exclude={"name", "loss_type"})
    loss = {"loss_type": {v: k for k, v in LOSS_TYPES.items()}[cfg.arch.loss_type], "name": "losses@ACTLossHead"}
    data = {"arch": {**arch, "loss": loss, "name": REFERENCE_CLASSES[cfg.arch.name]},
            **{k: getattr(cfg, k) for k in TRAIN_KEYS}}
    extra_arch, data_key = REFERENCE_EXTRAS[cfg.arch.name]
    data["arch"].update(extra_arch)
    data[data_key] = [cfg.data_path] if data_key == "data_paths" else cfg.data_path
    return data


def export_checkpoint(run: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write an hrmkit checkpoint (or a run's newest) as the reference saves one: ``out/step_N`` (a state dict, as
    ``torch.save``) and ``out/all_config.yaml``. Returns the state-dict file."""
    import torch
    import yaml

    from hrmkit import checkpoint as ckpt_io
    from hrmkit.atomic import atomic_file, atomic_write_text

    ckpt = ckpt_io.resolve(run)
    cfg, _ = ckpt_io.read_config(ckpt)
    state = reference_state(cfg.arch.name, ckpt_io.read_tensors(ckpt, "model"))
    out = Path(out)
    target = out / f"step_{step_of(ckpt)}"
    taken = [p.name for p in (target, out / "all_config.yaml") if p.exists()]
    if taken:  # a folder of reference checkpoints may hold a user's own: never write over them
        raise ReferenceImportError(f"{out} already holds {' and '.join(taken)}; export into another folder")
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as tmp:
        torch.save(state, tmp)
    atomic_write_text(out / "all_config.yaml", yaml.safe_dump(reference_config(cfg), sort_keys=True))
    return target
