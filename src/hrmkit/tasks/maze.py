"""Mazes: find the shortest path from S to G. Generated locally (spanning-tree mazes with optional
loops) or imported from the official Maze-Hard CSV files; the 8 dihedral transforms as augmentation.

Tokens: 1..5 = ``"# SGo"`` (wall, open, start, goal, path), vocab 6, as the reference.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from hrmkit.data.codec import grid_decode, grid_encode
from hrmkit.data.format import DatasetError, DatasetMetadata
from hrmkit.data.splits import CHUNK, Generated, assemble, read_csv, subsample, train_and_test
from hrmkit.errors import HrmError
from hrmkit.puzzles import maze as maze_lib
from hrmkit.puzzles.grid import DIHEDRAL_INVERSE, dihedral
from hrmkit.tasks import register_task
from hrmkit.tasks.base import BuildConfig, Task, TaskData

VOCAB = ["<pad>", "#", " ", "S", "G", "o"]


class MazeBuild(BuildConfig):
    task: Literal["maze"] = "maze"
    size: int = Field(30, ge=3, le=64)
    min_path: int = Field(110, ge=1, description="keep mazes whose shortest path is longer than this")
    loops: float = Field(0.0, ge=0.0, le=1.0, description="fraction of inner walls knocked down")
    aug: bool = Field(False, description="add the 8 dihedral transforms of every training maze")
    csv_dir: str | None = None


def decode(tokens: np.ndarray, side: int) -> np.ndarray:
    return grid_decode(tokens, (side, side), maze_lib.WALL, maze_lib.PATH)


def _generate_chunk(args: tuple[MazeBuild, int]) -> list[Generated]:
    cfg, chunk = args
    rng = np.random.default_rng([cfg.seed, chunk])
    out = []
    for _ in range(CHUNK):
        r = maze_lib.generate(cfg.size, rng, cfg.min_path, cfg.loops)
        out.append((r.maze, r.solution, r.path_length))
    return out


def _import_csv(cfg: MazeBuild, split: str, limit: int, rng: np.random.Generator) -> list[Generated]:
    path = Path(cfg.csv_dir or "") / f"{split}.csv"
    out = []
    for line, row in enumerate(read_csv(path), start=2):
        side = math.isqrt(len(row["question"]))
        try:
            q = maze_lib.parse("\n".join(row["question"][r * side:(r + 1) * side] for r in range(side)))
            a = maze_lib.parse("\n".join(row["answer"][r * side:(r + 1) * side] for r in range(side)))
        except maze_lib.MazeError as e:
            raise DatasetError(f"{path}:{line}: {e}") from None
        if side * side != len(row["question"]) or q.shape != a.shape:
            raise DatasetError(f"{path}:{line}: question and answer must be square grids of the same size")
        out.append((q, a, int(row.get("rating") or 0)))
    return subsample(out, limit, rng)


class DihedralAugmentation:
    def __init__(self, tid: int, side: int):
        self.tid, self.side = tid, side

    def _on_tokens(self, tid: int, tokens: np.ndarray) -> np.ndarray:
        return dihedral(np.asarray(tokens).reshape(self.side, self.side), tid).ravel()

    def apply(self, tokens: np.ndarray) -> np.ndarray:
        return self._on_tokens(self.tid, tokens)

    def invert(self, tokens: np.ndarray) -> np.ndarray:
        return self._on_tokens(DIHEDRAL_INVERSE[self.tid], tokens)


class MazeTask(Task):
    name = "maze"
    build_config = MazeBuild
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "maze-9x9": dict(task="maze", size=9, train=1000, test=200, min_path=8, aug=True),
        "maze-15x15": dict(task="maze", size=15, train=1000, test=200, min_path=30, loops=0.05, aug=True),
        "maze-hard-1k": dict(task="maze", size=30, train=1000, test=1000, min_path=110, loops=0.05),
    }

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
                inp = grid_encode(dihedral(m, tid))
                if tid and inp.tobytes() in test_inputs:
                    continue
                inputs.append(inp)
                labels.append(grid_encode(dihedral(s, tid)))
            train_groups.append((np.stack(inputs), np.stack(labels)))
        test_groups = [(grid_encode(m)[None], grid_encode(s)[None]) for m, s, _ in test]
        mean = {"train": float(np.mean([r for *_, r in train] or [0])), "test": float(np.mean([r for *_, r in test] or [0]))}
        seq_len = side * side
        return TaskData(splits={"train": assemble(train_groups, seq_len), "test": assemble(test_groups, seq_len)},
                        tokens=list(VOCAB), grid_shape=(side, side), stats={"mean_path_length": mean})

    def parse(self, text: str, meta: DatasetMetadata) -> np.ndarray:
        try:
            grid = maze_lib.parse(text)
        except maze_lib.MazeError as e:
            raise HrmError(f"bad puzzle: {e}") from None
        return self.grid_tokens(grid, meta, "mazes")

    def check_answer(self, puzzle: np.ndarray, answer: np.ndarray, meta: DatasetMetadata) -> bool | None:
        side = meta.grid_shape[0]
        try:
            return not maze_lib.path_errors(decode(puzzle, side), decode(answer, side))
        except maze_lib.MazeError:  # no S or G in the puzzle: nothing to check against
            return False

    def random_augmentation(self, rng: np.random.Generator, meta: DatasetMetadata) -> DihedralAugmentation:
        return DihedralAugmentation(int(rng.integers(8)), meta.grid_shape[0])


TASK = register_task(MazeTask())
