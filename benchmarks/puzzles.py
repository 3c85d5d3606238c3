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

    hard = [sudoku.generate(9, rng, "extreme")[0] for _ in range(args.n)]
    times, backtracks = [], []
    for p in hard:
        t = time.perf_counter()
        r = sudoku.solve(p, limit=2)
        times.append(time.perf_counter() - t)
        backtracks.append(r.backtracks)
    inkala = sudoku.parse("8..........36......7..9.2...5...7.......457.....1...3...1....68..85...1..9....4..")
    t = time.perf_counter()
    sudoku.solve(inkala, limit=2)
    out["solver_9x9_extreme_ms_per_puzzle"] = {"mean": round(1000 * float(np.mean(times)), 2),
                                               "max": round(1000 * float(np.max(times)), 2),
                                               "mean_backtracks": float(np.mean(backtracks))}
    out["solver_inkala_ms"] = round(1000 * (time.perf_counter() - t), 2)

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
