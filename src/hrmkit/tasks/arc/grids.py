"""ARC-AGI grids and tasks: their JSON form, their augmentations and the reference's 30x30 token encoding.

A task has demonstration pairs ("train") and test pairs ("test"); a grid is 1..30 rows of 1..30 cells
holding colours 0..9. Everything here is plain NumPy on single grids, shared by the dataset builder,
the evaluator (voting over augmentations) and ``hrm solve``; reading task files is ``sources``.

Encoding, as the HRM/TRM builders: a ``canvas`` x ``canvas`` sequence (30 in the papers), PAD 0, EOS 1,
colour c -> token c + 2 (vocab 12). The grid sits at offset (pad_r, pad_c); EOS fills the row just below
it (over its columns) and the column just right of it (over its rows) where those fit on the canvas, so
the model can say how large its answer is. Decoding crops the largest top-left rectangle of colour
tokens, exactly as the reference evaluators do.

Augmentation = one of the 8 dihedral transforms (numbered as ``puzzles.grid``) then a permutation of
colours 1..9 (0, the usual background, stays). A variant's name is ``"<task id>|||t<k>|||<perm>"`` (the
TRM builder's form) and the untransformed original is named by its task id alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hrmkit import jsonio
from hrmkit.errors import HrmError
from hrmkit.puzzles.grid import DIHEDRAL_INVERSE, dihedral

CANVAS = 30  # the papers' canvas side (ARC grids are at most 30x30)
MAX_SIDE = 30
PAD, EOS, COLOUR0 = 0, 1, 2
NUM_COLOURS = 10
VOCAB = ["<pad>", "|", *[str(c) for c in range(NUM_COLOURS)]]  # display strings; token c + 2 = colour c
SEPARATOR = "|||"


class ArcError(HrmError):
    pass


@dataclass
class ArcPair:
    input: np.ndarray  # [h, w] uint8 colours
    output: np.ndarray | None  # None when the answer is unknown (a hidden test output)


@dataclass
class ArcTask:
    id: str
    train: list[ArcPair]
    test: list[ArcPair]
    subset: str = ""  # where it came from: "training", "evaluation", ...
    extra: dict[str, Any] = field(default_factory=dict)

    def pairs(self) -> list[ArcPair]:
        return self.train + self.test

    def max_side(self) -> int:
        return max(max(g.shape) for p in self.pairs() for g in (p.input, p.output) if g is not None)

    def to_json(self) -> dict[str, Any]:
        """The task in the ARC JSON layout (test outputs left out where unknown)."""
        def pair(p: ArcPair) -> dict[str, Any]:
            out = {"input": p.input.tolist()}
            if p.output is not None:
                out["output"] = p.output.tolist()
            return out

        return {"train": [pair(p) for p in self.train], "test": [pair(p) for p in self.test]}


# --------------------------------------------------------------------------- a task's JSON form


def parse_grid(value: Any, where: str) -> np.ndarray:
    """A JSON grid (a list of equal-length lists of ints 0..9, 1..30 each way) -> uint8 array; ArcError naming the fault."""
    if not isinstance(value, list) or not value:
        raise ArcError(f"{where}: a grid must be a non-empty list of rows")
    if len(value) > MAX_SIDE:
        raise ArcError(f"{where}: {len(value)} rows, ARC grids have at most {MAX_SIDE}")
    width = None
    for r, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise ArcError(f"{where}: row {r} is not a non-empty list of colours")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ArcError(f"{where}: row {r} has {len(row)} cells, row 0 has {width}")
        for c, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < NUM_COLOURS:
                raise ArcError(f"{where}: cell ({r}, {c}) is {jsonio.shown(v)}, colours are integers 0..9")
    if width is not None and width > MAX_SIDE:
        raise ArcError(f"{where}: {width} columns, ARC grids have at most {MAX_SIDE}")
    return np.array(value, dtype=np.uint8)


def parse_task(data: Any, task_id: str, subset: str = "", solutions: list[Any] | None = None) -> ArcTask:
    """One task from its JSON object ({"train": [...], "test": [...]}); ``solutions`` (Kaggle layout) gives the
    test outputs separately."""
    if not isinstance(data, dict) or not isinstance(data.get("train"), list) or not isinstance(data.get("test"), list):
        raise ArcError(f"task {task_id}: expected an object with lists 'train' and 'test'")
    if not data["train"]:
        raise ArcError(f"task {task_id}: no demonstration pairs")
    if not data["test"]:
        raise ArcError(f"task {task_id}: no test inputs")
    if solutions is not None and not isinstance(solutions, list):
        raise ArcError(f"task {task_id}: its solutions must be a list of output grids, one per test input")
    if solutions is not None and len(solutions) != len(data["test"]):
        raise ArcError(f"task {task_id}: {len(solutions)} solutions for {len(data['test'])} test inputs")

    def pair(ex: Any, where: str, needs_output: bool, solution: Any = None) -> ArcPair:
        if not isinstance(ex, dict) or "input" not in ex:
            raise ArcError(f"task {task_id}: {where} has no 'input'")
        out = ex.get("output", solution)
        if out is None and needs_output:
            raise ArcError(f"task {task_id}: {where} has no 'output'")
        return ArcPair(parse_grid(ex["input"], f"task {task_id} {where}.input"),
                       None if out is None else parse_grid(out, f"task {task_id} {where}.output"))

    train = [pair(ex, f"train[{i}]", True) for i, ex in enumerate(data["train"])]
    test = [pair(ex, f"test[{i}]", False, None if solutions is None else solutions[i]) for i, ex in enumerate(data["test"])]
    return ArcTask(task_id, train, test, subset)



# --------------------------------------------------------------------------- augmentation


@dataclass(frozen=True)
class ArcAugmentation:
    """Dihedral transform ``tid`` then the colour map ``perm`` (perm[c] = new colour of c; perm[0] = 0)."""

    tid: int = 0
    perm: tuple[int, ...] = tuple(range(NUM_COLOURS))

    @property
    def is_identity(self) -> bool:
        return self.tid == 0 and self.perm == tuple(range(NUM_COLOURS))

    def apply(self, grid: np.ndarray) -> np.ndarray:
        return np.asarray(self.perm, dtype=np.uint8)[dihedral(grid, self.tid)]

    def invert(self, grid: np.ndarray) -> np.ndarray:
        inverse_perm = np.argsort(np.asarray(self.perm)).astype(np.uint8)
        return dihedral(inverse_perm[np.asarray(grid)], DIHEDRAL_INVERSE[self.tid])

    def name(self, task_id: str) -> str:
        if self.is_identity:
            return task_id
        return f"{task_id}{SEPARATOR}t{self.tid}{SEPARATOR}{''.join(map(str, self.perm))}"


def random_augmentation(rng: np.random.Generator) -> ArcAugmentation:
    perm = (0, *(int(c) for c in rng.permutation(np.arange(1, NUM_COLOURS))))
    return ArcAugmentation(int(rng.integers(0, 8)), perm)


def parse_name(name: str) -> tuple[str, ArcAugmentation]:
    """A variant's name -> (task id, augmentation); the inverse of :meth:`ArcAugmentation.name`."""
    parts = name.split(SEPARATOR)
    if len(parts) == 1:
        return name, ArcAugmentation()
    if len(parts) != 3 or not parts[1].startswith("t") or not parts[1][1:].isdigit() or not 0 <= int(parts[1][1:]) < 8:
        raise ArcError(f"{name!r} is not an ARC variant name (<task>{SEPARATOR}t<0..7>{SEPARATOR}<colour map>)")
    perm = parts[2]
    if len(perm) != NUM_COLOURS or sorted(perm) != [str(c) for c in range(NUM_COLOURS)] or perm[0] != "0":
        raise ArcError(f"{name!r}: colour map {perm!r} is not a permutation of 0..9 that keeps 0")
    return parts[0], ArcAugmentation(int(parts[1][1:]), tuple(int(c) for c in perm))


