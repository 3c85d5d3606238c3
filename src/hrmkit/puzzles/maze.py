"""Mazes on an N x N grid: generation, shortest paths, path validation, symmetries.

Cells are characters of ``"# SGo"``: wall, open, start, goal, path (the HRM reference charset).
A puzzle is the maze with S and G; its solution is the same grid with the shortest S->G path
drawn in ``o``. Path length counts moves, so a path through k cells (S and G included) has
length k - 1. Maze-Hard (HRM paper) = 30 x 30 with a shortest path longer than 110.

Two generators: random-wall grids (:func:`generate_random_many`, the style of the Maze-Hard data) and
spanning-tree mazes with optional loops (:func:`generate_tree`). A drawn grid usually has many shortest
paths (as the official Maze-Hard grids, whose label is one of them), so the label is chosen among them by
one fixed rule, :data:`LABEL_RULE` (:func:`shortest_path`), which anyone can re-derive from the grid alone.
With ``unique_path`` the generators instead make the shortest path unique (random walls: wall off the other
shortest paths; tree: redraw); that walling leaves a cue (the added walls sit beside the path), so it is off
by default.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from hrmkit.errors import HrmError
from hrmkit.puzzles.grid import dihedral

WALL, OPEN, START, GOAL, PATH = 0, 1, 2, 3, 4
CHARSET = "# SGo"
STYLES = ("random", "tree")
# Wall density range of the random style. Lehnert et al. draw 30-50%; measured (benchmarks/puzzles.py), 98% of
# the grids of that range with a path longer than 110 have 32-44% walls (percolation is near 41%), and the
# tails cost a third of the candidates.
DEFAULT_WALLS = (0.32, 0.44)
RANDOM_TRIES = 200_000  # random-wall candidates drawn between two mazes found before giving up
# The label among several shortest paths: the one :func:`shortest_path` draws.
LABEL_RULE_NAME = "first-step-udlr"
LABEL_RULE = ("walking from S, each step goes to the first of up, down, left, right that is one move closer to G "
              "(by BFS distance to G)")

__all__ = [
    "CHARSET", "DEFAULT_WALLS", "GOAL", "LABEL_RULE", "LABEL_RULE_NAME", "OPEN", "PATH", "START", "STYLES", "WALL", "MazeError", "MazeResult",
    "check_feasible", "count_shortest_paths", "distances", "draw_path", "find_one", "format_maze", "generate", "generate_random_many",
    "generate_tree", "label_solution", "longest_possible_path", "parse", "path_errors", "shortest_path", "transform",
]


class MazeError(HrmError, ValueError):
    """A maze text or grid that is not a valid maze, or settings no maze can meet; the message names the fault
    (in one line, as any HrmError)."""


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


def find_one(grid: np.ndarray, token: int, name: str) -> tuple[int, int]:
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
    """The shortest S->G path of the label rule (cells, S and G included), or None when G is unreachable.

    The rule (:data:`LABEL_RULE`): walking from S, each step goes to the first of up, down, left, right whose
    BFS distance to G is one less. Every such step stays on a shortest path, so the walk is one, and it depends
    on the grid alone."""
    grid = np.asarray(grid)
    start, goal = find_one(grid, START, "start"), find_one(grid, GOAL, "goal")
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
    start, goal = find_one(grid, START, "start"), find_one(grid, GOAL, "goal")
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


def label_solution(grid: np.ndarray) -> np.ndarray:
    """The maze with the label rule's shortest path drawn (:func:`shortest_path`); MazeError when G is unreachable."""
    path = shortest_path(grid)
    if path is None:
        raise MazeError("the goal cannot be reached from the start")
    return draw_path(grid, path)


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
    start, goal = find_one(maze, START, "start"), find_one(maze, GOAL, "goal")
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


