"""Sudoku: parsing, validation, an exact solver with a difficulty rating, generators and symmetries.

Sizes: 9x9 (3x3 boxes), and the CPU-scale 4x4 (2x2 boxes) and 6x6 (2x3 boxes). A grid is an
``np.ndarray`` of shape (n, n) holding 0 for a blank and 1..n for a digit.

:func:`solve` and :func:`rate` use the compiled search of :mod:`hrmkit.puzzles.sudoku_search`
(naked + hidden singles, fewest-candidates cell first). Its ``backtracks`` count (dead ends met before
the first solution) is the difficulty rating; the paper's Sudoku-Extreme has a mean of 22 backtracks by
tdoku, which propagates a little more. The generator of the ``any``/``easy``/``medium`` levels keeps its
original pure-Python naked-singles search so that datasets built before the rating changed rebuild
bit for bit.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from hrmkit.errors import HrmError

if TYPE_CHECKING:
    from hrmkit.puzzles.sudoku_search import SearchTables  # a type only: the compiled module loads on first use

__all__ = [
    "DIFFICULTIES",
    "SolveResult",
    "SudokuError",
    "SudokuShape",
    "SudokuSymmetry",
    "conflicts",
    "format_grid",
    "generate",
    "is_solution_of",
    "parse",
    "random_symmetries",
    "random_symmetry",
    "rate",
    "shape_for_size",
    "solve",
    "to_string",
    "validate",
]


class SudokuError(HrmError, ValueError):
    """A puzzle text or grid that is not a valid Sudoku; the message names the fault (in one line, as any HrmError)."""


@dataclass(frozen=True)
class SudokuShape:
    box_rows: int
    box_cols: int

    @property
    def n(self) -> int:
        return self.box_rows * self.box_cols

    @property
    def cells(self) -> int:
        return self.n * self.n

    def box_of(self, r: int, c: int) -> int:
        return (r // self.box_rows) * (self.n // self.box_cols) + c // self.box_cols


_SHAPES = {4: SudokuShape(2, 2), 6: SudokuShape(2, 3), 9: SudokuShape(3, 3)}


def shape_for_size(n: int) -> SudokuShape:
    if n not in _SHAPES:
        raise SudokuError(f"unsupported Sudoku size {n}; choose one of {sorted(_SHAPES)}")
    return _SHAPES[n]


# --------------------------------------------------------------------------- text


_CELL_CHARS = frozenset(".0123456789")


def parse(text: str, size: int | None = None) -> np.ndarray:
    """Parse an 81-char (or 16/36-char) string or a grid text; '.' or '0' marks a blank.

    Grid text may contain whitespace, newlines and the separators ``| - +``.
    """
    chars = [ch for ch in text if ch not in " \t\r\n|-+"]
    for pos, ch in enumerate(chars):
        if ch not in _CELL_CHARS:  # not str.isdigit(): it accepts '²' (which int() refuses) and other scripts' digits
            raise SudokuError(f"invalid character {ch!r} at cell {pos + 1}")
    if size is None:
        by_cells = {s * s: s for s in _SHAPES}
        if len(chars) not in by_cells:
            raise SudokuError(f"expected 81 cells (or 16 or 36), got {len(chars)}")
        size = by_cells[len(chars)]
    shape = shape_for_size(size)
    if len(chars) != shape.cells:
        raise SudokuError(f"expected {shape.cells} cells, got {len(chars)}")
    values = [0 if ch == "." else int(ch) for ch in chars]
    for pos, v in enumerate(values):
        if v > size:
            raise SudokuError(f"digit {v} at cell {pos + 1} is out of range 1..{size}")
    return np.array(values, dtype=np.int8).reshape(size, size)


def to_string(grid: np.ndarray) -> str:
    """The one-line form: digits, '.' for blanks."""
    return "".join("." if v == 0 else str(int(v)) for v in np.asarray(grid).ravel())


def format_grid(grid: np.ndarray) -> str:
    """A human-readable grid with box separators."""
    grid = np.asarray(grid)
    shape = shape_for_size(grid.shape[0])
    lines = []
    sep = "-+-".join(["-" * (2 * shape.box_cols - 1)] * (shape.n // shape.box_cols))
    for r in range(shape.n):
        if r and r % shape.box_rows == 0:
            lines.append(sep)
        parts = []
        for c0 in range(0, shape.n, shape.box_cols):
            parts.append(" ".join("." if v == 0 else str(int(v)) for v in grid[r, c0 : c0 + shape.box_cols]))
        lines.append(" | ".join(parts))
    return "\n".join(lines)


_ORDINAL_UNITS = ("row", "column", "box")
_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def conflicts(grid: np.ndarray) -> list[str]:
    """Every rule a grid breaks, e.g. ``"row 3 has two 7s"`` (rows, columns, boxes count from 1)."""
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1]:
        return [f"expected a square grid, got shape {tuple(grid.shape)}"]
    shape = shape_for_size(grid.shape[0])
    out = []
    n = shape.n
    for unit_name, index in zip(_ORDINAL_UNITS, range(3), strict=True):
        for u in range(n):
            if index == 0:
                cells = grid[u, :]
            elif index == 1:
                cells = grid[:, u]
            else:
                r0 = (u // (n // shape.box_cols)) * shape.box_rows
                c0 = (u % (n // shape.box_cols)) * shape.box_cols
                cells = grid[r0 : r0 + shape.box_rows, c0 : c0 + shape.box_cols].ravel()
            counts = np.bincount(cells.astype(np.int64), minlength=n + 1)
            for digit in range(1, n + 1):
                if counts[digit] > 1:
                    out.append(f"{unit_name} {u + 1} has {_COUNT_WORDS.get(counts[digit], counts[digit])} {digit}s")
    return out


def validate(grid: np.ndarray) -> None:
    """Raise :class:`SudokuError` naming the first broken rule."""
    found = conflicts(grid)
    if found:
        raise SudokuError(found[0] if len(found) == 1 else f"{found[0]} (and {len(found) - 1} more faults)")


def is_solution_of(solution: np.ndarray, puzzle: np.ndarray) -> bool:
    """True when ``solution`` is complete, breaks no rule and keeps every given of ``puzzle``."""
    solution, puzzle = np.asarray(solution), np.asarray(puzzle)
    if solution.shape != puzzle.shape or (solution == 0).any():
        return False
    givens = puzzle != 0
    return bool((solution[givens] == puzzle[givens]).all()) and not conflicts(solution)


# --------------------------------------------------------------------------- solver


@functools.cache
def _unit_tables(shape: SudokuShape) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    n = shape.n
    rows = tuple(i // n for i in range(n * n))
    cols = tuple(i % n for i in range(n * n))
    boxes = tuple(shape.box_of(i // n, i % n) for i in range(n * n))
    return rows, cols, boxes


@dataclass
class SolveResult:
    """Solutions found (at most ``limit``), and the search effort.

    ``backtracks``: dead ends met before the first solution (the difficulty rating).
    ``guesses``: branching points visited before the first solution.
    """

    solutions: list[np.ndarray] = field(default_factory=list)
    guesses: int = 0
    backtracks: int = 0

    @property
    def count(self) -> int:
        return len(self.solutions)

    @property
    def unique(self) -> bool:
        return len(self.solutions) == 1


class _Search:
    """Depth-first search on bitmasks with naked singles only (bit d-1 set = digit d used)."""

    def __init__(self, shape: SudokuShape, limit: int, rng: np.random.Generator | None):
        self.n = shape.n
        self.full = (1 << shape.n) - 1
        self.R, self.C, self.B = _unit_tables(shape)
        self.limit = limit
        self.rng = rng
        self.solutions: list[list[int]] = []
        self.guesses = 0
        self.backtracks = 0
        self.first_guesses = -1
        self.first_backtracks = -1

    def run(self, cells: list[int]) -> None:
        n = self.n
        rows, cols, boxes = [0] * n, [0] * n, [0] * n
        for i, v in enumerate(cells):
            if v:
                bit = 1 << (v - 1)
                r, c, b = self.R[i], self.C[i], self.B[i]
                if (rows[r] | cols[c] | boxes[b]) & bit:
                    return  # the givens already clash: no solution
                rows[r] |= bit
                cols[c] |= bit
                boxes[b] |= bit
        empties = [i for i, v in enumerate(cells) if not v]
        self._dfs(cells, rows, cols, boxes, empties)

    def _dfs(self, cells: list[int], rows: list[int], cols: list[int], boxes: list[int], empties: list[int]) -> bool:
        R, C, B, full = self.R, self.C, self.B, self.full
        # Naked-single propagation until nothing changes; remember the most constrained cell.
        while True:
            placed = False
            best_i, best_mask, best_count = -1, 0, 99
            remaining = []
            for i in empties:
                r, c, b = R[i], C[i], B[i]
                mask = full & ~(rows[r] | cols[c] | boxes[b])
                if not mask:
                    self.backtracks += 1
                    return False
                if not mask & (mask - 1):
                    cells[i] = mask.bit_length()
                    rows[r] |= mask
                    cols[c] |= mask
                    boxes[b] |= mask
                    placed = True
                    continue
                remaining.append(i)
                count = mask.bit_count()
                if count < best_count:
                    best_i, best_mask, best_count = i, mask, count
            empties = remaining
            if not placed:
                break
        if best_i < 0:
            self.solutions.append(list(cells))
            if self.first_guesses < 0:
                self.first_guesses, self.first_backtracks = self.guesses, self.backtracks
            return len(self.solutions) >= self.limit
        self.guesses += 1
        bits = []
        mask = best_mask
        while mask:
            bit = mask & -mask
            bits.append(bit)
            mask ^= bit
        if self.rng is not None:
            self.rng.shuffle(bits)
        r, c, b = R[best_i], C[best_i], B[best_i]
        rest = [i for i in empties if i != best_i]
        for bit in bits:
            cells2 = list(cells)
            cells2[best_i] = bit.bit_length()
            rows2, cols2, boxes2 = list(rows), list(cols), list(boxes)
            rows2[r] |= bit
            cols2[c] |= bit
            boxes2[b] |= bit
            if self._dfs(cells2, rows2, cols2, boxes2, rest):
                return True
        return False


def _naked_solve(grid: np.ndarray, limit: int = 2, rng: np.random.Generator | None = None) -> SolveResult:
    """The original pure-Python search (naked singles only): kept for the generator of the easy levels, whose
    datasets must rebuild bit for bit. With ``rng``, digits are tried in a random order."""
    grid = np.asarray(grid)
    shape = shape_for_size(grid.shape[0])
    search = _Search(shape, limit, rng)
    search.run([int(v) for v in grid.ravel()])
    result = SolveResult(
        solutions=[np.array(s, dtype=np.int8).reshape(shape.n, shape.n) for s in search.solutions],
        guesses=max(search.first_guesses, 0) if search.solutions else search.guesses,
        backtracks=max(search.first_backtracks, 0) if search.solutions else search.backtracks,
    )
    return result


def search_tables(shape: SudokuShape) -> SearchTables:
    from hrmkit.puzzles.sudoku_search import tables_for  # numba compiles on first use: import only when needed

    return tables_for(shape.n, shape.box_rows, shape.box_cols)


def solve(grid: np.ndarray, limit: int = 2, rng: np.random.Generator | None = None) -> SolveResult:
    """Find up to ``limit`` solutions (``limit=2`` decides uniqueness) and rate the search effort
    (compiled naked + hidden singles search). With ``rng``, digits are tried in a random order."""
    from hrmkit.puzzles.sudoku_search import random_digit_order, search

    grid = np.asarray(grid)
    shape = shape_for_size(grid.shape[0])
    tables = search_tables(shape)
    order = random_digit_order(rng, tables) if rng is not None else None
    found = np.zeros((max(limit, 1), shape.cells), dtype=np.int8)
    count, _, backtracks, guesses, _ = search(grid.ravel(), tables, limit=limit, order=order, solutions=found)
    solutions = [found[k].reshape(shape.n, shape.n).copy() for k in range(min(count, limit))]
    return SolveResult(solutions=solutions, guesses=guesses, backtracks=backtracks)


def rate(grid: np.ndarray) -> int:
    """Difficulty: backtracks of the naked + hidden singles search before its first solution."""
    return solve(grid, limit=1).backtracks


# --------------------------------------------------------------------------- generator

# Levels. "easy" puzzles fall to naked singles alone (every removal must keep it so); "medium" needs at
# least one guess of the naked-singles search. "hard" (9x9 only: smaller grids fall to naked and hidden singles)
# are random minimal puzzles whose median rating over 8 random symmetric copies (copies_rating) is at least 2:
# about the top 17% of random minimal puzzles (5000 measured). "extreme" puzzles are not found from scratch
# (rarer than 1 in 6000 random ones): they are walks from known hard seeds (hrmkit.puzzles.sudoku_seeds), the way
# the paper's Sudoku-Extreme sources were grown; their number here is that module's MIN_RATING.
DIFFICULTIES: dict[str, int] = {"any": 0, "easy": 0, "medium": 1, "hard": 2, "extreme": 20}
NINE_ONLY = ("hard", "extreme")
RATING_COPIES = 8


def check_difficulty(size: int, difficulty: str) -> None:
    """Refuse settings no puzzle can meet, with what to change."""
    if difficulty not in DIFFICULTIES:
        raise SudokuError(f"unknown difficulty {difficulty!r}; choose one of {list(DIFFICULTIES)}")
    if difficulty in NINE_ONLY and size != 9:
        raise SudokuError(f"{difficulty} needs --size 9: {size}x{size} puzzles fall to naked and hidden singles "
                          "(choose --difficulty any, easy or medium)")


def _level_ok(result: SolveResult, difficulty: str) -> bool:
    if difficulty == "any":
        return True
    if difficulty == "easy":
        return result.guesses == 0
    return result.guesses >= 1  # medium


def generate(
    size: int = 9,
    rng: np.random.Generator | None = None,
    difficulty: str = "hard",
    min_clues: int = 0,
    max_tries: int = 10_000,
) -> tuple[np.ndarray, np.ndarray, SolveResult]:
    """Draw a unique-solution puzzle of at least the given difficulty.

    Clues are removed in random order while the solution stays unique, stopping at ``min_clues``
    (0 = remove until minimal). Returns (puzzle, solution, the search result that decided the level: the
    naked-singles search for any/easy/medium, :func:`solve` for hard/extreme).
    """
    check_difficulty(size, difficulty)
    rng = rng if rng is not None else np.random.default_rng()
    shape = shape_for_size(size)
    if difficulty == "extreme":
        return _generate_extreme(shape, rng, min_clues)
    if difficulty in NINE_ONLY:
        return _generate_rated(shape, rng, DIFFICULTIES[difficulty], min_clues, max_tries)
    empty = np.zeros((shape.n, shape.n), dtype=np.int8)
    for _ in range(max_tries):
        solution = _naked_solve(empty, limit=1, rng=rng).solutions[0]
        puzzle = solution.copy().ravel()
        clues = shape.cells
        for i in rng.permutation(shape.cells):
            if clues <= min_clues:
                break
            keep = puzzle[i]
            puzzle[i] = 0
            check = _naked_solve(puzzle.reshape(shape.n, shape.n), limit=2)
            if check.count == 1 and (difficulty != "easy" or check.guesses == 0):
                clues -= 1
            else:
                puzzle[i] = keep
        grid = puzzle.reshape(shape.n, shape.n)
        rating = _naked_solve(grid, limit=1)
        if _level_ok(rating, difficulty):
            return grid, solution, rating
    raise SudokuError(f"no {difficulty} {size}x{size} puzzle found in {max_tries} tries")


def _generate_rated(shape: SudokuShape, rng: np.random.Generator, level: int, min_clues: int, max_tries: int):
    """Random minimal puzzles (compiled search) until one's median rating over random copies reaches ``level``."""
    from hrmkit.puzzles.sudoku_search import minimise, random_full_grid

    tables = search_tables(shape)
    for _ in range(max_tries):
        solution = random_full_grid(rng, tables)
        puzzle = minimise(solution, rng.permutation(shape.cells), tables, min_clues)
        if copies_rating(puzzle, tables, rng, RATING_COPIES) >= level:
            grid = puzzle.reshape(shape.n, shape.n)
            return grid, solution.reshape(shape.n, shape.n), solve(grid, limit=1)
    raise SudokuError(f"no {shape.n}x{shape.n} puzzle rating {level} found in {max_tries} tries (lower --min-clues?)")