def augment_task(task: ArcTask, aug: ArcAugmentation) -> ArcTask:
    def pair(p: ArcPair) -> ArcPair:
        return ArcPair(aug.apply(p.input), None if p.output is None else aug.apply(p.output))

    return ArcTask(aug.name(task.id), [pair(p) for p in task.train], [pair(p) for p in task.test], task.subset)


def task_hash(task: ArcTask) -> bytes:
    """A digest of every grid of a task (shapes included), to drop augmentations that repeat a variant."""
    h = hashlib.sha256()
    for p in task.pairs():
        for g in (p.input, p.output):
            if g is None:
                h.update(b"?")
            else:
                h.update(np.asarray(g.shape, dtype=np.int16).tobytes())
                h.update(np.ascontiguousarray(g, dtype=np.uint8).tobytes())
    return h.digest()


def variants(task: ArcTask, num_aug: int, rng: np.random.Generator, retries_factor: int = 5) -> list[ArcAugmentation]:
    """The original then up to ``num_aug`` distinct random augmentations (distinct by :func:`task_hash`, at most
    ``retries_factor * num_aug`` draws, as the reference: a symmetric task has fewer distinct variants)."""
    chosen = [ArcAugmentation()]
    seen = {task_hash(task)}
    for _ in range(retries_factor * num_aug):
        if len(chosen) > num_aug:
            break
        aug = random_augmentation(rng)
        h = task_hash(augment_task(task, aug))
        if h not in seen:
            seen.add(h)
            chosen.append(aug)
    return chosen