def longest_possible_path(size: int) -> int:
    """An upper bound on the shortest-path length (moves) between two cells of any ``size`` x ``size`` maze.

    A shortest path has no shortcut, so it never holds all four cells of a 2x2 square; each of the
    ``(size // 2) ** 2`` disjoint 2x2 squares has a cell off the path.
    """
    return size * size - (size // 2) ** 2 - 1


def check_feasible(size: int, min_path_length: int) -> None:
    """Refuse, before any search, a path length that no maze of this size can have."""
    if size < 3:
        raise MazeError(f"maze size must be at least 3, got {size}")
    bound = longest_possible_path(size)
    if min_path_length >= bound:
        raise MazeError(f"no {size}x{size} maze has a shortest path longer than {bound} moves; "
                        f"use a min_path (--min-path) below {bound} or a larger size (--size)")


def _give_up(style: str, size: int, min_path_length: int, tries: int) -> MazeError:
    return MazeError(f"no {size}x{size} {style} maze with a shortest path longer than {min_path_length} moves found in "
                     f"{tries} tries; lower min_path (--min-path) or raise size (--size)")


def generate(
    size: int = 30,
    rng: np.random.Generator | None = None,
    min_path_length: int = 110,
    loop_fraction: float = 0.0,
    max_tries: int | None = None,
    style: str = "tree",
    walls: tuple[float, float] = DEFAULT_WALLS,
    unique_path: bool = False,
) -> MazeResult:
    """One maze of the given style (``"tree"``: :func:`generate_tree`, ``"random"``: :func:`generate_random_many`).
    The default stays ``"tree"`` so that older calls ``generate(size, rng, min_path, loops)`` mean what they did."""
    rng = rng if rng is not None else np.random.default_rng()
    if style == "tree":
        return generate_tree(size, rng, min_path_length, loop_fraction, max_tries or 1000, unique_path)
    if style == "random":
        if loop_fraction:
            raise MazeError("loop_fraction applies to tree mazes only")
        return generate_random_many(1, size, rng, min_path_length, walls, max_tries or RANDOM_TRIES, unique_path=unique_path)[0]
    raise MazeError(f"unknown maze style {style!r}; choose one of {', '.join(STYLES)}")


def generate_tree(
    size: int = 30,
    rng: np.random.Generator | None = None,
    min_path_length: int = 110,
    loop_fraction: float = 0.0,
    max_tries: int = 1000,
    unique_path: bool = False,
) -> MazeResult:
    """A random maze with a shortest S->G path of more than ``min_path_length`` moves, labelled by the rule
    (:func:`shortest_path`).

    A perfect maze (a random spanning tree, drawn by randomised depth-first search) is carved on the
    cells with even coordinates; ``loop_fraction`` of the remaining inner walls between two cells are
    then knocked down to make loops. S is drawn at random, G among the cells far enough from S.
    For an even size the lattice stops one short of the last row and column; dead ends are dug into
    them so that they are not always wall. Without loops the path is unique; with loops and ``unique_path``,
    mazes with several shortest paths are redrawn.
    """
    rng = rng if rng is not None else np.random.default_rng()
    check_feasible(size, min_path_length)
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
        if size % 2 == 0:  # odd sizes draw nothing here, so their mazes are as before this step existed
            _dig_edge_dead_ends(grid, rng)
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
        if unique_path and loop_fraction > 0 and count_shortest_paths(grid) != 1:
            continue
        path = shortest_path(grid)
        assert path is not None
        return MazeResult(maze=grid, solution=draw_path(grid, path), path_length=len(path) - 1)
    raise _give_up("tree", size, min_path_length, max_tries)


def _dig_edge_dead_ends(grid: np.ndarray, rng: np.random.Generator) -> None:
    """Even sizes: open the last row/column cell beside each lattice cell of the last lattice row/column
    with probability 1/2. Each is a dead end of one cell, so the maze stays a tree (the corner stays wall,
    as opening it could close a loop)."""
    last = grid.shape[0] - 1
    lattice = np.arange(0, last, 2)
    row_ends = lattice[rng.random(len(lattice)) < 0.5]
    col_ends = lattice[rng.random(len(lattice)) < 0.5]
    grid[last, row_ends] = OPEN
    grid[col_ends, last] = OPEN


# --------------------------------------------------------------------------- random-wall mazes


def generate_random_many(
    count: int,
    size: int = 30,
    rng: np.random.Generator | None = None,
    min_path_length: int = 110,
    walls: tuple[float, float] = DEFAULT_WALLS,
    max_tries: int = RANDOM_TRIES,
    batch: int = 256,
    unique_path: bool = False,
) -> list[MazeResult]:
    """``count`` random-wall mazes (the Maze-Hard style of Lehnert et al. 2024) with a shortest S->G path
    of more than ``min_path_length`` moves.

    Each candidate grid draws a wall density uniformly from ``walls`` and makes every cell a wall with
    that probability; S is a random open cell. Candidates with no open cell farther than
    ``min_path_length`` from S are dropped (BFS compiled by numba, a batch at a time); G is a random
    one of those far cells. The grid stays as drawn and the label is the rule's shortest path
    (:func:`shortest_path`): random walls almost never give a long shortest path that is unique (in 2.2
    million 30x30 grids no cell more than 110 moves from the start had one; benchmarks/puzzles.py).
    With ``unique_path``, ties are instead broken by walling off, one random cell at a time, cells of the
    other shortest paths (the path keeps its length); those walls crowd beside the path, a cue the
    official grids lack.
    ``max_tries`` bounds the candidates drawn between two mazes found.
    """
    rng = rng if rng is not None else np.random.default_rng()
    check_feasible(size, min_path_length)
    lo, hi = walls
    if not 0.0 <= lo <= hi < 1.0:
        raise MazeError(f"wall densities must satisfy 0 <= low <= high < 1, got {lo}, {hi}")
    from hrmkit.puzzles import maze_bfs  # numba: imported only by the random style

    found: list[MazeResult] = []
    tries = 0
    while len(found) < count:
        if tries >= max_tries:
            raise _give_up("random-wall", size, min_path_length, tries)
        density = rng.uniform(lo, hi, size=batch).astype(np.float32)
        u = rng.random((batch, size, size), dtype=np.float32)
        tries += batch
        far, starts = maze_bfs.random_wall_scan(u, density, min_path_length)
        for i in np.flatnonzero(far):
            start = (int(starts[i, 0]), int(starts[i, 1]))
            found.append(_finish_random(u[i] >= density[i], start, min_path_length, rng, unique_path))
            tries = 0
            if len(found) == count:
                break
    return found


def _bfs(passable: np.ndarray, source: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    from hrmkit.puzzles import maze_bfs

    dist, ways = maze_bfs.bfs_many(passable[None], np.array([source]))
    return dist[0], ways[0]


def _finish_random(passable: np.ndarray, start: tuple[int, int], min_path_length: int, rng: np.random.Generator,
                   unique_path: bool) -> MazeResult:
    """Pick G among the cells far enough from S and draw the label: the rule's shortest path, or with
    ``unique_path`` a random one that the other shortest paths are then walled off from."""
    dist, _ = _bfs(passable, start)
    far = np.argwhere(dist > min_path_length)
    goal = tuple(int(v) for v in far[rng.integers(len(far))])
    if unique_path:
        path = _random_shortest_path(dist, goal, rng)
        _break_ties(passable, start, goal, path, rng)
    grid = np.where(passable, OPEN, WALL).astype(np.int8)
    grid[start], grid[goal] = START, GOAL
    solution = label_solution(grid)  # with unique_path, the only shortest path left: the walled one
    return MazeResult(maze=grid, solution=solution, path_length=int(dist[goal]))


def _random_shortest_path(dist: np.ndarray, goal: tuple[int, int], rng: np.random.Generator) -> list[tuple[int, int]]:
    """One shortest path from the BFS source (distance 0) to ``goal``, each step back chosen at random."""
    h, w = dist.shape
    path = [goal]
    r, c = goal
    while dist[r, c] > 0:
        back = [(nr, nc) for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1))
                if 0 <= nr < h and 0 <= nc < w and dist[nr, nc] == dist[r, c] - 1]
        r, c = back[int(rng.integers(len(back)))]
        path.append((r, c))
    return path[::-1]


def _break_ties(passable: np.ndarray, start: tuple[int, int], goal: tuple[int, int], path: list[tuple[int, int]],
                rng: np.random.Generator) -> int:
    """Wall off cells of other shortest paths until ``path`` is the only one; returns the walls added.

    Only cells off ``path`` become walls, so ``path`` survives and no path gets shorter: its length stays
    the shortest. A second shortest path always has a cell off ``path`` (a shortest path has no shortcut,
    so no other path runs through its cells alone), so each round finds a cell to wall.
    """
    on_path = np.zeros(passable.shape, dtype=bool)
    on_path[tuple(np.array(path).T)] = True
    length, added = len(path) - 1, 0
    while True:
        from_start, ways = _bfs(passable, start)
        if ways[goal] == 1:
            return added
        from_goal, _ = _bfs(passable, goal)
        other = (from_start >= 0) & (from_goal >= 0) & (from_start + from_goal == length) & ~on_path
        cells = np.argwhere(other)
        passable[tuple(cells[rng.integers(len(cells))])] = False
        added += 1


def transform(grid: np.ndarray, tid: int) -> np.ndarray:
    """One of the 8 dihedral transforms (maze validity and path lengths are preserved)."""
    return dihedral(grid, tid)