def _generate_extreme(shape: SudokuShape, rng: np.random.Generator, min_clues: int):
    """A walk from a random hard seed, shown under a random symmetry."""
    from hrmkit.puzzles.sudoku_seeds import extreme_puzzle, load_seeds

    if min_clues:
        raise SudokuError(EXTREME_KEEPS_CLUES)
    tables = search_tables(shape)
    puzzle, solution = extreme_puzzle(load_seeds(), tables, rng, copies_rater(tables))
    sym = random_symmetry(shape.n, rng)
    grid, solution = sym.apply(puzzle.reshape(shape.n, shape.n)), sym.apply(solution.reshape(shape.n, shape.n))
    return grid, solution, solve(grid, limit=1)


EXTREME_KEEPS_CLUES = "extreme puzzles keep their seed's clue count (20 to 25): leave --min-clues at 0"


# --------------------------------------------------------------------------- symmetries


@dataclass(frozen=True)
class SudokuSymmetry:
    """A validity-preserving transform: relabel digits, optionally transpose, permute rows and columns.

    ``cell_perm[k]`` is the source cell (flat index) of output cell k; ``digit_map[d]`` the new digit
    for digit d (``digit_map[0] == 0`` keeps blanks blank).
    """

    digit_map: np.ndarray
    cell_perm: np.ndarray

    def apply(self, grid: np.ndarray) -> np.ndarray:
        grid = np.asarray(grid)
        return self.digit_map[grid.reshape(*grid.shape[:-2], -1)[..., self.cell_perm]].reshape(grid.shape)

    def inverse(self) -> SudokuSymmetry:
        return SudokuSymmetry(digit_map=np.argsort(self.digit_map).astype(self.digit_map.dtype),
                              cell_perm=np.argsort(self.cell_perm))


