"""One puzzle in, the answer and a per-segment reasoning trace out (the library API ``solve()``).

    model, meta = from_pretrained("runs/demo")
    trace = solve(model, meta, "1...\\n..2.\\n....\\n.3..")
    print(format_trace(trace, meta))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrmkit import jsonio
from hrmkit.checkpoint import from_pretrained
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError, check_at_least, renamed
from hrmkit.models import ACTModel
from hrmkit.tasks import TaskSolver, get_task

__all__ = ["SolveSegment", "SolveTrace", "format_trace", "from_pretrained", "puzzle_from_dataset", "solve", "solve_task_file"]


@dataclass
class SolveSegment:
    segment: int
    prediction: np.ndarray  # tokens [seq_len]
    q_halt_logit: float
    q_continue_logit: float | None  # None for a core without a Q-continue head (TRM's default)
    halts: bool  # the model's own halting rule fires at this segment (ACTModel.wants_halt)
    changed: int  # cells that differ from the previous segment's prediction
    valid: bool | None  # the prediction checked by the task's rules (None when no checker applies)

    @property
    def q_halt_prob(self) -> float:
        """sigmoid(q_halt): the model's own belief that its answer is right."""
        return float(1.0 / (1.0 + np.exp(-self.q_halt_logit)))


@dataclass
class SolveTrace:
    puzzle: np.ndarray
    segments: list[SolveSegment] = field(default_factory=list)
    halt_rule: str = "q_halt > 0"  # ACTModel.halt_rule of the model that made the trace
    halt_max_steps: int = 1  # the step limit training halts at when the rule never fires

    @property
    def answer(self) -> np.ndarray:
        return self.segments[-1].prediction

    @property
    def rule_halt_step(self) -> int | None:
        """The first segment at which the model's halting rule fires; None when it never does."""
        return next((s.segment for s in self.segments if s.halts), None)

    @property
    def halt_step(self) -> int | None:
        """The segment the model stops at by its training rule: the rule's first firing, else the step
        limit; None when neither was reached within the segments run."""
        fired = self.rule_halt_step
        if fired is not None:
            return fired
        return self.halt_max_steps if len(self.segments) >= self.halt_max_steps else None

    def decision(self) -> str:
        """One sentence: where the model stops and why, with the numbers."""
        fired = self.rule_halt_step
        if fired is not None:
            s = self.segments[fired - 1]
            return f"the model halts at segment {fired}: its first segment with {self.halt_rule} ({_q_values(s)})"
        best = max(self.segments, key=lambda s: s.q_halt_logit if s.q_continue_logit is None else s.q_halt_logit - s.q_continue_logit)
        closest = f"closest at segment {best.segment}: {_q_values(best)}"
        if len(self.segments) >= self.halt_max_steps:
            return (f"the halting rule ({self.halt_rule}) never fired ({closest}); the model stops at its step limit, "
                    f"segment {self.halt_max_steps} (halt_max_steps)")
        return (f"the halting rule ({self.halt_rule}) never fired in the {len(self.segments)} segments run ({closest}); "
                f"the model would go on to its step limit, segment {self.halt_max_steps}")


def _q_values(s: SolveSegment) -> str:
    text = f"q_halt {s.q_halt_logit:+.2f}, P(halt) {s.q_halt_prob:.2f}"
    return text if s.q_continue_logit is None else f"{text}, q_continue {s.q_continue_logit:+.2f}"


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


def solve(model: ACTModel, meta: DatasetMetadata, puzzle: str | np.ndarray, segments: int | None = None, *,
          steps: int | None = None) -> SolveTrace:
    """Run ``segments`` ACT segments (default: the model's halt_max_steps) and record each one's answer; past
    halt_max_steps the model goes on thinking from its state (``ACTModel.rollout``). ``steps``: the old name."""
    segments = renamed("segments", segments, "steps", steps)  # type: ignore[assignment]
    check_at_least("segments", segments, 1)
    task = get_task(meta.task)
    tokens = task.parse(puzzle, meta) if isinstance(puzzle, str) else np.asarray(puzzle, dtype=np.int32)
    device = next(model.parameters()).device
    batch = {
        "inputs": torch.from_numpy(tokens[None]).to(device),
        "labels": torch.zeros(1, len(tokens), dtype=torch.int32, device=device),
        "puzzle_identifiers": torch.zeros(1, dtype=torch.int32, device=device),
    }
    trace = SolveTrace(puzzle=tokens, halt_rule=model.halt_rule, halt_max_steps=model.halt_max_steps)
    previous = tokens
    has_continue = model.core.has_q_continue
    for segment, (_, out) in enumerate(model.rollout(batch, segments or model.halt_max_steps), start=1):
        pred = out["logits"][0].argmax(-1).cpu().numpy().astype(np.int32)
        q_halt, q_continue = out["q_halt_logits"][0].float(), out["q_continue_logits"][0].float()
        trace.segments.append(SolveSegment(
            segment=segment, prediction=pred, q_halt_logit=float(q_halt), q_continue_logit=float(q_continue) if has_continue else None,
            halts=bool(model.wants_halt(q_halt, q_continue)), changed=int((pred != previous).sum()),
            valid=task.check_answer(tokens, pred, meta)))
        previous = pred
    return trace


