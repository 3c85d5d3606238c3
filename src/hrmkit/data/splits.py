"""Helpers every task builder shares: distinct puzzles generated in parallel (deterministic for a seed
whatever the number of workers), groups of augmented variants assembled into split arrays, and the
official CSV files read with a seeded subsample.

Generation cuts the work into fixed chunks; chunk k draws from ``default_rng([seed, k])`` and results
are taken in chunk order, so the output does not depend on how many processes ran it.
"""

from __future__ import annotations

import csv
import math
import multiprocessing as mp
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hrmkit.data.format import DatasetError, SplitArrays

CHUNK = 8  # puzzles per work unit

Generated = tuple[np.ndarray, np.ndarray, int]  # (puzzle grid, solution grid, a difficulty number)


def generate_unique(worker: Callable[[Any], list[Generated]], cfg: Any, count: int, workers: int, desc: str,
                    progress: bool) -> list[Generated]:
    """``count`` distinct puzzles from ``worker((cfg, chunk_index))``, in chunk order (duplicates dropped,
    more chunks drawn as needed)."""
    seen: set[bytes] = set()
    found: list[Generated] = []
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
                if len(found) >= count:
                    break  # the rest of the drawn chunks are not needed (the pool is terminated below)
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


def train_and_test(cfg: Any, import_csv: Callable[[Any, str, int, np.random.Generator], list[Generated]],
                   worker: Callable[[Any], list[Generated]], workers: int, desc: str,
                   progress: bool) -> tuple[list[Generated], list[Generated], np.random.Generator]:
    """(train, test, rng): imported from ``cfg.csv_dir`` when set, else generated (test first, so a
    larger train set does not change the test set). ``rng`` goes on to drive augmentation."""
    rng = np.random.default_rng([cfg.seed, 10**6])
    if cfg.csv_dir:
        test = import_csv(cfg, "test", cfg.test, rng)
        return import_csv(cfg, "train", cfg.train, rng), test, rng
    both = generate_unique(worker, cfg, cfg.train + cfg.test, workers, desc, progress)
    return both[cfg.test:], both[: cfg.test], rng


def assemble(groups: list[tuple[np.ndarray, np.ndarray]], seq_len: int) -> SplitArrays:
    """groups -> arrays; each group is (inputs [k, L], labels [k, L]): k puzzles of one example each."""
    sizes = [len(inp) for inp, _ in groups]
    n_puzzles = sum(sizes)
    return SplitArrays(
        inputs=np.concatenate([inp for inp, _ in groups]) if groups else np.zeros((0, seq_len), dtype=np.int16),
        labels=np.concatenate([lab for _, lab in groups]) if groups else np.zeros((0, seq_len), dtype=np.int16),
        puzzle_identifiers=np.zeros(n_puzzles, dtype=np.int32),
        puzzle_indices=np.arange(n_puzzles + 1, dtype=np.int64),
        group_indices=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        raise DatasetError(f"{path}: not found")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        need = {"question", "answer"}
        if reader.fieldnames is None or not need <= set(reader.fieldnames):
            raise DatasetError(f"{path}: expected columns source,question,answer,rating; found {reader.fieldnames}")
        return list(reader)


def subsample(items: list, limit: int, rng: np.random.Generator) -> list:
    """At most ``limit`` items (0 = all), a seeded random subset in the original order (the reference's is unseeded)."""
    if limit and limit < len(items):
        keep = np.sort(rng.choice(len(items), size=limit, replace=False))
        return [items[i] for i in keep]
    return items


def difficulty_summary(values: list[float]) -> dict[str, float]:
    """Count, mean and quantiles of per-puzzle difficulty numbers, for the data card."""
    if not values:
        return {"count": 0}
    v = np.asarray(values, dtype=np.float64)
    q = np.quantile(v, [0.0, 0.1, 0.5, 0.9, 1.0])
    return {"count": int(v.size), "mean": round(float(v.mean()), 2), "min": float(q[0]), "p10": float(q[1]),
            "median": float(q[2]), "p90": float(q[3]), "max": float(q[4])}


def csv_fingerprints(folder: Path, names: list[str]) -> dict[str, Any]:
    """Where imported files came from, with a SHA-256 of each, so a result can be traced to its files."""
    import hashlib

    out: dict[str, Any] = {"folder": str(folder.resolve())}
    for name in names:
        path = folder / name
        if path.exists():
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            out[name] = {"sha256": digest.hexdigest(), "bytes": path.stat().st_size}
    return out
