"""An independent difficulty rater for tests: a plain recursive search written separately from
hrmkit.puzzles.sudoku_search (sets instead of bitmasks, its own propagation loop, ties broken by the
last cell by default), which propagates naked and hidden singles and counts dead ends. With
``ties="first"`` it visits the same search tree as the compiled search, so the counts must agree."""

from __future__ import annotations

import numpy as np


def _units(n: int, br: int, bc: int) -> list[list[int]]:
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = [[(r0 + i) * n + c0 + j for i in range(br) for j in range(bc)] for r0 in range(0, n, br) for c0 in range(0, n, bc)]
    return rows + cols + boxes


class Rater:
    def __init__(self, n: int = 9, box_rows: int = 3, box_cols: int = 3, ties: str = "last"):
        self.n, self.ties = n, ties
        self.units = _units(n, box_rows, box_cols)
        self.peers = [sorted({j for u in self.units if i in u for j in u} - {i}) for i in range(n * n)]
        self.dead_ends = 0
        self.solutions: list[list[int]] = []

    def _propagate(self, cand: list[set[int]]) -> bool:
        while True:
            changed = False
            for i, s in enumerate(cand):
                if not s:
                    return False
                if len(s) == 1:
                    d = next(iter(s))
                    for p in self.peers[i]:
                        if d in cand[p]:
                            cand[p] = cand[p] - {d}
                            changed = True
                            if not cand[p]:
                                return False
            for unit in self.units:
                for d in range(1, self.n + 1):
                    places = [i for i in unit if d in cand[i]]
                    if not places:
                        return False
                    if len(places) == 1 and len(cand[places[0]]) > 1:
                        cand[places[0]] = {d}
                        changed = True
            if not changed:
                return True

    def _search(self, cand: list[set[int]], limit: int) -> None:
        if not self._propagate(cand):
            if not self.solutions:
                self.dead_ends += 1
            return
        open_cells = [i for i, s in enumerate(cand) if len(s) > 1]
        if not open_cells:
            self.solutions.append([next(iter(s)) for s in cand])
            return
        fewest = min(len(cand[i]) for i in open_cells)
        tied = [i for i in open_cells if len(cand[i]) == fewest]
        cell = tied[0] if self.ties == "first" else tied[-1]
        for d in sorted(cand[cell]):
            if len(self.solutions) >= limit:
                return
            branch = [set(s) for s in cand]
            branch[cell] = {d}
            self._search(branch, limit)

    def rate(self, puzzle: np.ndarray, limit: int = 1) -> tuple[int, int]:
        """(dead ends before the first solution, solutions found up to ``limit``)."""
        full = set(range(1, self.n + 1))
        cand = [({int(v)} if v else set(full)) for v in np.asarray(puzzle).ravel()]
        self.dead_ends, self.solutions = 0, []
        self._search(cand, limit)
        return self.dead_ends, len(self.solutions)
