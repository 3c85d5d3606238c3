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
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hrmkit import jsonio
from hrmkit.data.format import ARRAY_NAMES, Dataset, DatasetError, SplitArrays, new_metadata, stream_dataset
from hrmkit.tasks import maze, sudoku
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.layout import TASKS_FILE

SPLITS = ("train", "test")
REQUIRED_KEYS = ("pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers",
                 "total_groups", "mean_puzzle_examples", "sets")
SHARED_KEYS = ("pad_id", "ignore_label_id", "blank_identifier_id", "vocab_size", "seq_len", "num_puzzle_identifiers")
# (seq_len, vocab_size) of the reference builders' three tasks
KNOWN_SHAPES = {(81, 11): "sudoku", (900, 12): "arc", (900, 6): "maze"}
HRM_VARIANT = re.compile(r"^(?P<task>.+)_t(?P<tid>[0-7])_(?P<perm>0[1-9]{9})$")


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


def infer_task(seq_len: int, vocab_size: int, task: str | None = None) -> tuple[str, list[str], tuple[int, int]]:
    """(task, display tokens, grid shape) of a reference dataset; ``task`` names it where the shape does not."""
    name = task or KNOWN_SHAPES.get((seq_len, vocab_size))
    if name is None:
        raise DatasetError(f"seq_len {seq_len} with vocab {vocab_size} is none of the reference's Sudoku, maze or ARC datasets; "
                           f"name the task with --task ({', '.join(sorted(set(KNOWN_SHAPES.values())))})")
    side = math.isqrt(seq_len)
    if side * side != seq_len:
        raise DatasetError(f"seq_len {seq_len} is not a square grid, which task {name!r} needs")
    expected = {"sudoku": side + 2, "maze": len(maze.VOCAB), "arc": len(grids.VOCAB)}
    if name not in expected:
        raise DatasetError(f"--task {name!r}: reference datasets are read for sudoku, maze or arc")
    if vocab_size != expected[name]:
        raise DatasetError(f"--task {name}: a {side}x{side} {name} dataset has vocab {expected[name]}, this one {vocab_size}")
    tokens = {"sudoku": lambda: sudoku.vocab(side), "maze": lambda: list(maze.VOCAB), "arc": lambda: list(grids.VOCAB)}[name]()
    return name, tokens, (side, side)


def hrmkit_names(names: list[str]) -> list[str]:
    """HRM's ARC variant names ``<task>_t<k>_<perm>`` in hrmkit's (and TRM's) spelling ``<task>|||t<k>|||<perm>``, which
    hrmkit's evaluator parses to undo the augmentation; other names (the blank, originals, TRM's) are kept."""
    return [n if grids.SEPARATOR in n or (m := HRM_VARIANT.match(n)) is None
            else grids.SEPARATOR.join([m["task"], f"t{m['tid']}", m["perm"]]) for n in names]


