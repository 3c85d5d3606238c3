"""Sudoku (4x4, 6x6 with 2x3 boxes, 9x9): generated locally or imported from the official
Sudoku-Extreme CSV files, augmented as the HRM reference does.

Tokens: 0 padding, 1 blank, 2..n+1 the digits 1..n (vocab 11 for 9x9, as the reference).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator
from tqdm import tqdm

from hrmkit.data.codec import grid_decode, grid_encode
from hrmkit.data.format import DatasetError, DatasetMetadata
from hrmkit.data.splits import (
    CHUNK,
    Generated,
    assemble,
    csv_fingerprints,
    csv_rows_at_most,
    difficulty_summary,
    generate_unique,
    read_csv,
    subsample,
    train_and_test,
)
from hrmkit.errors import HrmError
from hrmkit.puzzles import sudoku as sudoku_lib
from hrmkit.puzzles import sudoku_seeds
from hrmkit.puzzles.sudoku_search import canonical_grid, minimise, random_full_grid, search
from hrmkit.tasks import register_task
from hrmkit.tasks.base import BuildConfig, Task, TaskData


class SudokuBuild(BuildConfig):
    task: Literal["sudoku"] = "sudoku"
    size: Literal[4, 6, 9] = Field(9, description="grid side")
    num_aug: int = Field(0, ge=0, description="augmented variants per training puzzle")
    difficulty: Literal["any", "easy", "medium", "hard", "extreme"] = Field("hard", description="generated puzzles: the search effort they need")
    min_clues: int = Field(0, ge=0, description="stop removing clues at this many")
    csv_dir: str | None = Field(None, description="import train.csv/test.csv (source,question,answer,rating)")
    min_rating: int | None = Field(None, description="CSV import: keep rows with rating >= this")
    random_minimal_share: float = Field(0.0, ge=0, le=1, description="--difficulty extreme: share of random minimal "
                                        "puzzles mixed in (the paper's training set: about 0.26)")

    @field_validator("min_clues")
    @classmethod
    def _clues_fit_size(cls, min_clues: int, info: Any) -> int:
        cells = info.data.get("size", 9) ** 2
        if min_clues and info.data.get("difficulty") == "extreme":
            raise ValueError(sudoku_lib.EXTREME_KEEPS_CLUES)
        if min_clues >= cells:  # no clue would be removed: every "puzzle" would be its own solution
            raise ValueError(f"must be below the {cells} cells of a {info.data.get('size', 9)}x{info.data.get('size', 9)} grid")
        return min_clues

    @field_validator("random_minimal_share")
    @classmethod
    def _share_needs_extreme(cls, share: float, info: Any) -> float:
        if share and info.data.get("difficulty") != "extreme":
            raise ValueError("mixes random minimal puzzles into --difficulty extreme only")
        return share

    @field_validator("difficulty")
    @classmethod
    def _difficulty_fits_size(cls, difficulty: str, info: Any) -> str:
        try:
            sudoku_lib.check_difficulty(info.data.get("size", 9), difficulty)
        except sudoku_lib.SudokuError as e:
            raise ValueError(str(e)) from None
        return difficulty


def vocab(n: int) -> list[str]:
    return ["<pad>", "."] + [str(d) for d in range(1, n + 1)]


def decode(tokens: np.ndarray, n: int) -> np.ndarray:
    """Tokens -> digits; padding (0) decodes as a blank."""
    return grid_decode(tokens, (n, n), 0, n)


def label_faults(inputs: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Vectorised: for each example, True when the label is not a solution of the input."""
    shape = sudoku_lib.shape_for_size(n)
    box_rows, box_cols = shape.box_rows, shape.box_cols
    puzzles = decode(inputs, n).astype(np.int16)
    sols = decode(labels, n).astype(np.int16)
    bad = (sols == 0).any(axis=(1, 2))
    givens = puzzles != 0
    bad |= ((puzzles != sols) & givens).any(axis=(1, 2))
    expected = np.arange(1, n + 1)
    rows_ok = (np.sort(sols, axis=2) == expected).all(axis=(1, 2))
    cols_ok = (np.sort(sols, axis=1) == expected[:, None]).all(axis=(1, 2))
    boxes = sols.reshape(-1, n // box_rows, box_rows, n // box_cols, box_cols).transpose(0, 1, 3, 2, 4).reshape(-1, n, n)
    boxes_ok = (np.sort(boxes, axis=2) == expected).all(axis=(1, 2))
    return bad | ~rows_ok | ~cols_ok | ~boxes_ok


def _generate_chunk(args: tuple[SudokuBuild, int]) -> list[Generated]:
    cfg, chunk = args
    rng = np.random.default_rng([cfg.seed, chunk])
    out = []
    for _ in range(CHUNK):
        puzzle, solution, rating = sudoku_lib.generate(cfg.size, rng, cfg.difficulty, cfg.min_clues)
        out.append((puzzle, solution, rating.backtracks))
    return out


def _is_random_minimal(index: int, share: float) -> bool:
    """Whether puzzle ``index`` of a split is a random minimal one: spread evenly, exactly ``share`` of every prefix
    (rounded down)."""
    return int((index + 1) * share) > int(index * share)


SOURCES = ("seed_walk", "random_minimal")


def _extreme_chunk(args: tuple[tuple[SudokuBuild, str, str], int]) -> list[Any]:
    """CHUNK puzzles of one source for one side (train or test): walks from that side's seed families, or random minimal
    puzzles. Items are (canonical puzzle, solution, backtracks, source), so duplicates up to symmetry drop out."""
    (cfg, side, source), chunk = args
    rng = np.random.default_rng([cfg.seed, 7, SIDES.index(side), SOURCES.index(source), chunk])
    tables = sudoku_lib.search_tables(sudoku_lib.shape_for_size(9))
    on_test = sudoku_seeds.on_test_side(cfg.seed)
    starts = sudoku_seeds.load_seeds()[on_test if side == "test" else ~on_test]
    out = []
    for _ in range(CHUNK):
        if source == "random_minimal":
            solution = random_full_grid(rng, tables)
            puzzle = canonical_grid(minimise(solution, rng.permutation(81), tables))
            solution = search(puzzle, tables, limit=1)[1]
        else:
            puzzle, solution = sudoku_seeds.extreme_puzzle(starts, tables, rng, sudoku_lib.copies_rater(tables))
        out.append((puzzle.reshape(9, 9), solution.reshape(9, 9), sudoku_lib.rate(puzzle.reshape(9, 9)), source))
    return out


def _extreme_side(cfg: SudokuBuild, side: str, count: int, left_out: set[bytes], workers: int, progress: bool) -> list[Any]:
    """``count`` distinct puzzles of one side, exactly ``random_minimal_share`` of them (rounded down) random minimal
    ones, spread evenly; none equal up to symmetry to one of ``left_out`` (canonical bytes) or to each other."""
    n_random = int(count * cfg.random_minimal_share)
    pools: dict[str, list[Any]] = {}
    taken = set(left_out)
    for source, n in (("seed_walk", count - n_random), ("random_minimal", n_random)):
        items: list[Any] = []
        extra = n // 50 + 1 if taken else 0  # a margin for the few left out, so that one draw is usually enough
        while len(items) < n:  # generate_unique gives the same prefix for a larger count: the loop only adds
            drawn = generate_unique(_extreme_chunk, (cfg, side, source), n + extra, workers, f"sudoku extreme ({side}, {source})",
                                    progress)
            items = [item for item in drawn if item[0].tobytes() not in taken][:n]
            extra += n - len(items)
        taken |= {item[0].tobytes() for item in items}
        pools[source] = items
    walks, randoms = iter(pools["seed_walk"]), iter(pools["random_minimal"])
    return [next(randoms) if _is_random_minimal(i, cfg.random_minimal_share) else next(walks) for i in range(count)]


def _extreme_splits(cfg: SudokuBuild, workers: int, progress: bool) -> tuple[list[Generated], list[Generated], list[str], list[str]]:
    """(train, test, train sources, test sources): test and train walks from disjoint seed families; no train puzzle
    equals a test puzzle up to symmetry. Each puzzle is shown under a random symmetry (its canonical arrangement would
    teach one reading order)."""
    test = _extreme_side(cfg, "test", cfg.test, set(), workers, progress)
    train = _extreme_side(cfg, "train", cfg.train, {p.tobytes() for p, *_ in test}, workers, progress)
    rng = np.random.default_rng([cfg.seed, 8])

    def shown(items: list[Any]) -> list[Generated]:
        out = []
        for puzzle, solution, backtracks, _ in items:
            sym = sudoku_lib.random_symmetry(9, rng)
            out.append((sym.apply(puzzle), sym.apply(solution), backtracks))
        return out

    return shown(train), shown(test), [item[3] for item in train], [item[3] for item in test]


def _ratings_by_source(items: list[Generated], sources: list[str], rng: np.random.Generator) -> dict[str, Any]:
    return {name: _card_ratings([it for it, s in zip(items, sources) if s == name], 2000, rng) for name in sorted(set(sources))}


SIDES = ("train", "test")


def _card_ratings(items: list[Generated], sample: int, rng: np.random.Generator) -> dict[str, Any]:
    """The difficulty of at most ``sample`` puzzles for the data card: one search as the puzzle is written, and
    the median over random symmetric copies (9x9)."""
    picked = items if len(items) <= sample else [items[i] for i in rng.choice(len(items), sample, replace=False)]
    out: dict[str, Any] = {"as_written": difficulty_summary([sudoku_lib.rate(p) for p, _, _ in picked])}
    if picked and picked[0][0].shape[0] == 9:
        tables = sudoku_lib.search_tables(sudoku_lib.shape_for_size(9))
        out[f"median_of_{sudoku_lib.RATING_COPIES}_copies"] = difficulty_summary(
            [sudoku_lib.copies_rating(p.ravel(), tables, rng, sudoku_lib.RATING_COPIES) for p, _, _ in picked])
    return out


def _import_csv(cfg: SudokuBuild, split: str, limit: int, rng: np.random.Generator) -> list[Generated]:
    path = Path(cfg.csv_dir or "") / f"{split}.csv"
    out = []
    rows = read_csv(path)
    for line, row in enumerate(rows, start=2):
        rating = _rating(row.get("rating"), path, line)
        if cfg.min_rating is not None and rating < cfg.min_rating:
            continue
        try:  # a short row has None for its missing cells
            puzzle, answer = sudoku_lib.parse(row["question"] or ""), sudoku_lib.parse(row["answer"] or "")
        except sudoku_lib.SudokuError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
        if puzzle.shape[0] != cfg.size:
            raise DatasetError(f"{path}:{line}: a {puzzle.shape[0]}x{puzzle.shape[0]} Sudoku in a {cfg.size}x{cfg.size} build "
                               f"(give --size {puzzle.shape[0]})")
        if not sudoku_lib.is_solution_of(answer, puzzle):
            raise DatasetError(f"{path}:{line}: the answer does not solve the question")
        out.append((puzzle, answer, rating))
    if not out:  # read_csv refuses a file without rows: here every row was filtered away
        raise DatasetError(f"none of the {len(rows)} rows of {path} is rated at least {cfg.min_rating} (--min-rating)")
    return subsample(out, limit, rng)


def _rating(text: str | None, path: Path, line: int) -> int:
    """The rating column (a whole number; empty reads as 0, as in the reference)."""
    try:
        return int(text or 0)
    except ValueError:
        raise DatasetError(f"{path}:{line}: rating {text!r} is not a whole number") from None


def _groups(pairs: list[tuple[np.ndarray, np.ndarray]], num_aug: int, rng: np.random.Generator,
            forbidden: set[bytes], progress: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each original puzzle plus ``num_aug`` random symmetries of it (vectorised); variants equal to a
    forbidden (test) input are drawn again."""
    groups = []
    for puzzle, solution in tqdm(pairs, desc="augment", unit="puzzle", disable=not progress or num_aug == 0, leave=False):
        size = puzzle.shape[0]
        p, s = puzzle.ravel(), solution.ravel()
        digit_maps, cell_perms = sudoku_lib.random_symmetries(size, rng, num_aug)
        rows = np.arange(num_aug)[:, None]
        inputs = np.concatenate([p[None], digit_maps[rows, p[cell_perms]]]).astype(np.int16) + 1
        labels = np.concatenate([s[None], digit_maps[rows, s[cell_perms]]]).astype(np.int16) + 1
        if forbidden:
            for k in range(1, num_aug + 1):
                for _attempt in range(10):
                    if inputs[k].tobytes() not in forbidden:
                        break
                    sym = sudoku_lib.random_symmetry(size, rng)
                    inputs[k] = sym.apply(puzzle).ravel().astype(np.int16) + 1
                    labels[k] = sym.apply(solution).ravel().astype(np.int16) + 1
        groups.append((inputs, labels))
    return groups


def _source(cfg: SudokuBuild) -> dict[str, Any]:
    if cfg.csv_dir:
        return {"kind": "imported", **csv_fingerprints(Path(cfg.csv_dir), ["train.csv", "test.csv"])}
    if cfg.difficulty == "extreme":
        on_test = sudoku_seeds.on_test_side(cfg.seed)
        return {"kind": "generated", "difficulty": "extreme", "seed": cfg.seed,
                "generator": (f"walks of up to {sudoku_seeds.WALK_MOVES} moves from hard seed puzzles; a move removes one clue and adds "
                              "one whose value is the value at its cell in exactly one solution of the relaxed puzzle (unique, same "
                              f"clue count), taken only when the median rating over {sudoku_lib.RATING_COPIES} random symmetric copies "
                              f"stays at least {sudoku_seeds.MIN_RATING:g}; each puzzle shown under a random symmetry"),
                "seeds": {"file": sudoku_seeds.SEED_FILE.name, "sha256": sudoku_seeds.seed_file_sha256(),
                          "puzzles": int(on_test.size),
                          "provenance": "the public 'hardest sudokus' database of June 2011 (forum thread 'The hardest sudokus'; "
                                        "the same list as tdoku's puzzles6_forum_hardest_1106)",
                          "families": int(sudoku_seeds.families().max() + 1),
                          "family_rule": f"single linkage over seeds at most {sudoku_seeds.FAMILY_CELLS} cells apart as written",
                          "test_seeds": int(on_test.sum()), "train_seeds": int((~on_test).sum())},
                "random_minimal_share": cfg.random_minimal_share,
                "leakage": "train and test walk from disjoint seed families; no train puzzle equals a test puzzle up to symmetry "
                           "(canonical forms compared)"}
    how = "random full grids, clues removed in random order while the solution stays unique (minimal puzzles)"
    if cfg.difficulty in sudoku_lib.NINE_ONLY:
        how += (f"; kept when the median rating over {sudoku_lib.RATING_COPIES} random symmetric copies is at least "
                f"{sudoku_lib.DIFFICULTIES[cfg.difficulty]}")
    return {"kind": "generated", "generator": how, "difficulty": cfg.difficulty, "seed": cfg.seed}


class SudokuTask(Task):
    name = "sudoku"
    build_config = SudokuBuild
    official_preset = "sudoku-extreme-1k"
    input_hint = "one row per line; . for a blank"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "sudoku-4x4": dict(task="sudoku", size=4, train=1000, test=200, num_aug=8, difficulty="any", min_clues=6),
        "sudoku-6x6": dict(task="sudoku", size=6, train=2000, test=500, num_aug=16, difficulty="any"),
        "sudoku-9x9-easy": dict(task="sudoku", size=9, train=1000, test=500, num_aug=16, difficulty="easy"),
        "sudoku-extreme-1k": dict(task="sudoku", size=9, train=1000, test=1000, num_aug=1000, difficulty="extreme",
                                  random_minimal_share=0.26),
    }

    def planned_examples(self, cfg: SudokuBuild) -> tuple[int, int]:  # type: ignore[override]
        cells = cfg.size * cfg.size
        if cfg.csv_dir:
            return csv_rows_at_most(cfg, "train", cells) * (cfg.num_aug + 1) + csv_rows_at_most(cfg, "test", cells), cells
        return cfg.train * (cfg.num_aug + 1) + cfg.test, cells

    def build(self, cfg: SudokuBuild, *, workers: int, progress: bool) -> TaskData:  # type: ignore[override]
        desc = f"sudoku {cfg.size}x{cfg.size} {cfg.difficulty}"
        sources: list[list[str]] = []
        if cfg.difficulty == "extreme" and not cfg.csv_dir:
            for name in ("train", "test"):
                if getattr(cfg, name) < 1:
                    raise DatasetError(f"{name} must be at least 1 when generating, got {getattr(cfg, name)}")
            train, test, *sources = _extreme_splits(cfg, workers, progress)
            rng = np.random.default_rng([cfg.seed, 10**6])  # augmentation, as train_and_test hands it on
        else:
            train, test, rng = train_and_test(cfg, _import_csv, _generate_chunk, workers, desc, progress)
        test_inputs = {grid_encode(p).ravel().tobytes() for p, _, _ in test}
        n = cfg.size
        train_groups = _groups([(p, s) for p, s, _ in train], cfg.num_aug, rng, test_inputs, progress)
        test_groups = _groups([(p, s) for p, s, _ in test], 0, rng, set(), False)
        card_rng = np.random.default_rng([cfg.seed, 99])  # its own stream: the card never changes the data
        difficulty: dict[str, Any] = {
            "measure": "backtracks of a naked + hidden singles search (fewest candidates first) before its first solution",
            "train": _card_ratings(train, 2000, card_rng), "test": _card_ratings(test, 2000, card_rng)}
        if sources:
            difficulty["by_source"] = {"train": _ratings_by_source(train, sources[0], card_rng),
                                       "test": _ratings_by_source(test, sources[1], card_rng)}
            difficulty["sources"] = {split: {name: names.count(name) for name in sorted(set(names))}
                                     for split, names in (("train", sources[0]), ("test", sources[1]))}
        if cfg.csv_dir:
            difficulty["csv_rating"] = {"train": difficulty_summary([r for *_, r in train]), "test": difficulty_summary([r for *_, r in test])}
        return TaskData(splits={"train": assemble(train_groups, n * n), "test": assemble(test_groups, n * n)},
                        tokens=vocab(n), grid_shape=(n, n), stats={"source": _source(cfg), "difficulty": difficulty})

    def parse(self, text: str, meta: DatasetMetadata) -> np.ndarray:
        try:
            grid = sudoku_lib.parse(text)
            sudoku_lib.validate(grid)
        except sudoku_lib.SudokuError as e:
            raise HrmError(f"bad puzzle: {e}") from None
        return self.grid_tokens(grid, meta, "Sudoku")

    def check_answer(self, puzzle: np.ndarray, answer: np.ndarray, meta: DatasetMetadata) -> bool | None:
        n = meta.grid_shape[0]
        return sudoku_lib.is_solution_of(decode(answer, n), decode(puzzle, n))

    def label_faults(self, inputs: np.ndarray, labels: np.ndarray, meta: DatasetMetadata) -> np.ndarray:
        return label_faults(inputs, labels, meta.grid_shape[0])


    def reference_tokens(self, seq_len: int, vocab_size: int) -> tuple[list[str], tuple[int, int]] | None:
        # The reference builders write a side x side grid as value + 1 (0 padding, 1 blank): vocab side + 2.
        side = math.isqrt(seq_len)
        return (vocab(side), (side, side)) if side * side == seq_len and side in (4, 6, 9) and vocab_size == side + 2 else None


TASK = register_task(SudokuTask())
