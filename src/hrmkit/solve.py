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

from hrmkit.checkpoint import from_pretrained
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError, check_at_least
from hrmkit.models import ACTModel
from hrmkit.tasks import get_task

__all__ = ["SolveStep", "SolveTrace", "format_trace", "from_pretrained", "puzzle_from_dataset", "solve"]


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


def puzzle_from_dataset(path: str | os.PathLike, split: str, index: int, model_meta: DatasetMetadata) -> np.ndarray:
    """The input tokens of example ``index`` of a dataset split that fits the model."""
    from hrmkit.data.format import load_dataset
    from hrmkit.evaluate import check_compatible

    ds = load_dataset(path, verify_hash=False)
    check_compatible(model_meta, ds.metadata, str(path))
    arrays = ds[split]
    if not 0 <= index < arrays.num_examples:
        raise HrmError(f"--index must be in 0..{arrays.num_examples - 1}")
    return np.asarray(arrays.inputs[index], dtype=np.int32)


@torch.no_grad()
def solve(model: ACTModel, meta: DatasetMetadata, puzzle: str | np.ndarray, steps: int | None = None) -> SolveTrace:
    """Run ``steps`` segments (default: the model's halt_max_steps) and record each one's answer."""
    check_at_least("steps", steps, 1)
    task = get_task(meta.task)
    tokens = task.parse(puzzle, meta) if isinstance(puzzle, str) else np.asarray(puzzle, dtype=np.int32)
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
                changed=int((pred != previous).sum()), valid=task.check_answer(tokens, pred, meta)))
            previous = pred
    finally:
        model.train(was_training)
    return trace


def format_trace(trace: SolveTrace, meta: DatasetMetadata, show_every_step: bool = True) -> str:
    """The puzzle, each segment's answer (cells that changed since the previous one in brackets), and a verdict."""
    task = get_task(meta.task)
    w = meta.grid_shape[1]

    def grid_lines(tokens: np.ndarray, previous: np.ndarray | None) -> list[str]:
        marked = [f"[{ch}]" if previous is not None and previous[i] != tokens[i] else f" {ch} "
                  for i, ch in enumerate(task.cells(tokens, meta))]
        return ["".join(marked[r:r + w]) for r in range(0, len(marked), w)]

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