# --------------------------------------------------------------------------- tokens


def encode_grid(grid: np.ndarray, pad_r: int = 0, pad_c: int = 0, canvas: int = CANVAS) -> np.ndarray:
    """A grid -> [canvas * canvas] uint8 tokens, placed at (pad_r, pad_c), with its EOS row and column."""
    g = np.asarray(grid)
    h, w = g.shape
    if pad_r < 0 or pad_c < 0 or pad_r + h > canvas or pad_c + w > canvas:
        raise ArcError(f"a {h}x{w} grid at offset ({pad_r}, {pad_c}) does not fit a {canvas}x{canvas} canvas")
    out = np.zeros((canvas, canvas), dtype=np.uint8)
    out[pad_r:pad_r + h, pad_c:pad_c + w] = g + COLOUR0
    end_r, end_c = pad_r + h, pad_c + w
    if end_r < canvas:
        out[end_r, pad_c:end_c] = EOS
    if end_c < canvas:
        out[pad_r:end_r, end_c] = EOS
    return out.reshape(-1)


def encode_pair(pair: ArcPair, rng: np.random.Generator | None, canvas: int = CANVAS) -> tuple[np.ndarray, np.ndarray]:
    """(input tokens, label tokens) of one pair, translated by one random offset shared by both when ``rng`` is
    given (the reference's translation augmentation). An unknown output gives an all-PAD label."""
    shapes = [pair.input.shape] + ([pair.output.shape] if pair.output is not None else [])
    max_h, max_w = max(s[0] for s in shapes), max(s[1] for s in shapes)
    if max_h > canvas or max_w > canvas:
        raise ArcError(f"a {max_h}x{max_w} grid does not fit a {canvas}x{canvas} canvas")
    pad_r = pad_c = 0
    if rng is not None:
        pad_r = int(rng.integers(0, canvas - max_h + 1))
        pad_c = int(rng.integers(0, canvas - max_w + 1))
    inp = encode_grid(pair.input, pad_r, pad_c, canvas)
    label = np.zeros(canvas * canvas, dtype=np.uint8) if pair.output is None else encode_grid(pair.output, pad_r, pad_c, canvas)
    return inp, label


def crop(tokens: np.ndarray, canvas: int = CANVAS) -> np.ndarray:
    """Tokens -> the grid they hold: the largest-area rectangle at the top-left whose every token is a colour,
    grown row by row with the row's run of colours limiting the width (the reference evaluators' rule; the first
    largest area wins). An empty prediction gives a 0x0 grid."""
    t = np.asarray(tokens).reshape(canvas, canvas).astype(np.int16)
    colour = (t >= COLOUR0) & (t < COLOUR0 + NUM_COLOURS)
    run = np.where(colour.all(1), canvas, np.argmin(colour, axis=1))  # leading colour cells of each row
    width = np.minimum.accumulate(run)
    area = width * np.arange(1, canvas + 1)
    rows = int(np.argmax(area)) + 1
    if area[rows - 1] == 0:
        return np.zeros((0, 0), dtype=np.uint8)
    return (t[:rows, :width[rows - 1]] - COLOUR0).astype(np.uint8)


def grid_key(grid: np.ndarray) -> bytes:
    """A hashable key of a grid, shape included (votes are counted per distinct key)."""
    g = np.ascontiguousarray(grid, dtype=np.uint8)
    return np.asarray(g.shape, dtype=np.int16).tobytes() + g.tobytes()
