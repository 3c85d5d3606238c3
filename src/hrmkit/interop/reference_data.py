"""A dataset folder written by the HRM or TRM reference builders -> an hrmkit dataset, with a data card naming its files.

The reference layout: ``{train,test}/dataset.json`` + ``{train,test}/all__<array>.npy`` (the arrays hrmkit's format was
modelled on, so the rows are copied as they are) and ``identifiers.json``. What hrmkit needs beside them is inferred:
the task (from seq_len and vocab, or ``task=``), the display tokens and grid shape, and for ARC the original held-out
tasks (``arc_tasks.json``), rebuilt from the test split's un-augmented puzzles and checked against every variant.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrmkit import jsonio
from hrmkit.data.format import ARRAY_NAMES, Dataset, DatasetError, SplitArrays, new_metadata, stream_dataset
from hrmkit.tasks import Task, get_task, task_names

SPLITS = ("train", "test")
REQUIRED_KEYS = ("pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers",
                 "total_groups", "mean_puzzle_examples", "sets")
SHARED_KEYS = ("pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers")
@dataclass
class ReferenceDataset:
    folder: Path
    flavour: str  # "HRM" or "TRM" (TRM's dataset.json also has total_puzzles)
    info: dict[str, Any]  # the dataset.json fields both splits share
    split_infos: dict[str, dict[str, Any]]  # each split's dataset.json as read (TRM's total_puzzles is kept, not checked)
    splits: dict[str, SplitArrays]  # memory-mapped from the reference's files
    identifiers: list[str]
    files: list[str]  # relative paths read, for the data card


def _fail(folder: Path, message: str) -> DatasetError:
    return DatasetError(f"{folder}: {message}")


def _load_array(folder: Path, rel: str) -> np.ndarray:
    path = folder / rel
    if not path.is_file():
        raise _fail(folder, f"missing {rel} (not a reference dataset folder?)")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # damaged .npy bytes fail in several undocumented ways
        raise _fail(folder, f"{rel} is unreadable ({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None


def _check_split_info(folder: Path, split: str, info: dict[str, Any], arrays: SplitArrays) -> None:
    where = f"{split}/dataset.json"
    for key in REQUIRED_KEYS:
        if key not in info:
            raise _fail(folder, f"{where} has no {key!r}")
    if info["sets"] != ["all"]:
        raise _fail(folder, f"{where}: sets {info['sets']} (only the builders' single set 'all' is read)")
    for key in SHARED_KEYS:
        if not isinstance(info[key], int) or isinstance(info[key], bool):
            raise _fail(folder, f"{where}: {key} is {info[key]!r}, expected an integer")
    for name in ARRAY_NAMES:
        dtype = getattr(arrays, name).dtype
        if dtype.kind not in "iu":
            raise _fail(folder, f"{split}/all__{name}.npy has dtype {dtype}, expected integers")
    seq_len, vocab = info["seq_len"], info["vocab_size"]
    for name in ("inputs", "labels"):
        a = getattr(arrays, name)
        if a.ndim != 2 or a.shape[1] != seq_len or a.shape[0] != arrays.inputs.shape[0]:
            raise _fail(folder, f"{split}/all__{name}.npy has shape {a.shape}, dataset.json says seq_len {seq_len}")
        if a.size and (int(a.min()) < 0 or int(a.max()) >= vocab):
            raise _fail(folder, f"{split}/all__{name}.npy holds tokens outside 0..{vocab - 1} (vocab_size {vocab})")
    for name in ("puzzle_indices", "group_indices"):
        idx = getattr(arrays, name)
        if idx.ndim != 1 or len(idx) < 1 or idx[0] != 0 or (np.diff(idx) < 0).any():
            raise _fail(folder, f"{split}/all__{name}.npy must be non-decreasing offsets starting at 0")
    if arrays.puzzle_indices[-1] != arrays.num_examples or arrays.group_indices[-1] != arrays.num_puzzles:
        raise _fail(folder, f"{split}: puzzle_indices / group_indices do not end at the {arrays.num_examples} examples / "
                            f"{arrays.num_puzzles} puzzles the arrays hold")
    ids = arrays.puzzle_identifiers
    if ids.ndim != 1 or len(ids) != arrays.num_puzzles:
        raise _fail(folder, f"{split}/all__puzzle_identifiers.npy has shape {ids.shape}, expected [{arrays.num_puzzles}]")
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= info["num_puzzle_identifiers"]):
        raise _fail(folder, f"{split}: puzzle identifiers outside 0..{info['num_puzzle_identifiers'] - 1}")
    if info["total_groups"] != arrays.num_groups:
        raise _fail(folder, f"{where}: total_groups {info['total_groups']}, the arrays hold {arrays.num_groups} groups")
    mean = arrays.num_examples / max(arrays.num_puzzles, 1)
    if not isinstance(info["mean_puzzle_examples"], (int, float)) or not math.isclose(info["mean_puzzle_examples"], mean, rel_tol=1e-6):
        raise _fail(folder, f"{where}: mean_puzzle_examples {info['mean_puzzle_examples']!r}, the arrays give {mean:.6g}")


def read_reference_dataset(src: str | os.PathLike) -> ReferenceDataset:
    """Read and validate a reference dataset folder (arrays memory-mapped); a one-line DatasetError on any fault."""
    folder = Path(src)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: {'a file' if folder.exists() else 'no such folder'}, not a reference dataset folder")
    infos, splits = {}, {}
    for split in SPLITS:
        rel = f"{split}/dataset.json"
        if not (folder / rel).is_file():
            raise _fail(folder, f"missing {rel} (not a reference dataset folder?)")
        info = jsonio.read(folder / rel, DatasetError)
        if not isinstance(info, dict):
            raise _fail(folder, f"{rel} is not a JSON object")
        arrays = SplitArrays(**{name: _load_array(folder, f"{split}/all__{name}.npy") for name in ARRAY_NAMES})
        _check_split_info(folder, split, info, arrays)
        infos[split], splits[split] = info, arrays
    for key in SHARED_KEYS:
        if infos["train"][key] != infos["test"][key]:
            raise _fail(folder, f"train and test dataset.json disagree on {key} ({infos['train'][key]} vs {infos['test'][key]})")
    info = {key: infos["train"][key] for key in SHARED_KEYS}
    if info["blank_identifier_id"] != 0:
        raise _fail(folder, f"blank_identifier_id {info['blank_identifier_id']} (hrmkit's blank puzzle id is 0)")
    if not 0 <= info["pad_id"] < info["vocab_size"]:
        raise _fail(folder, f"pad_id {info['pad_id']} is not a token id (vocab_size {info['vocab_size']})")
    if not (folder / "identifiers.json").is_file():
        raise _fail(folder, "missing identifiers.json (not a reference dataset folder?)")
    identifiers = jsonio.read(folder / "identifiers.json", DatasetError)
    if (not isinstance(identifiers, list) or len(identifiers) != info["num_puzzle_identifiers"]
            or not all(isinstance(n, str) and n for n in identifiers)):
        raise _fail(folder, f"identifiers.json: expected a list of {info['num_puzzle_identifiers']} names (num_puzzle_identifiers)")
    flavour = "TRM" if all("total_puzzles" in i for i in infos.values()) else "HRM"
    files = ["identifiers.json"] + [f"{s}/{f}" for s in SPLITS for f in ["dataset.json", *(f"all__{n}.npy" for n in ARRAY_NAMES)]]
    return ReferenceDataset(folder, flavour, info, infos, splits, identifiers, files)


# --------------------------------------------------------------------------- what hrmkit needs beside the arrays


def infer_task(seq_len: int, vocab_size: int, task: str | None = None) -> tuple[Task, list[str], tuple[int, int]]:
    """(task, display tokens, grid shape) of a reference dataset: the one registered task whose reference layout fits
    (``Task.reference_tokens``), or ``task`` where the shape does not say."""
    if task is not None:
        found = get_task(task).reference_tokens(seq_len, vocab_size)
        if found is None:
            raise DatasetError(f"--task {task}: a reference dataset of seq_len {seq_len} and vocab {vocab_size} is not one of {task}'s")
        return get_task(task), *found
    fits = [(t, found) for t in (get_task(n) for n in task_names()) if (found := t.reference_tokens(seq_len, vocab_size)) is not None]
    if len(fits) != 1:
        which = "none" if not fits else "more than one (" + ", ".join(t.name for t, _ in fits) + ")"
        raise DatasetError(f"seq_len {seq_len} with vocab {vocab_size} fits {which} of the tasks' reference layouts; "
                           f"name the task with --task ({', '.join(task_names())})")
    (t, (tokens, grid_shape)), = fits
    return t, tokens, grid_shape


# --------------------------------------------------------------------------- the import


def file_fingerprints(folder: Path, files: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rel in files:
        digest = hashlib.sha256()
        with (folder / rel).open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out[rel] = {"sha256": digest.hexdigest(), "bytes": (folder / rel).stat().st_size}
    return out


def import_reference_dataset(src: str | os.PathLike, out: str | os.PathLike, task: str | None = None,
                             force: bool = False) -> Dataset:
    """Convert a reference dataset folder into an hrmkit dataset at ``out`` (atomically; an existing dataset only with
    ``force``). Puzzle identifiers keep their numbers, so a reference checkpoint's puzzle-embedding rows line up."""
    import hrmkit

    started = time.perf_counter()
    ref = read_reference_dataset(src)
    found, tokens, grid_shape = infer_task(ref.info["seq_len"], ref.info["vocab_size"], task)
    adopted = found.adopt_reference(list(ref.identifiers), ref.splits, grid_shape, str(ref.folder.resolve()))
    names = adopted.identifiers
    source = {"kind": "imported", "format": f"reference ({ref.flavour})", "folder": str(ref.folder.resolve()),
              **file_fingerprints(ref.folder, ref.files)}
    card: dict[str, Any] = {"source": source, "reference_dataset": ref.split_infos, "task_rule": (
        f"given as --task {task}" if task else f"inferred from seq_len {ref.info['seq_len']} and vocab {ref.info['vocab_size']}"),
        **adopted.card, "import_notes": adopted.notes}
    with stream_dataset(out, overwrite=force) as writer:
        for split_name, split in ref.splits.items():
            w = writer.split(split_name, split.num_examples, ref.info["seq_len"], ref.info["vocab_size"])
            for g in range(split.num_groups):
                p0, p1 = int(split.group_indices[g]), int(split.group_indices[g + 1])
                r0, r1 = int(split.puzzle_indices[p0]), int(split.puzzle_indices[p1])
                w.add_group(np.asarray(split.puzzle_identifiers[p0:p1]), np.diff(np.asarray(split.puzzle_indices[p0:p1 + 1])),
                            np.asarray(split.inputs[r0:r1]), np.asarray(split.labels[r0:r1]))
        for file_name, text in adopted.files.items():
            writer.write_text(file_name, text)
        card.update(build_seconds=round(time.perf_counter() - started, 2), hrmkit_version=hrmkit.__version__)
        meta = new_metadata(found.name, tokens, grid_shape, len(names), ref.info["pad_id"], ref.info["ignore_label_id"], card)
        writer.finish(meta, names)
    assert writer.result is not None
    return writer.result


