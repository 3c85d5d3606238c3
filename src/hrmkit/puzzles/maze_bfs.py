"""Breadth-first search over many mazes at once, compiled with numba.

The random-wall Maze-Hard generator throws away most candidate grids (short, unreachable or tied
shortest paths), so it runs one BFS per candidate: tens of thousands per dataset. A queue BFS
compiled by numba costs a few microseconds per 30x30 grid; the pure-Python BFS in ``maze.py`` costs
about a millisecond, and a NumPy frontier-shift BFS over a batch pays for every cell of every grid at
each of the 100+ layers of a hard maze (measured in benchmarks/puzzles.py, README "Datasets").

Kept apart from ``maze.py`` so that importing the maze task does not import numba; the first call
compiles (cached on disk by numba afterwards).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


@njit(cache=True, nogil=True)
def _bfs(passable, sr, sc, gr, gc, dist, ways, queue):  # pragma: no cover - compiled
    """BFS from (sr, sc) filling ``dist`` (moves, -1 = unreachable) and ``ways`` (shortest-path counts
    capped at 2). With a goal (gr >= 0) it stops once the goal's count is final. Returns how many cells
    it reached; ``queue[:that]`` holds them in order of distance."""
    h, w = passable.shape
    dist[:] = -1
    ways[:] = 0
    dist[sr, sc] = 0
    ways[sr, sc] = 1
    queue[0] = sr * w + sc
    head, tail, stop = 0, 1, -1
    while head < tail:
        cell = queue[head]
        head += 1
        r, c = cell // w, cell % w
        d = dist[r, c]
        if stop >= 0 and d >= stop:  # every cell one move before the goal has been expanded
            break
        for dr, dc in _STEPS:
            nr, nc = r + dr, c + dc
            if nr < 0 or nr >= h or nc < 0 or nc >= w or not passable[nr, nc]:
                continue
            if dist[nr, nc] < 0:
                dist[nr, nc] = d + 1
                ways[nr, nc] = ways[r, c]
                queue[tail] = nr * w + nc
                tail += 1
                if nr == gr and nc == gc:
                    stop = d + 1
            elif dist[nr, nc] == d + 1:
                ways[nr, nc] = min(2, ways[nr, nc] + ways[r, c])
    return tail


@njit(cache=True, nogil=True)
def _path_stats(passable, starts, goals):  # pragma: no cover - compiled
    n, h, w = passable.shape
    length = np.full(n, -1, dtype=np.int32)
    count = np.zeros(n, dtype=np.uint8)
    dist = np.empty((h, w), dtype=np.int32)
    ways = np.empty((h, w), dtype=np.uint8)
    queue = np.empty(h * w, dtype=np.int64)
    for i in range(n):
        gr, gc = goals[i, 0], goals[i, 1]
        _bfs(passable[i], starts[i, 0], starts[i, 1], gr, gc, dist, ways, queue)
        length[i] = dist[gr, gc]
        count[i] = ways[gr, gc]
    return length, count


@njit(cache=True, nogil=True)
def _random_wall_scan(u, density, longer_than):  # pragma: no cover - compiled
    n, h, w = u.shape
    count = np.zeros(n, dtype=np.int32)
    starts = np.zeros((n, 2), dtype=np.int64)
    passable = np.empty((h, w), dtype=np.bool_)
    dist = np.empty((h, w), dtype=np.int32)
    ways = np.empty((h, w), dtype=np.uint8)
    queue = np.empty(h * w, dtype=np.int64)
    for i in range(n):
        best = np.float32(-1.0)
        for r in range(h):
            for c in range(w):
                passable[r, c] = u[i, r, c] >= density[i]
                if passable[r, c] and u[i, r, c] > best:
                    best = u[i, r, c]
                    starts[i, 0], starts[i, 1] = r, c
        if best < 0:  # no open cell
            continue
        j = _bfs(passable, starts[i, 0], starts[i, 1], -1, -1, dist, ways, queue) - 1
        while j >= 0 and dist[queue[j] // w, queue[j] % w] > longer_than:  # the far cells end the queue
            count[i] += 1
            j -= 1
    return count, starts


@njit(cache=True, nogil=True)
def _bfs_many(passable, starts):  # pragma: no cover - compiled
    n, h, w = passable.shape
    dist = np.empty((n, h, w), dtype=np.int32)
    ways = np.empty((n, h, w), dtype=np.uint8)
    queue = np.empty(h * w, dtype=np.int64)
    for i in range(n):
        _bfs(passable[i], starts[i, 0], starts[i, 1], -1, -1, dist[i], ways[i], queue)
    return dist, ways


def path_stats(passable: np.ndarray, starts: np.ndarray, goals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each grid i of ``passable`` [B, H, W] (bool): (shortest start->goal path length in moves, -1 if
    unreachable; number of shortest paths capped at 2). ``starts``/``goals``: [B, 2] (row, column)."""
    passable = np.ascontiguousarray(passable, dtype=np.bool_)
    return _path_stats(passable, np.asarray(starts, dtype=np.int64), np.asarray(goals, dtype=np.int64))


def random_wall_scan(u: np.ndarray, density: np.ndarray, longer_than: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate random-wall grids, scanned in one compiled pass. Grid i has a wall wherever
    ``u[i] < density[i]`` (``u``: float32 [B, H, W] uniform draws) and starts at its open cell of largest
    ``u`` (a uniformly random open cell: given which cells are open, their draws are i.i.d.).
    Returns (how many cells lie more than ``longer_than`` moves from the start [B], the starts [B, 2])."""
    return _random_wall_scan(np.ascontiguousarray(u, dtype=np.float32), np.asarray(density, dtype=np.float32), longer_than)


def bfs_many(passable: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ``starts[i]`` over ``passable[i]``: (move counts [B, H, W], -1 where unreachable; number of
    shortest paths to each cell [B, H, W], capped at 2)."""
    passable = np.ascontiguousarray(passable, dtype=np.bool_)
    return _bfs_many(passable, np.asarray(starts, dtype=np.int64))
