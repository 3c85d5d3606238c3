"""Extreme Sudoku from hard seeds: the seed list, equality up to symmetry, seed families, walks and the build."""

import numpy as np
import pytest

from hrmkit.puzzles import sudoku as S
from hrmkit.puzzles import sudoku_seeds as K
from hrmkit.puzzles.sudoku_search import canonical_form, search
from hrmkit.tasks.sudoku import TASK, SudokuBuild, decode
from tests.sudoku_reference_rater import Rater

TABLES = S.search_tables(S.shape_for_size(9))


def test_seed_list_ships_376_unique_minimal_puzzles():
    seeds = K.load_seeds()
    assert seeds.shape == (376, 81)
    assert all(search(s, TABLES, limit=2)[0] == 1 for s in seeds)
    assert len({canonical_form(s) for s in seeds}) == 376  # no seed is a symmetric copy of another


def test_canonical_form_is_the_same_for_symmetric_copies_and_differs_otherwise():
    rng = np.random.default_rng(0)
    seeds = K.load_seeds()
    for s in seeds[:5]:
        for _ in range(4):
            assert canonical_form(S.random_symmetry(9, rng).apply(s.reshape(9, 9))) == canonical_form(s)
    for s, moved in _moves(rng, 3):
        assert canonical_form(moved) != canonical_form(s)


def _moves(rng: np.random.Generator, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(seed, a move from it) for the first ``count`` seeds that allow a move (some allow none that stays hard)."""
    out = []
    for s in K.load_seeds():
        moved = K.walk_move(s, TABLES, rng, S.copies_rater(TABLES))
        if moved is not None:
            out.append((s, moved))
        if len(out) == count:
            return out
    raise AssertionError("too few seeds allow a move")


def test_families_join_close_seeds_and_sides_are_disjoint():
    seeds, family = K.load_seeds(), K.families()
    distance = (seeds[:, None] != seeds[None]).sum(axis=2)
    close = np.nonzero(distance <= K.FAMILY_CELLS)
    assert (family[close[0]] == family[close[1]]).all()
    assert family.max() + 1 == 234  # the count the data card reports, by the rule above
    on_test = K.on_test_side(0)
    assert not set(family[on_test]) & set(family[~on_test])
    assert 150 < on_test.sum() < 226


def test_a_move_keeps_the_puzzle_unique_with_its_clue_count_and_changes_two_cells():
    rng = np.random.default_rng(1)
    for s, moved in _moves(rng, 5):
        assert search(moved, TABLES, limit=2)[0] == 1
        assert (moved != 0).sum() == (s != 0).sum() and (moved != s).sum() == 2


def _small_build(seed: int = 0, workers: int = 1, share: float = 0.0):
    cfg = SudokuBuild(train=20, test=20, num_aug=0, difficulty="extreme", random_minimal_share=share, seed=seed)
    return TASK.build(cfg, workers=workers, progress=False)


def _puzzles(split) -> list[np.ndarray]:
    return [decode(row, 9) for row in split.inputs]


def test_extreme_build_is_hard_by_the_independent_rater_and_leak_free():
    data = _small_build()
    train, test = _puzzles(data.splits["train"]), _puzzles(data.splits["test"])
    labels = [decode(row, 9) for row in data.splits["test"].labels]
    assert all(S.is_solution_of(sol, p) and S.solve(p).unique for p, sol in zip(test, labels))
    rater = Rater()
    assert np.median([rater.rate(p)[0] for p in train + test]) >= 20
    assert not {canonical_form(p) for p in train} & {canonical_form(p) for p in test}
    assert len({canonical_form(p) for p in train}) == 20
    assert data.stats["source"]["seeds"]["families"] == 234


def test_extreme_build_mixes_the_asked_share_and_rates_each_source_on_the_card():
    data = _small_build(share=0.25)
    difficulty = data.stats["difficulty"]
    assert difficulty["sources"] == {"train": {"random_minimal": 5, "seed_walk": 15}, "test": {"random_minimal": 5, "seed_walk": 15}}
    by_source = difficulty["by_source"]["test"]
    assert by_source["seed_walk"]["median_of_8_copies"]["median"] > by_source["random_minimal"]["median_of_8_copies"]["median"]


def test_extreme_build_is_deterministic_whatever_the_workers():
    a, b = _small_build(seed=3, workers=1), _small_build(seed=3, workers=2)
    for split in ("train", "test"):
        assert np.array_equal(a.splits[split].inputs, b.splits[split].inputs)


def test_extreme_settings_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="keep their seed's clue count"):
        SudokuBuild(difficulty="extreme", min_clues=22)
    with pytest.raises(ValueError, match="extreme only"):
        SudokuBuild(difficulty="hard", random_minimal_share=0.2)
