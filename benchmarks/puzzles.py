"""Solver and generator speed. Prints one JSON object.

    python benchmarks/puzzles.py [--n 20]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from hrmkit.puzzles import maze, sudoku


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20, help="puzzles per measurement")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version()}

    # The compiled solver (naked + hidden singles) against the original pure-Python one (naked singles only),
    # on generated extreme puzzles, the Inkala puzzle, and 17 random clues of a full grid (many solutions,
    # limit 2: the slowest kind for the old solver).
    sudoku.solve(np.zeros((9, 9), dtype=np.int8))  # compile (or load the cache) outside the timings
    hard = [sudoku.generate(9, rng, "extreme")[0] for _ in range(args.n)]
    inkala = sudoku.parse("8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..")
    sparse = []
    for _ in range(args.n):
        grid = sudoku.solve(np.zeros((9, 9), dtype=np.int8), limit=1, rng=rng).solutions[0].copy()
        grid.ravel()[rng.permutation(81)[17:]] = 0
        sparse.append(grid)
    for name, solver in (("compiled", sudoku.solve), ("python_naked_singles", sudoku._naked_solve)):
        row: dict[str, object] = {}
        for label, puzzles in (("extreme", hard), ("inkala", [inkala]), ("17_random_clues", sparse)):
            times, backtracks = [], []
            for p in puzzles:
                t = time.perf_counter()
                r = solver(p, limit=2)
                times.append(time.perf_counter() - t)
                backtracks.append(r.backtracks)
            row[label] = {"mean_ms": round(1000 * float(np.mean(times)), 3), "max_ms": round(1000 * float(np.max(times)), 3),
                          "mean_backtracks": float(np.mean(backtracks))}
        out[f"solver_9x9_{name}"] = row

    gen = {}
    for size, levels in ((4, ["any"]), (6, ["any", "medium"]), (9, ["easy", "medium", "hard", "extreme"])):
        for level in levels:
            gen[f"sudoku_{size}x{size}_{level}"] = round(_rate(lambda s=size, lv=level: sudoku.generate(s, rng, lv), args.n), 2)
    for size, min_path, loops in ((9, 8, 0.0), (15, 30, 0.05), (30, 110, 0.0), (30, 110, 0.05)):
        gen[f"maze_{size}x{size}_path>{min_path}_loops{loops}"] = round(
            _rate(lambda s=size, m=min_path, lf=loops: maze.generate(s, rng, m, lf), args.n), 2)
    out["generator_puzzles_per_s_one_core"] = gen
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
