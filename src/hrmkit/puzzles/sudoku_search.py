"""Compiled Sudoku search (numba): exact solving, uniqueness, difficulty rating and puzzle minimisation.

Why numba: generating *extreme* puzzles means rejecting or climbing through thousands of candidates, each
checked for uniqueness after every clue removal; the pure-Python search costs milliseconds per check, this
one microseconds. numba compiles on first use (a few seconds, cached on disk afterwards).

The search works on candidate bitmasks (bit d-1 set = digit d still possible) and propagates

- naked singles: a cell with one candidate removes it from its 20 peers;
- hidden singles: a digit with one possible place in a row, column or box goes there;

then branches on the unsolved cell with the fewest candidates (first such cell in reading order), trying
digits in increasing order (or in a given random order when drawing full grids). A *backtrack* is a
contradiction met before the first solution; that count is the difficulty rating (the paper's Sudoku-Extreme
has a mean of 22 backtracks by tdoku, which propagates a little more than this search).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

__all__ = ["SearchTables", "canonical_form", "canonical_grid", "median_rating", "minimise", "random_digit_order", "random_full_grid",
           "search", "tables_for"]


class SearchTables:
    """Peers and units of one Sudoku shape, as arrays for the compiled kernels."""

    def __init__(self, n: int, box_rows: int, box_cols: int):
        cells = n * n
        units = []
        for r in range(n):
            units.append([r * n + c for c in range(n)])
        for c in range(n):
            units.append([r * n + c for r in range(n)])
        for br in range(0, n, box_rows):
            for bc in range(0, n, box_cols):
                units.append([(br + i) * n + bc + j for i in range(box_rows) for j in range(box_cols)])
        peers = []
        for i in range(cells):
            p = sorted({j for u in units if i in u for j in u if j != i})
            peers.append(p)
        self.n = n
        self.units = np.array(units, dtype=np.int64)
        self.peers = np.array(peers, dtype=np.int64)
        self.popcount = np.array([bin(m).count("1") for m in range(1 << n)], dtype=np.int64)


@functools.cache
def tables_for(n: int, box_rows: int, box_cols: int) -> SearchTables:
    return SearchTables(n, box_rows, box_cols)


@njit(cache=True)
def _propagate(cand, peers, units, popcount, full, hidden):
    """Apply naked (and hidden) singles until nothing changes; False on a contradiction."""
    ncell = cand.shape[0]
    changed = True
    while changed:
        changed = False
        for i in range(ncell):
            m = cand[i]
            if m == 0:
                return False
            if popcount[m] != 1:
                continue
            for k in range(peers.shape[1]):
                p = peers[i, k]
                if cand[p] & m:
                    if cand[p] == m:
                        return False  # two peers hold the same single
                    cand[p] &= ~m
                    changed = True
        if not hidden:
            continue
        for u in range(units.shape[0]):
            once = 0
            twice = 0
            for k in range(units.shape[1]):
                m = cand[units[u, k]]
                twice |= once & m
                once |= m
            if once != full:
                return False  # a digit has no place left in this unit
            single = once & ~twice
            if single == 0:
                continue
            for k in range(units.shape[1]):
                c = units[u, k]
                m = cand[c] & single
                if m and cand[c] != m:
                    if popcount[m] != 1:
                        return False  # one cell is the only place for two digits
                    cand[c] = m
                    changed = True
    return True


@njit(cache=True)
def _choose(cand, popcount):
    """The unsolved cell with the fewest candidates (-1 when every cell is solved)."""
    best = -1
    best_count = 99
    for i in range(cand.shape[0]):
        c = popcount[cand[i]]
        if 1 < c < best_count:
            best = i
            best_count = c
            if c == 2:
                break
    return best


@njit(cache=True)
def _decode(cand, out):
    """Digits of a fully solved candidate grid (one bit per cell)."""
    for i in range(cand.shape[0]):
        m = cand[i]
        d = 0
        while m:
            m >>= 1
            d += 1
        out[i] = d


@njit(cache=True)
def _search(givens, peers, units, popcount, n, limit, hidden, order, max_nodes, found):
    """Depth-first search. Returns (solutions found, first solution, backtracks, guesses before it, nodes).

    ``order[cell]`` lists digits in the order to try them (a row of zeros = increasing order).
    ``max_nodes`` > 0 stops the search after that many propagations (nodes = -1 then).
    ``found`` [k, cells] receives the first k solutions (pass a [0, cells] array when only counts matter).
    """
    ncell = givens.shape[0]
    full = (1 << n) - 1
    cand = np.empty(ncell, dtype=np.int64)
    for i in range(ncell):
        cand[i] = full if givens[i] == 0 else 1 << (givens[i] - 1)
    first = np.zeros(ncell, dtype=np.int8)
    nsol = 0
    backtracks = 0
    guesses = 0
    first_bt = -1
    first_g = -1
    nodes = 1
    if not _propagate(cand, peers, units, popcount, full, hidden):
        return 0, first, 1, 0, nodes
    cell = _choose(cand, popcount)
    if cell < 0:
        _decode(cand, first)
        if found.shape[0] > 0:
            found[0] = first
        return 1, first, 0, 0, nodes
    stack_cand = np.empty((ncell + 1, ncell), dtype=np.int64)
    stack_cell = np.empty(ncell + 1, dtype=np.int64)
    stack_next = np.zeros(ncell + 1, dtype=np.int64)
    depth = 0
    stack_cand[0] = cand
    stack_cell[0] = cell
    stack_next[0] = 0
    guesses = 1
    while depth >= 0:
        c = stack_cell[depth]
        mask = stack_cand[depth, c]
        k = stack_next[depth]
        bit = 0
        while k < n:
            d = order[c, k] if order[c, 0] > 0 else k + 1
            k += 1
            if mask & (1 << (d - 1)):
                bit = 1 << (d - 1)
                break
        stack_next[depth] = k
        if bit == 0:
            depth -= 1
            continue
        cand = stack_cand[depth].copy()
        cand[c] = bit
        nodes += 1
        if max_nodes > 0 and nodes > max_nodes:
            return nsol, first, backtracks, guesses, -1
        if not _propagate(cand, peers, units, popcount, full, hidden):
            backtracks += 1
            continue
        cell = _choose(cand, popcount)
        if cell < 0:
            nsol += 1
            if nsol == 1:
                first_bt = backtracks
                first_g = guesses
                _decode(cand, first)
            if nsol <= found.shape[0]:
                _decode(cand, found[nsol - 1])
            if nsol >= limit:
                break
            continue
        guesses += 1
        depth += 1
        stack_cand[depth] = cand
        stack_cell[depth] = cell
        stack_next[depth] = 0
    if nsol == 0:
        return 0, first, backtracks, guesses, nodes
    return nsol, first, first_bt, first_g, nodes


@njit(cache=True)
def _minimise(solution, removal_order, peers, units, popcount, n, min_clues, hidden):
    """Remove clues in the given order while the puzzle keeps a unique solution (down to ``min_clues``)."""
    puzzle = solution.copy()
    clues = puzzle.shape[0]
    order = np.zeros((puzzle.shape[0], n), dtype=np.int64)
    for i in removal_order:
        if clues <= min_clues:
            break
        keep = puzzle[i]
        puzzle[i] = 0
        nsol, _, _, _, _ = _search(puzzle, peers, units, popcount, n, 2, hidden, order, 0, np.empty((0, puzzle.shape[0]), dtype=np.int8))
        if nsol == 1:
            clues -= 1
        else:
            puzzle[i] = keep
    return puzzle


def search(givens: np.ndarray, tables: SearchTables, limit: int = 2, hidden: bool = True,
           order: np.ndarray | None = None, max_nodes: int = 0,
           solutions: np.ndarray | None = None) -> tuple[int, np.ndarray, int, int, int]:
    """Solve a flat int8 grid (0 = blank). Returns (solution count up to ``limit``, first solution,
    backtracks and guesses before the first solution, nodes visited or -1 when ``max_nodes`` ran out).
    ``solutions`` [k, cells], when given, receives the first k solutions."""
    if order is None:
        order = np.zeros((givens.size, tables.n), dtype=np.int64)
    if solutions is None:
        solutions = np.empty((0, givens.size), dtype=np.int8)
    return _search(np.ascontiguousarray(givens, dtype=np.int8), tables.peers, tables.units, tables.popcount,
                   tables.n, limit, hidden, order, max_nodes, solutions)


def minimise(solution: np.ndarray, removal_order: np.ndarray, tables: SearchTables, min_clues: int = 0) -> np.ndarray:
    """A puzzle with a unique solution, made from a full grid by removing clues in ``removal_order``."""
    return _minimise(np.ascontiguousarray(solution, dtype=np.int8), np.asarray(removal_order, dtype=np.int64),
                     tables.peers, tables.units, tables.popcount, tables.n, min_clues, True)


# --------------------------------------------------------------------------- ratings over symmetric copies


@njit(cache=True)
def _ratings(puzzle, digit_maps, cell_perms, peers, units, popcount, n, max_nodes):
    """Backtracks of the search on several relabelled/permuted copies of the puzzle: the count of one
    search depends a lot on its cell and digit order, their median much less (1e9 where a search ran
    out of nodes)."""
    k = digit_maps.shape[0]
    values = np.empty(k, dtype=np.float64)
    order = np.zeros((puzzle.shape[0], n), dtype=np.int64)
    none = np.empty((0, puzzle.shape[0]), dtype=np.int8)
    for r in range(k):
        q = np.empty_like(puzzle)
        for i in range(puzzle.shape[0]):
            q[i] = digit_maps[r, puzzle[cell_perms[r, i]]]
        _nsol, _, bt, _, nodes = _search(q, peers, units, popcount, n, 1, True, order, max_nodes, none)
        values[r] = bt if nodes >= 0 else 1e9
    return values


def random_digit_order(rng: np.random.Generator, tables: SearchTables) -> np.ndarray:
    """A random order of the digits for every cell (the ``order`` argument of :func:`search`)."""
    return (np.argsort(rng.random((tables.n * tables.n, tables.n)), axis=1) + 1).astype(np.int64)


def random_full_grid(rng: np.random.Generator, tables: SearchTables) -> np.ndarray:
    """A full grid from a search that tries digits in a random order in every cell."""
    return search(np.zeros(tables.n * tables.n, dtype=np.int8), tables, limit=1, order=random_digit_order(rng, tables))[1]


def median_rating(puzzle: np.ndarray, tables: SearchTables, digit_maps: np.ndarray, cell_perms: np.ndarray) -> float:
    """Median backtracks over symmetric copies of a flat puzzle: copy k relabels digits by ``digit_maps[k]`` and moves
    cells by ``cell_perms[k]`` (``hrmkit.puzzles.sudoku.random_symmetries`` draws them)."""
    values = _ratings(np.ascontiguousarray(puzzle, dtype=np.int8), digit_maps.astype(np.int8), cell_perms.astype(np.int64),
                      tables.peers, tables.units, tables.popcount, tables.n, 0)
    return float(np.median(values))


# --------------------------------------------------------------------------- equality up to symmetry (9x9)

# The 6 orders of 3 things: rows within a band, bands, stacks, columns within a stack.
ORDERS3 = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]], dtype=np.int64)


@njit(cache=True)
def _try_arrangement(g, rows, cols, best, labels, stop):
    """Compare grid ``g`` read in the arrangement rows x cols (digits relabelled in order of first appearance)
    with ``best`` on its first ``stop`` cells; overwrite ``best`` there when the arrangement is smaller. Returns
    -1 (smaller), 0 (equal) or 1 (greater, stopped at the first greater cell)."""
    labels[:] = 0
    nxt = 1
    less = False
    for k in range(stop):
        v = g[rows[k // 9] * 9 + cols[k % 9]]
        if v:
            if labels[v] == 0:
                labels[v] = nxt
                nxt += 1
            v = labels[v]
        if less:
            best[k] = v
        elif v < best[k]:
            less = True
            best[k] = v
        elif v > best[k]:
            return 1
    return -1 if less else 0


@njit(cache=True)
def _canonical(grid, orders):
    """The smallest relabelled reading of a flat 9x9 grid over all 2 x 6^8 arrangements (transpose, band order,
    rows within bands, stack order, columns within stacks). The first band is chosen before the others so that
    an arrangement whose first 27 cells already read greater is dropped with its 72 completions."""
    best = np.full(81, 127, dtype=np.int8)
    labels = np.zeros(10, dtype=np.int8)
    rows = np.zeros(9, dtype=np.int64)
    cols = np.zeros(9, dtype=np.int64)
    g = np.empty(81, dtype=np.int8)
    prefix = np.empty(81, dtype=np.int8)
    for t in range(2):
        for i in range(81):
            g[i] = grid[i] if t == 0 else grid[(i % 9) * 9 + i // 9]
        for b0 in range(3):
            for p0 in range(6):
                for j in range(3):
                    rows[j] = b0 * 3 + orders[p0, j]
                for s in range(6):
                    for c0 in range(6):
                        for c1 in range(6):
                            for c2 in range(6):
                                cp = (c0, c1, c2)
                                for j in range(3):
                                    stack = orders[s, j]
                                    for m in range(3):
                                        cols[j * 3 + m] = stack * 3 + orders[cp[j], m]
                                # The first band alone, on a copy: greater there means greater throughout.
                                prefix[:27] = best[:27]
                                if _try_arrangement(g, rows, cols, prefix, labels, 27) > 0:
                                    continue
                                for other in range(2):
                                    b1 = (b0 + 1 + other) % 3
                                    b2 = (b0 + 2 - other) % 3
                                    for p1 in range(6):
                                        for p2 in range(6):
                                            for j in range(3):
                                                rows[3 + j] = b1 * 3 + orders[p1, j]
                                                rows[6 + j] = b2 * 3 + orders[p2, j]
                                            _try_arrangement(g, rows, cols, best, labels, 81)
    return best


def canonical_grid(grid: np.ndarray) -> np.ndarray:
    """The canonical symmetric copy of a 9x9 grid (flat int8): equal for two grids exactly when one is a symmetric copy
    of the other (digit relabelling, band/row/stack/column permutations, transpose). It is the smallest reading over
    every arrangement with digits relabelled in order of first appearance (about a millisecond)."""
    return _canonical(np.ascontiguousarray(np.asarray(grid).ravel(), dtype=np.int8), ORDERS3)


def canonical_form(grid: np.ndarray) -> bytes:
    """:func:`canonical_grid` as a hashable key."""
    return canonical_grid(grid).tobytes()
