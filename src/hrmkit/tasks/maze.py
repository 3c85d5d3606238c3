"""Mazes: find the shortest path from S to G. Generated locally (random-wall grids in the style of the
Maze-Hard data, or spanning-tree mazes with optional loops) or imported from the official Maze-Hard CSV
files; the 8 dihedral transforms as augmentation. A generated maze's label is the shortest path the label
rule picks (``maze_lib.LABEL_RULE``), also for every transform; imported labels stay as the files give them.

Tokens: 1..5 = ``"# SGo"`` (wall, open, start, goal, path), vocab 6, as the reference.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from hrmkit.data.codec import grid_decode, grid_encode
from hrmkit.data.format import DatasetError, DatasetMetadata, SplitArrays
from hrmkit.data.splits import CHUNK, Generated, assemble, csv_fingerprints, csv_rows_at_most, difficulty_summary, read_csv, subsample, train_and_test
from hrmkit.errors import HrmError
from hrmkit.puzzles import maze as maze_lib
from hrmkit.puzzles.grid import dihedral
from hrmkit.tasks import register_task
from hrmkit.tasks.base import BuildConfig, StreamEvaluator, Task, TaskData
from hrmkit.tasks.maze_eval import SHORTEST_PATH_ACCURACY, MazeEvaluator, is_shortest_path

VOCAB = ["<pad>", "#", " ", "S", "G", "o"]


class MazeBuild(BuildConfig):
    task: Literal["maze"] = "maze"
    size: int = Field(30, ge=3, le=64, description="grid side")
    min_path: int = Field(110, ge=1, validate_default=True, description="keep mazes whose shortest path is longer than this")
    style: Literal["random", "tree"] = Field("random", description="random: random walls (Maze-Hard); tree: spanning-tree mazes")
    walls: tuple[float, float] = Field(maze_lib.DEFAULT_WALLS, description="random style: wall density range, one drawn per maze")
    loops: float = Field(0.0, ge=0.0, le=1.0, description="tree style: fraction of inner walls knocked down")
    unique_path: bool = Field(False, description="make the shortest path unique (random: wall off the other shortest paths, "
                              "which leaves added walls beside the path; tree: redraw mazes with ties); off: grids stay as drawn "
                              "and the label is the rule's shortest path")
    aug: bool = Field(False, description="add the 8 dihedral transforms of every training maze")
    csv_dir: str | None = Field(None, description="import train.csv/test.csv (source,question,answer,rating) from this folder")

    # min_path is checked against the size even when left at its default; walls and loops only when given,
    # so that they reject a setting of the other style.
    @field_validator("min_path")
    @classmethod
    def _possible(cls, min_path: int, info: ValidationInfo) -> int:
        if "size" in info.data:
            maze_lib.check_feasible(info.data["size"], min_path)
        return min_path

    @field_validator("walls")
    @classmethod
    def _walls(cls, walls: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        if info.data.get("style") == "tree":
            raise ValueError("applies to style random only (--style random)")
        if not 0.0 <= walls[0] <= walls[1] < 1.0:
            raise ValueError("wall densities LOW HIGH must satisfy 0 <= LOW <= HIGH < 1")
        return walls

    @field_validator("loops")
    @classmethod
    def _loops(cls, loops: float, info: ValidationInfo) -> float:
        if loops and info.data.get("style") == "random":
            raise ValueError("applies to style tree only (--style tree)")
        return loops


def decode(tokens: np.ndarray, side: int) -> np.ndarray:
    return grid_decode(tokens, (side, side), maze_lib.WALL, maze_lib.PATH)


def _generate_chunk(args: tuple[MazeBuild, int]) -> list[Generated]:
    cfg, chunk = args
    rng = np.random.default_rng([cfg.seed, chunk])
    if cfg.style == "random":
        mazes = maze_lib.generate_random_many(CHUNK, cfg.size, rng, cfg.min_path, cfg.walls, unique_path=cfg.unique_path)
    else:
        mazes = [maze_lib.generate_tree(cfg.size, rng, cfg.min_path, cfg.loops, unique_path=cfg.unique_path) for _ in range(CHUNK)]
    return [(r.maze, r.solution, r.path_length) for r in mazes]


def _csv_grid(text: str | None, column: str) -> np.ndarray:
    """One CSV cell (a square grid written row after row) -> a grid; MazeError naming the fault."""
    if not text:
        raise maze_lib.MazeError(f"{column} is empty")
    side = math.isqrt(len(text))
    if side * side != len(text):
        raise maze_lib.MazeError(f"{column} has {len(text)} cells, not a square grid")
    return maze_lib.parse("\n".join(text[r * side:(r + 1) * side] for r in range(side)))


def _csv_pair(row: dict[str, str]) -> Generated:
    """(maze, solution, path length) of one official CSV row, after checking that the answer is the
    question with path cells drawn on open cells only."""
    q, a = _csv_grid(row.get("question"), "question"), _csv_grid(row.get("answer"), "answer")
    if q.shape != a.shape:
        raise maze_lib.MazeError(f"question is {q.shape[0]}x{q.shape[1]} but answer is {a.shape[0]}x{a.shape[1]}")
    for token, name in ((maze_lib.START, "start"), (maze_lib.GOAL, "goal")):
        maze_lib.find_one(q, token, name)
    changed = (q != a) & ~((q == maze_lib.OPEN) & (a == maze_lib.PATH))
    if changed.any() or (q == maze_lib.PATH).any():
        r, c = np.argwhere(changed | (q == maze_lib.PATH))[0]
        raise maze_lib.MazeError(f"answer is not the question with a path drawn: row {r + 1}, column {c + 1}")
    return q, a, int((a == maze_lib.PATH).sum()) + 1  # moves = path cells between S and G + 1


def _import_csv(cfg: MazeBuild, split: str, limit: int, rng: np.random.Generator) -> list[Generated]:
    """Every row of ``DIR/{split}.csv`` in file order, or a seeded subset of ``limit`` rows when the file
    has more (the official Maze-Hard files have 1000 rows each, so the preset's 1000 keep them all)."""
    path = Path(cfg.csv_dir or "") / f"{split}.csv"
    out = []
    for line, row in enumerate(read_csv(path), start=2):  # line 1 is the header; mazes have no line breaks
        try:
            out.append(_csv_pair(row))
        except maze_lib.MazeError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
    return subsample(out, limit, rng)


def unique_share(mazes: list[Generated]) -> dict[str, int | float]:
    """How many of the mazes have exactly one shortest S->G path (counted with the cap at 2)."""
    unique = sum(maze_lib.count_shortest_paths(m, cap=2) == 1 for m, _, _ in mazes)
    return {"unique": unique, "of": len(mazes), "share": round(unique / len(mazes), 4) if mazes else 0.0}


def _label_text(build: dict[str, Any]) -> list[str]:
    """The card's label lines (``card_lines``); any content, as the card may have been edited."""
    lines = []
    rule = build.pop("label_rule", None)
    if rule is not None:
        text = f"{rule.get('name')}: {rule.get('rule')}" if isinstance(rule, dict) else json.dumps(rule)
        lines.append(f"  label: the shortest path of rule {text}")
    unique = build.pop("unique_shortest_path", None)
    if isinstance(unique, dict):
        for split, entry in unique.items():
            if isinstance(entry, dict):
                lines.append(f"    {split}: {entry.get('unique')} of {entry.get('of')} mazes have a unique shortest path "
                             f"(share {entry.get('share')})")
            else:
                lines.append(f"    {split} unique shortest paths: {json.dumps(entry)}")
    elif unique is not None:
        lines.append(f"  unique shortest paths: {json.dumps(unique)}")
    return lines


class MazeTask(Task):
    name = "maze"
    build_config = MazeBuild
    official_preset = "maze-hard-1k"
    headline_metrics: ClassVar[dict[str, str]] = {SHORTEST_PATH_ACCURACY: "shortest-path accuracy"}
    input_hint = "one row per line; # wall, space open, S start, G goal"
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # The small CPU presets stay tree mazes (odd sizes, so the even-size fix leaves their data as it was).
        "maze-9x9": dict(task="maze", size=9, train=1000, test=200, min_path=8, style="tree", aug=True),
        "maze-15x15": dict(task="maze", size=15, train=1000, test=200, min_path=30, style="tree", loops=0.05, aug=True),
        "maze-hard-1k": dict(task="maze", size=30, train=1000, test=1000, min_path=110, style="random"),
    }

    def planned_examples(self, cfg: MazeBuild) -> tuple[int, int]:  # type: ignore[override]
        cells, variants = cfg.size * cfg.size, 8 if cfg.aug else 1
        if cfg.csv_dir:
            return csv_rows_at_most(cfg, "train", cells) * variants + csv_rows_at_most(cfg, "test", cells), cells
        return cfg.train * variants + cfg.test, cells

    def build(self, cfg: MazeBuild, *, workers: int, progress: bool) -> TaskData:  # type: ignore[override]
        train, test, _ = train_and_test(cfg, _import_csv, _generate_chunk, workers, f"maze {cfg.size}x{cfg.size}", progress)
        sizes = {m.shape for m, _, _ in train + test}
        if len(sizes) > 1:
            raise DatasetError(f"mazes of several sizes: {sorted(sizes)}")
        side = next(iter(sizes))[0] if sizes else cfg.size
        test_inputs = {grid_encode(m).tobytes() for m, _, _ in test}
        train_groups = []
        for m, s, _ in train:
            inputs, labels = [], []
            for tid in range(8 if cfg.aug else 1):
                view = dihedral(m, tid)
                inp = grid_encode(view)
                if tid and inp.tobytes() in test_inputs:
                    continue
                inputs.append(inp)
                # A transform of the rule's path is not always the rule's path of the transform (up comes first).
                relabel = tid and not cfg.csv_dir
                labels.append(grid_encode(maze_lib.label_solution(view) if relabel else dihedral(s, tid)))
            train_groups.append((np.stack(inputs), np.stack(labels)))
        test_groups = [(grid_encode(m)[None], grid_encode(s)[None]) for m, s, _ in test]
        seq_len = side * side
        # The data card: where the mazes came from and their difficulty (shortest-path length in moves).
        difficulty = {"measure": "shortest S-G path length in moves",
                      "train": {"path_length": difficulty_summary([r for *_, r in train])},
                      "test": {"path_length": difficulty_summary([r for *_, r in test])}}
        if cfg.csv_dir:
            source: dict[str, Any] = {"kind": "imported", **csv_fingerprints(Path(cfg.csv_dir), ["train.csv", "test.csv"])}
        else:
            if cfg.style == "random":
                how = "random walls (density drawn per maze), S random, G beyond min_path" + (
                    ", walls added to leave one shortest path" if cfg.unique_path else ", grids kept as drawn")
            else:
                how = "random spanning trees (perfect mazes) with a fraction of inner walls knocked down" + (
                    ", mazes with several shortest paths redrawn" if cfg.unique_path and cfg.loops else "")
            source = {"kind": "generated", "generator": how, "seed": cfg.seed}
        stats: dict[str, Any] = {"source": source, "difficulty": difficulty,
                                 "unique_shortest_path": {"train": unique_share(train), "test": unique_share(test)}}
        if not cfg.csv_dir:
            stats["label_rule"] = {"name": maze_lib.LABEL_RULE_NAME, "rule": maze_lib.LABEL_RULE}
        return TaskData(splits={"train": assemble(train_groups, seq_len), "test": assemble(test_groups, seq_len)},
                        tokens=list(VOCAB), grid_shape=(side, side), stats=stats)

    def card_lines(self, build: dict[str, Any]) -> list[str]:
        return _label_text(build)

    def parse(self, text: str, meta: DatasetMetadata) -> np.ndarray:
        try:
            grid = maze_lib.parse(text)
        except maze_lib.MazeError as e:
            raise HrmError(f"bad puzzle: {e}") from None
        return self.grid_tokens(grid, meta, "mazes")

    def check_answer(self, puzzle: np.ndarray, answer: np.ndarray, meta: DatasetMetadata) -> bool | None:
        """Any shortest S->G path counts (not only the label's); a cell holding padding fails."""
        return is_shortest_path(puzzle, answer, meta.grid_shape[0])

    def label_faults(self, inputs: np.ndarray, labels: np.ndarray, meta: DatasetMetadata) -> np.ndarray:
        """A label must be a shortest path; where the data card names the label rule (generated data), the rule's one."""
        faults = super().label_faults(inputs, labels, meta)
        rule = meta.build.get("label_rule")
        if isinstance(rule, dict) and rule.get("name") == maze_lib.LABEL_RULE_NAME:
            side = meta.grid_shape[0]
            for i in np.flatnonzero(~faults):
                maze = decode(inputs[i], side)
                faults[i] = not np.array_equal(maze_lib.label_solution(maze), decode(labels[i], side))
        return faults

    def make_evaluator(self, split: SplitArrays, meta: DatasetMetadata, identifiers: list[str],
                       dataset_path: Path) -> StreamEvaluator:
        return MazeEvaluator(split, meta.grid_shape[0])


    def reference_tokens(self, seq_len: int, vocab_size: int) -> tuple[list[str], tuple[int, int]] | None:
        # The reference's maze builder: "# SGo" as tokens 1..5 on a square grid, vocab 6.
        side = math.isqrt(seq_len)
        return (list(VOCAB), (side, side)) if side * side == seq_len and vocab_size == len(VOCAB) else None


TASK = register_task(MazeTask())
