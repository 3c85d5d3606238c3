"""Mazes on an N x N grid: generation, shortest paths, path validation, symmetries.

Cells are characters of ``"# SGo"``: wall, open, start, goal, path (the HRM reference charset).
A puzzle is the maze with S and G; its solution is the same grid with the shortest S->G path
drawn in ``o``. Path length counts moves, so a path through k cells (S and G included) has
length k - 1. Maze-Hard (HRM paper) = 30 x 30 with a shortest path longer than 110.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hrmkit.errors import HrmError
from hrmkit.puzzles.grid import dihedral

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4
CHARSET = "# SGo"

__all__ = [
    "CHARSET", "GOAL", "OPEN", "PATH", "START", "WALL", "MazeError", "MazeResult",
    "count_shortest_paths", "distances", "draw_path", "format_maze", "generate", "parse",
    "path_errors", "shortest_path", "transform",
]


class MazeError(HrmError, ValueError):
    """A maze text or grid that is not a valid maze; the message names the fault (in one line, as any HrmError)."""


@dataclass
class MazeResult:
    maze: np.ndarray  # int8 [N, N] of WALL/OPEN/START/GOAL
    solution: np.ndarray  # the same with PATH cells
    path_length: int


def parse(text: str) -> np.ndarray:
    lines = [line for line in text.splitlines() if line]
    if not lines:
        raise MazeError("empty maze text")
    width = len(lines[0])
    for r, line in enumerate(lines):
        if len(line) != width:
            raise MazeError(f"row {r + 1} has {len(line)} cells, expected {width}")
        for c, ch in enumerate(line):
            if ch not in CHARSET:
                raise MazeError(f"invalid character {ch!r} at row {r + 1}, column {c + 1}")
    return np.array([[CHARSET.index(ch) for ch in line] for line in lines], dtype=np.int8)


def format_maze(grid: np.ndarray) -> str:
    return "\n".join("".join(CHARSET[int(v)] for v in row) for row in np.asarray(grid))


def _find(grid: np.ndarray, token: int, name: str) -> tuple[int, int]:
    where = np.argwhere(grid == token)
    if len(where) != 1:
        raise MazeError(f"expected exactly one {name} ({CHARSET[token]!r}), found {len(where)}")
    return int(where[0][0]), int(where[0][1])


def distances(grid: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """BFS move counts from ``source`` over non-wall cells; -1 where unreachable."""
    grid = np.asarray(grid)
    h, w = grid.shape
    dist = np.full((h, w), -1, dtype=np.int32)
    dist[source] = 0
    queue = deque([source])
    passable = grid != WALL
    while queue:
        r, c = queue.popleft()
        d = dist[r, c] + 1
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and passable[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = d
                queue.append((nr, nc))
    return dist


def shortest_path(grid: np.ndarray) -> list[tuple[int, int]] | None:
    """One shortest S->G path (cells, S and G included), or None when G is unreachable."""
    grid = np.asarray(grid)
    start, goal = _find(grid, START, "start"), _find(grid, GOAL, "goal")
    dist = distances(grid, goal)
    if dist[start] < 0:
        return None
    path = [start]
    r, c = start
    h, w = grid.shape
    while (r, c) != goal:
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and dist[nr, nc] == dist[r, c] - 1:
                r, c = nr, nc
                break
        path.append((r, c))
    return path


def count_shortest_paths(grid: np.ndarray, cap: int = 2) -> int:
    """Number of distinct shortest S->G paths, capped at ``cap``."""
    grid = np.asarray(grid)
    start, goal = _find(grid, START, "start"), _find(grid, GOAL, "goal")
    dist = distances(grid, start)
    if dist[goal] < 0:
        return 0
    ways = np.zeros(grid.shape, dtype=np.int64)
    ways[start] = 1
    h, w = grid.shape
    order = np.argsort(dist, axis=None, kind="stable")
    for flat in order:
        r, c = divmod(int(flat), w)
        if dist[r, c] <= 0:
            continue
        total = 0
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and dist[nr, nc] == dist[r, c] - 1:
                total += ways[nr, nc]
        ways[r, c] = min(total, cap)
    return int(ways[goal])


def draw_path(grid: np.ndarray, path: list[tuple[int, int]]) -> np.ndarray:
    out = np.array(grid, copy=True)
    for r, c in path[1:-1]:
        out[r, c] = PATH
    return out


def path_errors(maze: np.ndarray, predicted: np.ndarray) -> list[str]:
    """Why ``predicted`` is not a shortest-path solution of ``maze`` (empty list = it is one).

    Checks: same shape; walls, start and goal untouched; path cells only on open cells; the path is
    one simple chain from S to G; its length equals the shortest path length.
    """
    maze, predicted = np.asarray(maze), np.asarray(predicted)
    if maze.shape != predicted.shape:
        return [f"shape {predicted.shape} differs from the maze's {maze.shape}"]
    errors = []
    changed = (maze != predicted) & ~((maze == OPEN) & (predicted == PATH))
    if changed.any():
        r, c = np.argwhere(changed)[0]
        errors.append(f"cell ({r + 1}, {c + 1}) changed from {CHARSET[maze[r, c]]!r} to {CHARSET[predicted[r, c]]!r}")
        return errors
    start, goal = _find(maze, START, "start"), _find(maze, GOAL, "goal")
    on_path = (predicted == PATH) | (predicted == START) | (predicted == GOAL)
    h, w = maze.shape

    def path_neighbours(r: int, c: int) -> list[tuple[int, int]]:
        return [(nr, nc) for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                if 0 <= nr < h and 0 <= nc < w and on_path[nr, nc]]

    # Walk from S; every step must have exactly one way forward.
    prev, cur, length = None, start, 0
    while cur != goal:
        options = [p for p in path_neighbours(*cur) if p != prev]
        if len(options) != 1:
            where = f"({cur[0] + 1}, {cur[1] + 1})"
            return [f"path {'ends' if not options else 'branches'} at {where}"]
        prev, cur = cur, options[0]
        length += 1
        if length > h * w:
            return ["path loops"]
    if length != int(on_path.sum()) - 1:
        errors.append("path cells off the S-G chain")
    best = distances(maze, start)[goal]
    if length != best:
        errors.append(f"path length {length} is not the shortest ({best})")
    return errors


def generate(
    size: int = 30,
    rng: np.random.Generator | None = None,
    min_path_length: int = 110,
    loop_fraction: float = 0.0,
    max_tries: int = 1000,
) -> MazeResult:
    """A random maze with a unique shortest S->G path of more than ``min_path_length`` moves.

    A perfect maze (a random spanning tree, drawn by randomised depth-first search) is carved on the
    cells with even coordinates; ``loop_fraction`` of the remaining inner walls between two cells are
    then knocked down to make loops. S is drawn at random, G among the cells far enough from S.
    """
    rng = rng if rng is not None else np.random.default_rng()
    if size < 3:
        raise MazeError(f"maze size must be at least 3, got {size}")
    if not 0.0 <= loop_fraction <= 1.0:
        raise MazeError(f"loop_fraction must be in [0, 1], got {loop_fraction}")
    cells = (size + 1) // 2  # lattice cells per side at even coordinates 0, 2, ...
    for _ in range(max_tries):
        grid = np.full((size, size), WALL, dtype=np.int8)
        grid[0 : 2 * cells - 1 : 2, 0 : 2 * cells - 1 : 2] = OPEN
        seen = np.zeros((cells, cells), dtype=bool)
        stack = [(int(rng.integers(cells)), int(rng.integers(cells)))]
        seen[stack[0]] = True
        while stack:
            r, c = stack[-1]
            options = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                       if 0 <= r + dr < cells and 0 <= c + dc < cells and not seen[r + dr, c + dc]]
            if not options:
                stack.pop()
                continue
            nr, nc = options[int(rng.integers(len(options)))]
            grid[r + nr, c + nc] = OPEN  # the wall between (2r, 2c) and (2nr, 2nc)
            seen[nr, nc] = True
            stack.append((nr, nc))
        if loop_fraction > 0:
            inner = np.argwhere((grid == WALL) & (np.add.outer(np.arange(size), np.arange(size)) % 2 == 1))
            inner = inner[(inner[:, 0] < 2 * cells - 1) & (inner[:, 1] < 2 * cells - 1)]
            knock = inner[rng.random(len(inner)) < loop_fraction]
            grid[knock[:, 0], knock[:, 1]] = OPEN
        open_cells = np.argwhere(grid == OPEN)
        start = tuple(int(v) for v in open_cells[rng.integers(len(open_cells))])
        dist = distances(grid, start)
        far = np.argwhere(dist > min_path_length)
        if len(far) == 0:
            continue
        goal = tuple(int(v) for v in far[rng.integers(len(far))])
        grid[start], grid[goal] = START, GOAL
        if loop_fraction > 0 and count_shortest_paths(grid) != 1:
            continue  # keep the label unambiguous
        path = shortest_path(grid)
        assert path is not None
        return MazeResult(maze=grid, solution=draw_path(grid, path), path_length=len(path) - 1)
    raise MazeError(f"no {size}x{size} maze with a path longer than {min_path_length} found in {max_tries} tries")


def transform(grid: np.ndarray, tid: int) -> np.ndarray:
    """One of the 8 dihedral transforms (maze validity and path lengths are preserved)."""
    return dihedral(grid, tid)
