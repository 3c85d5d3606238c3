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
import multiprocessing.pool
import os
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hrmkit.data.format import DatasetError, SplitArrays
from hrmkit.errors import decode_fault

CHUNK = 8  # puzzles per work unit

Generated = tuple[np.ndarray, np.ndarray, int]  # (puzzle grid, solution grid, a difficulty number)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def worker_pool(workers: int) -> multiprocessing.pool.Pool:
    """Forked worker processes that ignore Ctrl-C: the terminal sends SIGINT to the whole process group, and only the
    parent should act on it (stop, remove its temporary folder, say "interrupted"), not print a traceback per worker.
    While the pool forks, a Ctrl-C is only noted (so that a worker forked with Python's handler, before its initializer
    ignores SIGINT, never raises), then delivered to the parent once the pool is made: not lost, not doubled."""
    context = mp.get_context("fork")
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        return context.Pool(workers, initializer=_ignore_sigint)
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        pool = context.Pool(workers, initializer=_ignore_sigint)
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed and previous is not signal.SIG_IGN:
        pool.terminate()
        signal.raise_signal(signal.SIGINT)  # as if pressed now: Python's handler raises KeyboardInterrupt here
    return pool


def generate_unique(worker: Callable[[Any], list[Generated]], cfg: Any, count: int, workers: int, desc: str,
                    progress: bool) -> list[Generated]:
    """``count`` distinct puzzles from ``worker((cfg, chunk_index))``, in chunk order (duplicates dropped,
    more chunks drawn as needed)."""
    seen: set[bytes] = set()
    found: list[Generated] = []
    bar = tqdm(total=count, desc=desc, unit="puzzle", disable=not progress, leave=False)
    next_chunk = 0
    pool = worker_pool(workers) if workers > 1 else None
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


# Peak memory of a build made in memory, per byte of its final token arrays: int16 groups, their int16 concatenation,
# then the uint8 copy that is written.
IN_MEMORY_FACTOR = 5


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system that tells
        return None


def check_room(out: str | os.PathLike, examples: int, seq_len: int, in_memory: bool) -> None:
    """Refuse, before the work, a build whose token arrays (inputs and labels, a byte a token) cannot fit the free disk
    at ``out`` or, when it is made in memory first, this machine's memory: a typo such as --num-aug 1000000000 must not
    run for hours and then fill the disk."""
    need = 2 * examples * seq_len
    folder = Path(out).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    what = f"{examples:,} examples of {seq_len} tokens"
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DatasetError(f"this build would write up to {_size(need)} ({what}) and {folder} has {_size(free)} free; "
                           "ask for fewer examples (--train, --test, --num-aug)")
    memory = _physical_memory()
    if in_memory and memory is not None and need * IN_MEMORY_FACTOR > memory:
        raise DatasetError(f"this build would need about {_size(need * IN_MEMORY_FACTOR)} of memory ({what}) and this machine has "
                           f"{_size(memory)}; ask for fewer examples (--train, --test, --num-aug)")


def csv_rows_at_most(cfg: Any, split: str, cells: int) -> int:
    """How many rows of ``csv_dir/{split}.csv`` an import keeps at most: the asked number, or (0: the whole file) a bound from
    the file's size, as every row holds a question and an answer of ``cells`` characters each."""
    limit = getattr(cfg, split)
    path = Path(cfg.csv_dir) / f"{split}.csv"
    bound = path.stat().st_size // (2 * cells + 3) if path.is_file() else 0
    return min(limit, bound) if limit else bound


def train_and_test(cfg: Any, import_csv: Callable[[Any, str, int, np.random.Generator], list[Generated]],
                   worker: Callable[[Any], list[Generated]], workers: int, desc: str,
                   progress: bool) -> tuple[list[Generated], list[Generated], np.random.Generator]:
    """(train, test, rng): imported from ``cfg.csv_dir`` when set, else generated (test first, so a
    larger train set does not change the test set). ``rng`` goes on to drive augmentation."""
    rng = np.random.default_rng([cfg.seed, 10**6])
    for name in ("train", "test"):
        if not cfg.csv_dir and getattr(cfg, name) < 1:  # 0 means "the whole file" when importing only
            raise DatasetError(f"{name} must be at least 1 when generating, got {getattr(cfg, name)} (0 means the whole file only with --csv-dir)")
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
    """The rows of an official CSV file (UTF-8, header source,question,answer,rating); a fault is one DatasetError naming the
    file and line. A file with a header and no rows is an error: it would build an empty split."""
    if not path.exists():
        raise DatasetError(f"{path}: not found")
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not a CSV file")
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        try:
            need = {"question", "answer"}
            if reader.fieldnames is None or not need <= set(reader.fieldnames):
                raise DatasetError(f"{path}: expected columns source,question,answer,rating; found {reader.fieldnames}")
            rows = list(reader)
        except UnicodeDecodeError:
            raise DatasetError(f"{path}: not UTF-8 text at {_first_bad_line(path)}; save it as UTF-8") from None
        except csv.Error as e:  # a NUL byte, a field over csv's size limit
            raise DatasetError(f"{path}:{reader.line_num}: {e}") from None
    if not rows:
        raise DatasetError(f"{path.name} has no rows ({path}: only a header)")
    return rows


def _first_bad_line(path: Path) -> str:
    """Where a file stops being UTF-8 (read again line by line: only on the error path)."""
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                return decode_fault(raw, e, first_line=number)
    return "the end (an incomplete character)"


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
