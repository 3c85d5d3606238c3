"""Solver and generator speed, and the Maze-Hard random-wall measurements. Prints one JSON object.

    python benchmarks/puzzles.py [--n 20] [--maze-grids 20000] [--maze-hard-build]

``--maze-grids``: random-wall candidate grids per wall density for the acceptance rates (the rates are
about 1e-3 and below, so use 100000+ for stable numbers). ``--maze-hard-build`` also times
``hrm data build maze-hard-1k`` (2 worker processes, a few minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np

from hrmkit.puzzles import maze, maze_bfs, sudoku

HARD = 110  # Maze-Hard: shortest path longer than this


def _rate(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20, help="puzzles per measurement")
    parser.add_argument("--maze-grids", type=int, default=20_000, help="random-wall grids per wall density (multiple of 5000)")
    parser.add_argument("--maze-hard-build", action="store_true", help="also time the maze-hard-1k build (minutes)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    out: dict[str, object] = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
                              "cpus": os.cpu_count(), "load_average_at_start": round(os.getloadavg()[0], 2)}

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
        gen[f"maze_tree_{size}x{size}_path>{min_path}_loops{loops}"] = round(
            _rate(lambda s=size, m=min_path, lf=loops: maze.generate_tree(s, rng, m, lf), args.n), 2)
    out["generator_puzzles_per_s_one_core"] = gen
    out["maze_hard"] = maze_hard(args, rng)
    out["load_average_at_end"] = round(os.getloadavg()[0], 2)  # other jobs on the machine slow every number above
    print(json.dumps(out, indent=2))


def numpy_frontier_bfs(passable: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The vectorised alternative to the numba BFS: a batch-wide frontier grown by array shifts."""
    n = len(passable)
    dist = np.full(passable.shape, -1, dtype=np.int32)
    frontier = np.zeros(passable.shape, dtype=bool)
    frontier[np.arange(n), starts[:, 0], starts[:, 1]] = True
    dist[frontier] = 0
    d = 0
    while frontier.any():
        d += 1
        grown = np.zeros_like(frontier)
        grown[:, 1:] |= frontier[:, :-1]
        grown[:, :-1] |= frontier[:, 1:]
        grown[:, :, 1:] |= frontier[:, :, :-1]
        grown[:, :, :-1] |= frontier[:, :, 1:]
        frontier = grown & passable & (dist < 0)
        dist[frontier] = d
    return dist


def _candidates(n: int, density: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n random-wall 30x30 grids with a uniformly random open start and a distinct open goal."""
    u = rng.random((n, 900), dtype=np.float32)
    passable = u >= density
    keys = np.where(passable, u, -1.0)
    start = keys.argmax(axis=1)
    keys[np.arange(n), start] = -1.0
    goal = keys.argmax(axis=1)
    return passable.reshape(n, 30, 30), np.stack(np.divmod(start, 30), 1), np.stack(np.divmod(goal, 30), 1)


def _bfs_speed(rng: np.random.Generator) -> dict[str, float]:
    passable, starts, _ = _candidates(256, 0.4, rng)
    maze_bfs.bfs_many(passable[:1], starts[:1])  # compile or load the numba cache
    per_grid = {}
    for name, fn, reps in (("numba", lambda: maze_bfs.bfs_many(passable, starts), 20),
                           ("numpy_frontier_batch256", lambda: numpy_frontier_bfs(passable, starts), 3),
                           ("python", lambda: [maze.distances(p, tuple(s)) for p, s in zip(passable, starts)], 1)):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        per_grid[name] = round((time.perf_counter() - t) / reps / len(passable) * 1e6, 1)
    return per_grid


def _acceptance(density: float, grids: int, rng: np.random.Generator) -> dict[str, float]:
    """For random (S, G) pairs as in the reference, and for our rule (S random, G any cell far enough):
    how often the candidate is long enough, and how often its shortest path is unique as drawn."""
    long_pairs = unique_pairs = far_starts = unique_far = 0
    for _ in range(grids // 5000):
        passable, starts, goals = _candidates(5000, density, rng)
        length, count = maze_bfs.path_stats(passable, starts, goals)
        long_pairs += int((length > HARD).sum())
        unique_pairs += int(((length > HARD) & (count == 1)).sum())
        dist, ways = maze_bfs.bfs_many(passable, starts)
        far = dist > HARD
        far_starts += int(far.any(axis=(1, 2)).sum())
        unique_far += int((far & (ways == 1)).any(axis=(1, 2)).sum())
    n = grids // 5000 * 5000
    return {"pair_longer": long_pairs / n, "pair_longer_and_unique": unique_pairs / n,
            "start_with_far_cell": far_starts / n, "start_with_far_unique_cell": unique_far / n}


def maze_hard(args: argparse.Namespace, rng: np.random.Generator) -> dict[str, object]:
    out: dict[str, object] = {"bfs_us_per_30x30_grid_density_0.4": _bfs_speed(rng)}
    out["acceptance_by_wall_density"] = {f"{d:.2f}": _acceptance(d, args.maze_grids, rng) for d in np.arange(0.30, 0.501, 0.02)}
    added: list[int] = []
    break_ties = maze._break_ties

    def counting(*a: object) -> int:
        added.append(break_ties(*a))
        return added[-1]

    maze._break_ties = counting  # count the walls the tie-breaking adds
    try:
        t = time.perf_counter()
        mazes = maze.generate_random_many(args.n, 30, rng, HARD)
        seconds = time.perf_counter() - t
    finally:
        maze._break_ties = break_ties
    out["random_style_30x30_path>110"] = {
        "mazes_per_s_one_core": round(args.n / seconds, 2), "mean_path_length": float(np.mean([m.path_length for m in mazes])),
        "mean_walls_added_to_break_ties": float(np.mean(added)),
        "mean_wall_fraction": round(float(np.mean([(m.maze == maze.WALL).mean() for m in mazes])), 3)}
    if args.maze_hard_build:
        from hrmkit.data import build as builder

        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            builder.build(builder.make_config("maze-hard-1k"), os.path.join(tmp, "m"), workers=2, progress=False)
            out["maze_hard_1k_build_s_2_workers"] = round(time.perf_counter() - t, 1)
    return out


if __name__ == "__main__":
    main()
