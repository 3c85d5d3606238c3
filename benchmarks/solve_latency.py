"""Latency of `hrm solve` / one `hrm serve` request: one 9x9 Sudoku through 16 ACT segments, batch 1, on CPU.

The architectures of the presets sudoku-extreme-1k (HRM, 27M) and trm-sudoku-extreme-1k (TRM-MLP, 5M), with
random weights (the work per segment does not depend on the weights). Each model: one warm-up solve, then
the median (and min/max) of --repeats timed calls of hrmkit.solve.solve(). Prints one JSON object.

    python benchmarks/solve_latency.py                  # 2 threads, 16 segments, 5 repeats
    python benchmarks/solve_latency.py --threads 1 --segments 8 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from hrmkit.config import make_train_config
from hrmkit.data.format import DatasetMetadata
from hrmkit.models import build_model, count_parameters
from hrmkit.solve import solve

PRESETS = {"hrm-27M": "sudoku-extreme-1k", "trm-mlp-5M": "trm-sudoku-extreme-1k"}
# Inkala's "hardest Sudoku": a real puzzle, so check_answer and parsing are timed too.
PUZZLE = "8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4.."


def sudoku_9x9_meta(num_puzzle_identifiers: int) -> DatasetMetadata:
    return DatasetMetadata(format_version=1, task="sudoku", seq_len=81, vocab_size=11, num_puzzle_identifiers=num_puzzle_identifiers,
                           grid_shape=(9, 9), tokens=["<pad>", ".", *map(str, range(1, 10))], splits={})


def time_preset(preset: str, segments: int, repeats: int) -> dict:
    arch = make_train_config(preset).arch
    torch.manual_seed(0)
    model = build_model(arch, 11, 81, 2, "cpu").eval()
    meta = sudoku_9x9_meta(2)
    solve(model, meta, PUZZLE, segments=segments)  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        trace = solve(model, meta, PUZZLE, segments=segments)
        times.append(time.perf_counter() - started)
    assert len(trace.segments) == segments
    return {"preset": preset, "parameters": count_parameters(model),
            "dtype": str(next(model.parameters()).dtype).removeprefix("torch."), "segments": segments,
            "median_s": round(statistics.median(times), 4), "min_s": round(min(times), 4), "max_s": round(max(times), 4),
            "per_segment_ms": round(1000 * statistics.median(times) / segments, 2), "repeats": repeats}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {name: time_preset(preset, args.segments, args.repeats) for name, preset in PRESETS.items()}
    print(json.dumps({"threads": args.threads, "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                      "load_average_1m": round(os.getloadavg()[0], 2), "torch": torch.__version__, "results": results}, indent=2))


if __name__ == "__main__":
    main()
