"""One puzzle in, the answer and a per-segment reasoning trace out (the library API ``solve()``).

    model, meta = from_pretrained("runs/demo")
    trace = solve(model, meta, "1...\\n..2.\\n....\\n.3..")
    print(format_trace(trace, meta))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from hrmkit import checkpoint
from hrmkit.data import codec
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError
from hrmkit.models import ACTModel, build_model
from hrmkit.puzzles import maze as maze_lib
from hrmkit.puzzles import sudoku as sudoku_lib


@dataclass
class SolveStep:
    step: int
    prediction: np.ndarray  # tokens [seq_len]
    q_halt_prob: float  # the model's own belief that its answer is right (sigmoid of q_halt)
    changed: int  # cells that differ from the previous segment's prediction
    valid: bool | None  # the prediction checked by the task's rules (None when no checker applies)


@dataclass
class SolveTrace:
    puzzle: np.ndarray
    steps: list[SolveStep] = field(default_factory=list)

    @property
    def answer(self) -> np.ndarray:
        return self.steps[-1].prediction

    @property
    def halt_step(self) -> int:
        """The first segment at which the model would halt on its own (q_halt > 0), else the last."""
        for s in self.steps:
            if s.q_halt_prob > 0.5:
                return s.step
        return self.steps[-1].step


def from_pretrained(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[ACTModel, DatasetMetadata]:
    """A model from a checkpoint folder or a run folder (its newest checkpoint), in eval mode."""
    cfg, meta = checkpoint.read_config(path)
    model = build_model(cfg.arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, device)
    weights = checkpoint.read_tensors(path, "model")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise checkpoint.CheckpointError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return model.eval(), meta


def encode_puzzle(text: str, meta: DatasetMetadata) -> np.ndarray:
    """A puzzle given as text (Sudoku digits/'.', or maze rows of '# SG') -> input tokens."""
    h, w = meta.grid_shape
    try:
        if meta.task == "sudoku":
            grid = sudoku_lib.parse(text)
            if grid.shape != (h, w):
                raise HrmError(f"this model solves {h}x{w} Sudoku, got a {grid.shape[0]}x{grid.shape[1]} puzzle")
            sudoku_lib.validate(grid)
            return codec.sudoku_encode(grid).astype(np.int32)
        if meta.task == "maze":
            grid = maze_lib.parse(text)
            if grid.shape != (h, w):
                raise HrmError(f"this model solves {h}x{w} mazes, got {grid.shape[0]}x{grid.shape[1]}")
            return codec.maze_encode(grid).astype(np.int32)
    except (sudoku_lib.SudokuError, maze_lib.MazeError) as e:
        raise HrmError(f"bad puzzle: {e}") from None
    raise HrmError(f"solving task {meta.task!r} from text is not supported")


def check_answer(meta: DatasetMetadata, puzzle: np.ndarray, answer: np.ndarray) -> bool | None:
    """Is ``answer`` a correct solution of ``puzzle`` by the rules (not by comparison to a label)?"""
    h = meta.grid_shape[0]
    if meta.task == "sudoku":
        return sudoku_lib.is_solution_of(codec.sudoku_decode(answer, h), codec.sudoku_decode(puzzle, h))
    if meta.task == "maze":
        return not maze_lib.path_errors(codec.maze_decode(puzzle, h), codec.maze_decode(answer, h))
    return None


@torch.no_grad()
def solve(model: ACTModel, meta: DatasetMetadata, puzzle: str | np.ndarray, steps: int | None = None) -> SolveTrace:
    """Run ``steps`` segments (default: the model's halt_max_steps) and record each one's answer."""
    tokens = encode_puzzle(puzzle, meta) if isinstance(puzzle, str) else np.asarray(puzzle, dtype=np.int32)
    device = next(model.parameters()).device
    batch = {
        "inputs": torch.from_numpy(tokens[None]).to(device),
        "labels": torch.zeros(1, len(tokens), dtype=torch.int32, device=device),
        "puzzle_identifiers": torch.zeros(1, dtype=torch.int32, device=device),
    }
    was_training = model.training
    model.eval()
    trace = SolveTrace(puzzle=tokens)
    carry = model.initial_carry(batch)
    previous = tokens
    try:
        for step in range(1, (steps or model.halt_max_steps) + 1):
            carry, out = model(carry, batch)
            pred = out["logits"][0].argmax(-1).cpu().numpy().astype(np.int32)
            trace.steps.append(SolveStep(
                step=step, prediction=pred, q_halt_prob=float(torch.sigmoid(out["q_halt_logits"][0])),
                changed=int((pred != previous).sum()), valid=check_answer(meta, tokens, pred)))
            previous = pred
    finally:
        model.train(was_training)
    return trace


def format_trace(trace: SolveTrace, meta: DatasetMetadata, show_every_step: bool = True) -> str:
    """The puzzle, each segment's answer (cells that changed since the previous one in brackets), and a verdict."""
    h, w = meta.grid_shape

    def grid_lines(tokens: np.ndarray, previous: np.ndarray | None) -> list[str]:
        lines = []
        for r in range(h):
            cells = []
            for c in range(w):
                t = int(tokens[r * w + c])
                ch = "_" if t == 0 else meta.tokens[t][0]
                changed = previous is not None and previous[r * w + c] != t
                cells.append(f"[{ch}]" if changed else f" {ch} ")
            lines.append("".join(cells))
        return lines

    out = ["puzzle:", *grid_lines(trace.puzzle, None)]
    previous = trace.puzzle
    for s in trace.steps:
        if show_every_step or s is trace.steps[-1]:
            verdict = {True: "valid", False: "not valid", None: "?"}[s.valid]
            out.append(f"\nsegment {s.step}: {s.changed} cells changed, P(halt) {s.q_halt_prob:.2f}, answer {verdict}")
            out += grid_lines(s.prediction, previous)
        previous = s.prediction
    final = trace.steps[-1]
    out.append(f"\nthe model would halt at segment {trace.halt_step}; final answer is "
               f"{'a correct solution' if final.valid else 'not a correct solution' if final.valid is False else 'unchecked'}")
    return "\n".join(out)
