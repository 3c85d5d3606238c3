"""Puzzles -> datasets on disk: one builder per task, generated locally or imported from the official CSVs.

Generation is deterministic for a seed whatever the number of worker processes: the work is cut
into fixed chunks, chunk k draws from ``default_rng([seed, k])``, and results are taken in chunk order.
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from hrmkit.data import codec
from hrmkit.data.format import Dataset, DatasetError, DatasetMetadata, SplitArrays, write_dataset
from hrmkit.puzzles import maze as maze_lib
from hrmkit.puzzles import sudoku as sudoku_lib
from hrmkit.puzzles.grid import dihedral

CHUNK = 8  # puzzles per work unit


class SudokuBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: Literal["sudoku"] = "sudoku"
    size: Literal[4, 6, 9] = 9
    train: int = Field(1000, ge=0)
    test: int = Field(1000, ge=0)
    num_aug: int = Field(0, ge=0, description="augmented variants per training puzzle")
    difficulty: Literal["any", "easy", "medium", "hard", "extreme"] = "hard"
    min_clues: int = Field(0, ge=0)
    seed: int = 0
    csv_dir: str | None = Field(None, description="import train.csv/test.csv (source,question,answer,rating)")
    min_rating: int | None = Field(None, description="CSV import: keep rows with rating >= this")


class MazeBuild(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task: Literal["maze"] = "maze"
    size: int = Field(30, ge=3, le=64)
    train: int = Field(1000, ge=0)
    test: int = Field(1000, ge=0)
    min_path: int = Field(110, ge=1, description="keep mazes whose shortest path is longer than this")
    loops: float = Field(0.0, ge=0.0, le=1.0, description="fraction of inner walls knocked down")
    aug: bool = Field(False, description="add the 8 dihedral transforms of every training maze")
    seed: int = 0
    csv_dir: str | None = None


BuildConfig = SudokuBuild | MazeBuild

# A small CPU suite for fast experiments, and the paper-scale sets, buildable by name.
PRESETS: dict[str, dict[str, Any]] = {
    "sudoku-4x4": dict(task="sudoku", size=4, train=1000, test=200, num_aug=8, difficulty="any", min_clues=6),
    "sudoku-6x6": dict(task="sudoku", size=6, train=2000, test=500, num_aug=16, difficulty="any"),
    "sudoku-9x9-easy": dict(task="sudoku", size=9, train=1000, test=500, num_aug=16, difficulty="easy"),
    "sudoku-extreme-1k": dict(task="sudoku", size=9, train=1000, test=1000, num_aug=1000, difficulty="extreme"),
    "maze-9x9": dict(task="maze", size=9, train=1000, test=200, min_path=8, aug=True),
    "maze-15x15": dict(task="maze", size=15, train=1000, test=200, min_path=30, loops=0.05, aug=True),
    "maze-hard-1k": dict(task="maze", size=30, train=1000, test=1000, min_path=110, loops=0.05),
}


def make_config(name: str, **overrides: Any) -> BuildConfig:
    """A build config from a task name ("sudoku", "maze") or a preset name, with overrides."""
    if name in PRESETS:
        values = {**PRESETS[name], **overrides}
    elif name in ("sudoku", "maze"):
        values = {"task": name, **overrides}
    else:
        raise DatasetError(f"unknown dataset {name!r}; choose sudoku, maze or a preset: {', '.join(PRESETS)}")
    cls = SudokuBuild if values["task"] == "sudoku" else MazeBuild
    return cls(**values)


# --------------------------------------------------------------------------- generation


def _sudoku_chunk(args: tuple[SudokuBuild, int]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    cfg, chunk = args
    rng = np.random.default_rng([cfg.seed, chunk])
    out = []
    for _ in range(CHUNK):
        puzzle, solution, rating = sudoku_lib.generate(cfg.size, rng, cfg.difficulty, cfg.min_clues)
        out.append((puzzle, solution, rating.backtracks))
    return out


def _maze_chunk(args: tuple[MazeBuild, int]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    cfg, chunk = args
    rng = np.random.default_rng([cfg.seed, chunk])
    out = []
    for _ in range(CHUNK):
        r = maze_lib.generate(cfg.size, rng, cfg.min_path, cfg.loops)
        out.append((r.maze, r.solution, r.path_length))
    return out


def _generate_unique(
    worker: Callable[[Any], list[tuple[np.ndarray, np.ndarray, int]]],
    cfg: BuildConfig, count: int, workers: int, desc: str, progress: bool,
) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """``count`` distinct puzzles, in chunk order (duplicates dropped, more chunks drawn as needed)."""
    seen: set[bytes] = set()
    found: list[tuple[np.ndarray, np.ndarray, int]] = []
    bar = tqdm(total=count, desc=desc, unit="puzzle", disable=not progress, leave=False)
    next_chunk = 0
    pool = mp.get_context("fork").Pool(workers) if workers > 1 else None
    try:
        while len(found) < count:
            missing = count - len(found)
            n_chunks = max(math.ceil(missing / CHUNK * 1.05), 1)
            jobs = [(cfg, k) for k in range(next_chunk, next_chunk + n_chunks)]
            next_chunk += n_chunks
            results: Iterator = pool.imap(worker, jobs) if pool else map(worker, jobs)
            for chunk in results:
                for item in chunk:
                    key = item[0].tobytes()
                    if key in seen or len(found) >= count:
                        continue
                    seen.add(key)
                    found.append(item)
                    bar.update(1)
            if next_chunk > 50 * (count // CHUNK + 10):
                raise DatasetError(f"only {len(found)} distinct puzzles of {count} asked: the settings allow too few")
    finally:
        if pool:
            pool.terminate()
        bar.close()
    return found


# --------------------------------------------------------------------------- assembling splits


def _assemble(groups: list[tuple[np.ndarray, np.ndarray]]) -> SplitArrays:
    """groups -> arrays; each group is (inputs [k, L], labels [k, L]): k puzzles of one example each."""
    sizes = [len(inp) for inp, _ in groups]
    n_puzzles = sum(sizes)
    seq_len = groups[0][0].shape[1] if groups else 0
    return SplitArrays(
        inputs=np.concatenate([inp for inp, _ in groups]) if groups else np.zeros((0, seq_len), dtype=np.int16),
        labels=np.concatenate([lab for _, lab in groups]) if groups else np.zeros((0, seq_len), dtype=np.int16),
        puzzle_identifiers=np.zeros(n_puzzles, dtype=np.int32),
        puzzle_indices=np.arange(n_puzzles + 1, dtype=np.int64),
        group_indices=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )


def _sudoku_groups(pairs: list[tuple[np.ndarray, np.ndarray]], num_aug: int, rng: np.random.Generator,
                   forbidden: set[bytes], progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each original puzzle plus ``num_aug`` random symmetries of it (vectorised); variants equal to a
    forbidden (test) input are drawn again."""
    groups = []
    for puzzle, solution in tqdm(pairs, desc="augment", unit="puzzle", disable=not progress or num_aug == 0, leave=False):
        size = puzzle.shape[0]
        p, s = puzzle.ravel(), solution.ravel()
        digit_maps, cell_perms = sudoku_lib.random_symmetries(size, rng, num_aug)
        rows = np.arange(num_aug)[:, None]
        inputs = np.concatenate([p[None], digit_maps[rows, p[cell_perms]]]).astype(np.int16) + 1
        labels = np.concatenate([s[None], digit_maps[rows, s[cell_perms]]]).astype(np.int16) + 1
        if forbidden:
            for k in range(1, num_aug + 1):
                for _attempt in range(10):
                    if inputs[k].tobytes() not in forbidden:
                        break
                    sym = sudoku_lib.random_symmetry(size, rng)
                    inputs[k] = sym.apply(puzzle).ravel().astype(np.int16) + 1
                    labels[k] = sym.apply(solution).ravel().astype(np.int16) + 1
        groups.append((inputs, labels))
    return groups


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise DatasetError(f"{path}: not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"question", "answer"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DatasetError(f"{path}: expected columns source,question,answer,rating; found {reader.fieldnames}")
        return list(reader)


def _import_sudoku_csv(cfg: SudokuBuild, split: str, limit: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int]]:
    path = Path(cfg.csv_dir or "") / f"{split}.csv"
    rows = _read_csv(path)
    out = []
    for line, row in enumerate(rows, start=2):
        rating = int(row.get("rating") or 0)
        if cfg.min_rating is not None and rating < cfg.min_rating:
            continue
        try:
            puzzle, answer = sudoku_lib.parse(row["question"]), sudoku_lib.parse(row["answer"])
        except sudoku_lib.SudokuError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
        if not sudoku_lib.is_solution_of(answer, puzzle):
            raise DatasetError(f"{path}:{line}: the answer does not solve the question")
        out.append((puzzle, answer, rating))
    if limit and limit < len(out):  # seeded subsample (the reference's is unseeded)
        keep = np.sort(rng.choice(len(out), size=limit, replace=False))
        out = [out[i] for i in keep]
    return out