# --------------------------------------------------------------------------- hrmkit -> the reference layout


def export_reference_dataset(dataset: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write an hrmkit dataset in the reference layout (HRM's ``dataset.json`` fields, ``all__*.npy``, ``identifiers.json``)
    to the new folder ``out``, written whole in a temporary folder and renamed into place."""
    from hrmkit.atomic import atomic_directory
    from hrmkit.data.format import load_dataset

    ds = load_dataset(dataset)
    meta = ds.metadata
    out = Path(out)
    if out.exists():
        raise DatasetError(f"{out} exists; export into a new folder")
    with atomic_directory(out) as tmp:
        for name, info in meta.splits.items():
            split = ds[name]
            (tmp / name).mkdir()
            for array in ARRAY_NAMES:
                np.save(tmp / name / f"all__{array}.npy", np.asarray(getattr(split, array)))
            (tmp / name / "dataset.json").write_text(json.dumps({
                "pad_id": meta.pad_id, "ignore_label_id": meta.ignore_label_id, "blank_identifier_id": meta.blank_identifier_id,
                "vocab_size": meta.vocab_size, "seq_len": meta.seq_len, "num_puzzle_identifiers": meta.num_puzzle_identifiers,
                "total_groups": info.total_groups, "mean_puzzle_examples": info.mean_puzzle_examples, "sets": ["all"]}))
        (tmp / "identifiers.json").write_text(json.dumps(ds.identifiers))
    return out