def format_trace(trace: SolveTrace, meta: DatasetMetadata, show_every_segment: bool = True) -> str:
    """The puzzle, each segment's answer (cells that changed since the previous one in brackets), and a verdict."""
    task = get_task(meta.task)
    w = meta.grid_shape[1]

    def grid_lines(tokens: np.ndarray, previous: np.ndarray | None) -> list[str]:
        marked = [f"[{ch}]" if previous is not None and previous[i] != tokens[i] else f" {ch} "
                  for i, ch in enumerate(task.cells(tokens, meta))]
        return ["".join(marked[r:r + w]) for r in range(0, len(marked), w)]

    out = ["puzzle:", *grid_lines(trace.puzzle, None)]
    previous = trace.puzzle
    for s in trace.segments:
        if show_every_segment or s is trace.segments[-1]:
            verdict = {True: "valid", False: "not valid", None: "?"}[s.valid]
            out.append(f"\nsegment {s.segment}: {s.changed} cells changed, {_q_values(s)}: {'halt' if s.halts else 'continue'}, "
                       f"answer {verdict}")
            out += grid_lines(s.prediction, previous)
        previous = s.prediction
    out.append(f"\n{trace.decision()}")
    stop = trace.halt_step
    if stop is not None and stop < len(trace.segments):
        out.append(f"answer at segment {stop}: {_verdict(trace.segments[stop - 1].valid)}")
    out.append(f"answer after the last segment run ({len(trace.segments)}): {_verdict(trace.segments[-1].valid)}")
    return "\n".join(out)


def _verdict(valid: bool | None) -> str:
    return "a correct solution" if valid else "not a correct solution" if valid is False else "unchecked"


# --------------------------------------------------------------------------- whole task files (ARC)


def model_dataset(checkpoint_path: str | os.PathLike, meta: DatasetMetadata, dataset: str | os.PathLike | None) -> Path | None:
    """The dataset a whole-task solver looks tasks up in: ``dataset`` when given (checked to fit the model), else the
    model's own when it can be found; None when not."""
    from hrmkit import checkpoint
    from hrmkit.data.format import read_metadata
    from hrmkit.evaluate import check_compatible

    if dataset is None:
        ckpt = checkpoint.resolve(checkpoint_path)
        cfg, _ = checkpoint.read_config(ckpt)
        found = checkpoint.find_dataset(ckpt, cfg.data_path)
        if found is None:
            return None
        dataset = found
    check_compatible(meta, read_metadata(dataset), str(dataset))
    return Path(dataset)


def names_a_file(arg: str) -> bool:
    """Whether a PUZZLE argument names a file. The text of a puzzle or task is no file name, and one longer than a file
    name may be makes ``Path.is_file`` raise (ENAMETOOLONG) rather than answer False."""
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):  # ValueError: a NUL byte in the text
        return False


def solve_task_file(checkpoint_path: str | os.PathLike, model: ACTModel, meta: DatasetMetadata, solver: TaskSolver, puzzle: str | None, *,
                    dataset: str | os.PathLike | None = None, index: int | None = 0, variants: int = 8,
                    segments: int | None = None) -> Any:
    """`hrm solve` for a task whose unit is a whole task file (ARC): ``puzzle`` is the file, or a held-out task's id."""
    if puzzle is None:
        raise HrmError("give a task: a task .json file, or the id of a held-out task of the model's dataset")
    check_at_least("segments", segments, 1)
    data = model_dataset(checkpoint_path, meta, dataset)
    path = Path(puzzle)
    is_file = names_a_file(puzzle)
    if path.suffix.lower() == ".json" and not is_file:
        raise HrmError(f"{puzzle}: no such file")
    text, name = (jsonio.read_text(path), path.stem) if is_file else (puzzle, puzzle)
    if is_file and path.suffix.lower() == ".json":
        jsonio.loads(text, str(path))  # a fault in the JSON itself is told naming the file (the solver sees only its text)
    return solver.solve_text(model, meta, text, name=name, dataset=data, index=index, variants=variants, segments=segments)