def _import_maze_csv(cfg: MazeBuild, split: str, limit: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, int]]:
    path = Path(cfg.csv_dir or "") / f"{split}.csv"
    out = []
    for line, row in enumerate(_read_csv(path), start=2):
        side = math.isqrt(len(row["question"]))
        try:
            q = maze_lib.parse("\n".join(row["question"][r * side:(r + 1) * side] for r in range(side)))
            a = maze_lib.parse("\n".join(row["answer"][r * side:(r + 1) * side] for r in range(side)))
        except maze_lib.MazeError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
        if side * side != len(row["question"]) or q.shape != a.shape:
            raise DatasetError(f"{path}:{line}: question and answer must be square grids of the same size")
        out.append((q, a, int(row.get("rating") or 0)))
    if limit and limit < len(out):
        keep = np.sort(rng.choice(len(out), size=limit, replace=False))
        out = [out[i] for i in keep]
    return out


def build(cfg: BuildConfig, out: str | os.PathLike, workers: int | None = None, overwrite: bool = False,
          progress: bool = True) -> Dataset:
    """Build a dataset for ``cfg`` and write it to ``out`` (atomically)."""
    if Path(out).exists() and not overwrite:
        raise DatasetError(f"{out} already exists (pass --force to replace it)")
    workers = workers or max(os.cpu_count() or 1, 1)
    started = time.perf_counter()
    rng = np.random.default_rng([cfg.seed, 10**6])
    stats: dict[str, Any] = {}
    if isinstance(cfg, SudokuBuild):
        if cfg.csv_dir:
            test = _import_sudoku_csv(cfg, "test", cfg.test, rng)
            train = _import_sudoku_csv(cfg, "train", cfg.train, rng)
        else:
            both = _generate_unique(_sudoku_chunk, cfg, cfg.train + cfg.test, workers, f"sudoku {cfg.size}x{cfg.size} {cfg.difficulty}", progress)
            test, train = both[: cfg.test], both[cfg.test:]
        test_inputs = {codec.sudoku_encode(p).astype(np.int16).ravel().tobytes() for p, _, _ in test}
        train_groups = _sudoku_groups([(p, s) for p, s, _ in train], cfg.num_aug, rng, test_inputs, progress)
        test_groups = _sudoku_groups([(p, s) for p, s, _ in test], 0, rng, set(), False)
        n = cfg.size
        vocab, grid_shape = codec.sudoku_vocab(n), (n, n)
        stats["mean_backtracks"] = {"train": float(np.mean([r for *_, r in train] or [0])), "test": float(np.mean([r for *_, r in test] or [0]))}
    else:
        if cfg.csv_dir:
            test = _import_maze_csv(cfg, "test", cfg.test, rng)
            train = _import_maze_csv(cfg, "train", cfg.train, rng)
        else:
            both = _generate_unique(_maze_chunk, cfg, cfg.train + cfg.test, workers, f"maze {cfg.size}x{cfg.size}", progress)
            test, train = both[: cfg.test], both[cfg.test:]
        sizes = {m.shape for m, _, _ in train + test}
        if len(sizes) > 1:
            raise DatasetError(f"mazes of several sizes: {sorted(sizes)}")
        side = next(iter(sizes))[0] if sizes else cfg.size
        test_inputs = {codec.maze_encode(m).astype(np.int16).tobytes() for m, _, _ in test}
        train_groups = []
        for m, s, _ in train:
            inputs, labels = [], []
            for tid in range(8 if cfg.aug else 1):
                inp = codec.maze_encode(dihedral(m, tid)).astype(np.int16)
                if tid and inp.tobytes() in test_inputs:
                    continue
                inputs.append(inp)
                labels.append(codec.maze_encode(dihedral(s, tid)).astype(np.int16))
            train_groups.append((np.stack(inputs), np.stack(labels)))
        test_groups = [(codec.maze_encode(m).astype(np.int16)[None], codec.maze_encode(s).astype(np.int16)[None]) for m, s, _ in test]
        vocab, grid_shape = codec.MAZE_VOCAB, (side, side)
        stats["mean_path_length"] = {"train": float(np.mean([r for *_, r in train] or [0])), "test": float(np.mean([r for *_, r in test] or [0]))}
    splits = {"train": _assemble(train_groups), "test": _assemble(test_groups)}
    stats["build_seconds"] = round(time.perf_counter() - started, 2)
    meta = DatasetMetadata(
        format_version=1, task=cfg.task, seq_len=grid_shape[0] * grid_shape[1], vocab_size=len(vocab),
        pad_id=0, ignore_label_id=0, blank_identifier_id=0, num_puzzle_identifiers=1,
        grid_shape=grid_shape, tokens=vocab, splits={}, build={"config": cfg.model_dump(), **stats},
    )
    return write_dataset(out, meta, splits, ["<blank>"], overwrite=overwrite)