def decode_placed_grid(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    """The grid a reference row holds wherever it was translated to (its colour cells' bounding box, which must be
    all colour), or None when the row holds no grid (an unknown output)."""
    t = np.asarray(tokens).reshape(canvas, canvas).astype(np.int16)
    colour = (t >= grids.COLOUR0) & (t < grids.COLOUR0 + grids.NUM_COLOURS)
    if not colour.any():
        return None
    rows, cols = np.flatnonzero(colour.any(1)), np.flatnonzero(colour.any(0))
    box = colour[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    if not box.all():
        raise DatasetError("an ARC row's colour cells are not one rectangle")
    return (t[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] - grids.COLOUR0).astype(np.uint8)


def _puzzle_rows(split: SplitArrays, puzzle: int) -> range:
    return range(int(split.puzzle_indices[puzzle]), int(split.puzzle_indices[puzzle + 1]))


def _pairs(split: SplitArrays, puzzle: int, canvas: int) -> list[grids.ArcPair]:
    out = []
    for row in _puzzle_rows(split, puzzle):
        inp = decode_placed_grid(split.inputs[row], canvas)
        if inp is None:
            raise DatasetError(f"puzzle #{puzzle}: an example with an empty input")
        out.append(grids.ArcPair(inp, decode_placed_grid(split.labels[row], canvas)))
    return out


def _same(a: list[grids.ArcPair], b: list[grids.ArcPair]) -> bool:
    def key(g: np.ndarray | None) -> bytes:
        return b"" if g is None else grids.grid_key(g)
    return len(a) == len(b) and all(key(x.input) == key(y.input) and key(x.output) == key(y.output) for x, y in zip(a, b))


def held_out_tasks(ref: ReferenceDataset, names: list[str], canvas: int) -> tuple[dict[str, grids.ArcTask], str]:
    """The original held-out tasks (test pairs from the test split's un-augmented puzzle, demonstrations from the train
    split's puzzle of the same identifier) and the protocol; a DatasetError when they cannot be rebuilt exactly, i.e.
    when a variant, inverse-augmented, does not give the original back."""
    train, test = ref.splits["train"], ref.splits["test"]
    train_puzzle = {int(i): p for p, i in enumerate(np.asarray(train.puzzle_identifiers))}
    tasks: dict[str, grids.ArcTask] = {}
    trained = []
    for g in range(test.num_groups):
        puzzles = range(int(test.group_indices[g]), int(test.group_indices[g + 1]))
        parsed = {p: grids.parse_name(names[int(test.puzzle_identifiers[p])]) for p in puzzles}
        originals = [p for p, (_, aug) in parsed.items() if aug.is_identity]
        task_ids = {tid for tid, _ in parsed.values()}
        if len(originals) != 1 or len(task_ids) != 1:
            raise DatasetError(f"test group #{g} does not hold one original puzzle of one task")
        (task_id,) = task_ids
        test_pairs = [grids.ArcPair(grids.crop(test.inputs[r], canvas), decode_placed_grid(test.labels[r], canvas))
                      for r in _puzzle_rows(test, originals[0])]
        ident = int(test.puzzle_identifiers[originals[0]])
        demos = _pairs(train, train_puzzle[ident], canvas) if ident in train_puzzle else []
        trained.append(ident in train_puzzle)
        if not demos:
            raise DatasetError(f"held-out task {task_id}: no demonstration pairs in the train split")
        for p, (_, aug) in parsed.items():
            variant = [grids.ArcPair(aug.invert(x.input), None if x.output is None else aug.invert(x.output)) for x in _pairs(test, p, canvas)]
            if not _same(variant, test_pairs):
                raise DatasetError(f"test variant {names[int(test.puzzle_identifiers[p])]!r} does not invert to its original")
        tasks[task_id] = grids.ArcTask(task_id, demos, test_pairs, "evaluation")
    return dict(sorted(tasks.items())), "paper" if all(trained) else "strict"


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
    name, tokens, grid_shape = infer_task(ref.info["seq_len"], ref.info["vocab_size"], task)
    names = hrmkit_names(ref.identifiers) if name == "arc" else list(ref.identifiers)
    source = {"kind": "imported", "format": f"reference ({ref.flavour})", "folder": str(ref.folder.resolve()),
              **file_fingerprints(ref.folder, ref.files)}
    card: dict[str, Any] = {"source": source, "reference_dataset": ref.split_infos, "task_rule": (
        f"given as --task {task}" if task else f"inferred from seq_len {ref.info['seq_len']} and vocab {ref.info['vocab_size']}")}
    held_out: dict[str, grids.ArcTask] = {}
    if name == "arc":
        card["names"] = "HRM's <task>_t<k>_<perm> variant names written as <task>|||t<k>|||<perm> (same ids, same variants)"
        try:
            held_out, protocol = held_out_tasks(ref, names, grid_shape[0])
            card[TASKS_FILE] = (f"rebuilt: {len(held_out)} held-out tasks from the test split's original puzzles, their "
                                "demonstrations from the train split; every test variant checked to invert to its original")
            card["protocol"] = protocol
        except (DatasetError, KeyError) as e:
            card[TASKS_FILE] = f"not written ({e}); ARC scoring (hrm eval) needs it"
    with stream_dataset(out, overwrite=force) as writer:
        for split_name, split in ref.splits.items():
            w = writer.split(split_name, split.num_examples, ref.info["seq_len"], ref.info["vocab_size"])
            for g in range(split.num_groups):
                p0, p1 = int(split.group_indices[g]), int(split.group_indices[g + 1])
                r0, r1 = int(split.puzzle_indices[p0]), int(split.puzzle_indices[p1])
                w.add_group(np.asarray(split.puzzle_identifiers[p0:p1]), np.diff(np.asarray(split.puzzle_indices[p0:p1 + 1])),
                            np.asarray(split.inputs[r0:r1]), np.asarray(split.labels[r0:r1]))
        if held_out:
            writer.write_text(TASKS_FILE, json.dumps({
                "protocol": card["protocol"], "source": f"rebuilt from the reference dataset {ref.folder.resolve()}",
                "canvas": grid_shape[0], "tasks": {tid: t.to_json() for tid, t in held_out.items()}}))
        card.update(build_seconds=round(time.perf_counter() - started, 2), hrmkit_version=hrmkit.__version__)
        meta = new_metadata(name, tokens, grid_shape, len(names), ref.info["pad_id"], ref.info["ignore_label_id"], card)
        writer.finish(meta, names)
    assert writer.result is not None
    return writer.result