def random_symmetries(size: int, rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` random symmetries at once: digit maps [count, n+1] and cell permutations [count, n*n].

    The augmentation of the HRM reference: digit permutation, transpose (p=0.5, square boxes only),
    band and row-in-band permutation, stack and column-in-stack permutation.
    """
    shape = shape_for_size(size)
    n, br, bc = shape.n, shape.box_rows, shape.box_cols
    digit_maps = np.concatenate([np.zeros((count, 1), dtype=np.int8),
                                 (np.argsort(rng.random((count, n)), axis=1) + 1).astype(np.int8)], axis=1)

    def line_order(box: int) -> np.ndarray:
        groups = np.argsort(rng.random((count, n // box)), axis=1)
        within = np.argsort(rng.random((count, n // box, box)), axis=2)
        return (groups[:, :, None] * box + within).reshape(count, n)

    rows, cols = line_order(br), line_order(bc)
    index = np.arange(n * n).reshape(n, n)
    # Transposing maps boxes to boxes only when they are square.
    transpose = (rng.random(count) < 0.5) & (br == bc)
    base = np.where(transpose[:, None, None], index.T[None], index[None])
    cell_perms = base[np.arange(count)[:, None, None], rows[:, :, None], cols[:, None, :]].reshape(count, n * n)
    return digit_maps, cell_perms


def copies_rating(puzzle: np.ndarray, tables: SearchTables, rng: np.random.Generator, copies: int = 8) -> float:
    """Median backtracks over ``copies`` random symmetric copies of a flat puzzle (relabelled digits,
    permuted rows/columns within bands/stacks, bands, stacks, maybe transposed).

    Why: the count of one search depends a lot on its cell and digit order (the Inkala puzzle needs 4 to
    328 over 20 copies), so a level chosen on one order would be partly luck of that order; the median
    over copies is what any naked + hidden singles search can expect."""
    from hrmkit.puzzles.sudoku_search import median_rating

    digit_maps, cell_perms = random_symmetries(tables.n, rng, copies)
    return median_rating(puzzle, tables, digit_maps, cell_perms)


def copies_rater(tables: SearchTables, copies: int = RATING_COPIES) -> Callable[[np.ndarray, np.random.Generator], float]:
    """:func:`copies_rating` as a function of (puzzle, generator), the rater the seed walks take (``sudoku_seeds``)."""
    return lambda puzzle, rng: copies_rating(puzzle, tables, rng, copies)


def random_symmetry(size: int, rng: np.random.Generator) -> SudokuSymmetry:
    """One random symmetry (see :func:`random_symmetries`)."""
    digit_maps, cell_perms = random_symmetries(size, rng, 1)
    return SudokuSymmetry(digit_map=digit_maps[0], cell_perm=cell_perms[0])
