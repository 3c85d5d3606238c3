"""`hrm solve` and `hrm serve` on an ARC task: demonstrations shown, test inputs answered by voting.

HRM and TRM do not read the demonstration pairs at inference: a task is known to the model only through
the puzzle embedding trained for it (one per augmented variant). So the task is looked up among the held-out
tasks of the model's dataset (``arc_tasks.json``): by content (demonstrations and test inputs), else by
its id. When found, each chosen variant's identifier runs on that variant of the test input; the answers
are mapped back through the inverse augmentation and voted exactly as in evaluation (``voting``; an empty answer
votes for the empty grid, as in both references, and can be an attempt). When
not found, the model runs once with the blank identifier, and we say plainly that it has never seen the task.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrmkit import jsonio
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError
from hrmkit.models import ACTModel
from hrmkit.puzzles.grid import DIHEDRAL_INVERSE, dihedral
from hrmkit.tasks.arc import grids
from hrmkit.tasks.arc.display import picture, side_by_side
from hrmkit.tasks.arc.layout import PROTOCOLS, HeldOutTasks, read_held_out
from hrmkit.tasks.arc.voting import add_vote, crop_batch, key_to_grid, ranked, sigmoid
from hrmkit.tasks.base import TaskFileControl, VariantsControl

DEFAULT_VARIANTS = 8
CHUNK = 128  # variants run together in one batch
UNSEEN = ("the model has never seen this task: HRM and TRM know a task only through its trained puzzle embedding, and this one has none, "
          "so it runs with the blank identifier and its answer is almost certainly wrong")
STRICT = (f"this dataset was built with the strict protocol ({PROTOCOLS['strict']}), "
          "so the model meets the task for the first time and its answer is almost certainly wrong")


@dataclass
class Candidate:
    grid: np.ndarray
    votes: int
    p_halt: float  # mean sigmoid(q_halt) over its votes
    right: bool | None  # None when the expected output is unknown


@dataclass
class TestAnswer:
    index: int
    input: np.ndarray
    expected: np.ndarray | None
    candidates: list[Candidate]  # every distinct answer of the last segment, best first
    by_segment: list[list[Candidate]]  # the top two after each segment
    first_variant: list[np.ndarray]  # the first variant's (the original's) answer after each segment, mapped back
    first_p_halt: list[float]
    empty: int  # variants whose last answer held no grid (each a vote for the empty grid)


@dataclass
class ArcSolveResult:
    task: grids.ArcTask
    matched: str | None  # the held-out task of the model's dataset it was matched to
    matched_by: str | None  # "content" (same demonstrations and test inputs) or "id" (same task id, other grids)
    protocol: str | None
    variants: list[str]  # identifier names run (["<blank>"] for an unseen task)
    variants_available: int
    segments: int
    tests: list[TestAnswer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- the model's dataset


@lru_cache(maxsize=4)
def _identifiers(path: str) -> tuple[str, ...]:
    names = jsonio.read(path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HrmError(f"{path}: expected a list of identifier names")
    return tuple(names)


@lru_cache(maxsize=4)
def _held_out(path: str) -> HeldOutTasks:
    return read_held_out(path)


def dataset_views(dataset: Path | None, meta: DatasetMetadata) -> tuple[HeldOutTasks | None, tuple[str, ...]]:
    """The held-out tasks and identifier names of the model's dataset (cached: ARC-1 has 961k names)."""
    if dataset is None:
        return None, ()
    names = _identifiers(str(Path(dataset) / "identifiers.json"))
    if len(names) != meta.num_puzzle_identifiers:
        raise HrmError(f"{dataset} has {len(names)} puzzle identifiers, the model {meta.num_puzzle_identifiers}: not the dataset it was trained on")
    return _held_out(str(dataset)), names


def variant_ids(names: tuple[str, ...], task_id: str, limit: int) -> list[int]:
    """Identifier ids of a task's variants: the original first, then the others in identifier order; at most
    ``limit`` (0 = all). Deterministic, so a run repeats."""
    prefix = task_id + grids.SEPARATOR
    ids = [i for i, n in enumerate(names) if n == task_id] + [i for i, n in enumerate(names) if n.startswith(prefix)]
    return ids if limit == 0 else ids[:limit]


# --------------------------------------------------------------------------- running the model


def run_segments(model: ACTModel, tokens: np.ndarray, identifiers: np.ndarray, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """Run ``segments`` segments on a batch; every segment's argmax tokens [segments, B, seq_len] uint8 and q_halt [segments, B]."""
    device = next(model.parameters()).device
    preds, q_halts = [], []
    for start in range(0, len(tokens), CHUNK):
        batch = {"inputs": torch.from_numpy(tokens[start:start + CHUNK].astype(np.int32)).to(device),
                 "labels": torch.zeros(len(tokens[start:start + CHUNK]), tokens.shape[1], dtype=torch.int32, device=device),
                 "puzzle_identifiers": torch.from_numpy(identifiers[start:start + CHUNK].astype(np.int32)).to(device)}
        p, q = [], []
        for _, out in model.rollout(batch, segments):
            p.append(out["logits"].argmax(-1).to(torch.uint8).cpu().numpy())
            q.append(out["q_halt_logits"].float().cpu().numpy())
        preds.append(np.stack(p))
        q_halts.append(np.stack(q))
    return np.concatenate(preds, axis=1), np.concatenate(q_halts, axis=1)


def _vote(answers: list[np.ndarray], augs: list[grids.ArcAugmentation], p_halt: np.ndarray,
          expected: np.ndarray | None) -> tuple[list[Candidate], list[np.ndarray], int]:
    votes: dict[bytes, list[float]] = {}
    originals, empty = [], 0
    for g, aug, p in zip(answers, augs, p_halt):
        original = dihedral(np.argsort(np.asarray(aug.perm)).astype(np.uint8)[g], DIHEDRAL_INVERSE[aug.tid]) if g.size else g
        originals.append(original)
        empty += int(g.size == 0)  # still a vote: the empty grid is a candidate, as in evaluation
        add_vote(votes, grids.grid_key(original), float(p))
    right = None if expected is None else grids.grid_key(expected)
    cands = [Candidate(key_to_grid(k), n, q, None if right is None else k == right) for k, n, q in ranked(votes)]
    return cands, originals, empty


def solve_task(model: ACTModel, meta: DatasetMetadata, task: grids.ArcTask, *, dataset: Path | None = None, index: int | None = 0,
               variants: int = DEFAULT_VARIANTS, segments: int | None = None) -> ArcSolveResult:
    """Answer test input ``index`` (None: every one) of ``task``; see the module docstring."""
    if variants < 0:
        raise HrmError(f"variants must be at least 0 (0 = all), got {variants}")
    if segments is not None and segments < 1:
        raise HrmError(f"segments must be at least 1, got {segments}")
    canvas = meta.grid_shape[0]
    indices = range(len(task.test)) if index is None else [index]
    if index is not None and not 0 <= index < len(task.test):
        raise HrmError(f"test input index must be in 0..{len(task.test) - 1} (the task has {len(task.test)} test inputs), got {jsonio.shown(index)}")
    held_out, names = dataset_views(dataset, meta)
    found = held_out.match(task) if held_out is not None else None
    matched, matched_by = found if found is not None else (None, None)
    n_segments = segments or model.halt_max_steps
    if matched is not None:
        ids = variant_ids(names, matched, variants)
        available = len(variant_ids(names, matched, 0))
        if not ids:
            raise HrmError(f"task {matched} is held out in {dataset} but no identifier names it")
    else:
        ids, available = [meta.blank_identifier_id], 0
    augs = [grids.parse_name(names[i])[1] if matched is not None else grids.ArcAugmentation() for i in ids]
    result = ArcSolveResult(task, matched, matched_by, held_out.protocol if held_out is not None else None,
                            [names[i] if names else "<blank>" for i in ids], available, n_segments)
    if matched is None:
        result.notes.append(UNSEEN + ("" if held_out is not None else " (no dataset to look it up in: give --dataset)"))
    elif held_out is not None and held_out.protocol == "strict":
        result.notes.append(STRICT)
    reference = held_out.tasks[matched] if matched is not None and held_out is not None else None
    for k in indices:
        pair = task.test[k]
        expected = pair.output
        if expected is None and reference is not None and k < len(reference.test) and np.array_equal(reference.test[k].input, pair.input):
            expected = reference.test[k].output  # the file left it out; the dataset knows it
        if max(pair.input.shape) > canvas:
            raise HrmError(f"test input {k} is {pair.input.shape[0]}x{pair.input.shape[1]}, larger than the model's {canvas}x{canvas} canvas")
        tokens = np.stack([grids.encode_grid(aug.apply(pair.input), 0, 0, canvas) for aug in augs])  # the test split's untranslated layout
        preds, q_halts = run_segments(model, tokens, np.asarray(ids), n_segments)
        by_segment, first, first_p = [], [], []
        for s in range(n_segments):
            cands, originals, empty = _vote(crop_batch(preds[s], canvas), augs, sigmoid(q_halts[s]), expected)
            by_segment.append(cands[:2])
            first.append(originals[0])
            first_p.append(float(sigmoid(q_halts[s][0])))
        result.tests.append(TestAnswer(k, pair.input, expected, cands, by_segment, first, first_p, empty))
    return result


def read_task_text(text: str, name: str, source: str = "not an ARC task") -> grids.ArcTask:
    """An ARC task from JSON text: {"train": [...], "test": [...]}, or {task_id: task} with one task (the Kaggle layout)."""
    data = jsonio.loads(text, source)
    if isinstance(data, dict) and len(data) == 1 and "train" not in data:
        name, data = next(iter(data.items()))
    return grids.parse_task(data, name)


# --------------------------------------------------------------------------- showing it


def _shape(g: np.ndarray) -> str:
    return f"{g.shape[0]}x{g.shape[1]}"


def _votes(n: int) -> str:
    return f"{n} vote" if n == 1 else f"{n} votes"


def _verdict(c: Candidate) -> str:
    return "" if c.right is None else ": right" if c.right else ": wrong"


def format_result(r: ArcSolveResult) -> str:
    out = []
    if r.matched is not None:
        how = "by its grids" if r.matched_by == "content" else "by its id only: its grids differ from the held-out task's"
        out.append(f"task {r.matched}: held out in the model's dataset (protocol {r.protocol}), matched {how}")
        out.append(f"votes over {len(r.variants)} of its {r.variants_available} trained variants (the original first), "
                   f"{r.segments} ACT segments each")
    else:
        out.append(f"task {r.task.id}: not a task of the model's dataset")
    out += [f"note: {n}" for n in r.notes]
    for i, p in enumerate(r.task.train):
        assert p.output is not None
        out.append(f"\ndemonstration {i + 1} of {len(r.task.train)}:")
        out.append(side_by_side([(f"input {_shape(p.input)}", p.input), (f"output {_shape(p.output)}", p.output)]))
    for t in r.tests:
        out.append(f"\ntest input {t.index} ({_shape(t.input)}):")
        out.append(side_by_side([("input", t.input)]))
        for s, top in enumerate(t.by_segment):
            out.append(f"  segment {s + 1}: top answer {_shape(top[0].grid)} with {_votes(top[0].votes)}, "
                       f"mean P(halt) {top[0].p_halt:.2f}{_verdict(top[0])}")
        blocks = []
        for a, c in enumerate(t.candidates[:2]):
            out.append(f"attempt {a + 1}: {c.votes} of {len(r.variants)} votes, mean P(halt) {c.p_halt:.2f}{_verdict(c)}")
            blocks.append((f"attempt {a + 1}", c.grid))
        if len(t.candidates) == 1:
            out.append("attempt 2: none (every vote went to attempt 1); a submission repeats attempt 1")
        if t.empty:
            out.append(f"{t.empty} variant(s) answered with no grid: votes for the empty grid (0x0), as the references count them")
        if t.expected is not None:
            blocks.append(("expected", t.expected))
            solved = any(c.right for c in t.candidates[:2])
            out.append(f"expected output known: {'solved within two attempts' if solved else 'not solved within two attempts'}")
        else:
            out.append("expected output unknown")
        if blocks:
            out.append(side_by_side(blocks))
    return "\n".join(out)


def _grid_json(g: np.ndarray | None) -> list[list[int]] | None:
    return None if g is None else np.asarray(g).tolist()


def _cand_json(c: Candidate) -> dict[str, Any]:
    return {"grid": _grid_json(c.grid), "votes": c.votes, "p_halt": c.p_halt, "right": c.right}


def payload(r: ArcSolveResult) -> dict[str, Any]:
    return {
        "kind": "arc", "task_id": r.task.id, "matched": r.matched, "matched_by": r.matched_by, "known": r.matched is not None, "protocol": r.protocol,
        "notes": r.notes, "variants": r.variants, "variants_available": r.variants_available, "segments": r.segments,
        "demonstrations": [{"input": _grid_json(p.input), "output": _grid_json(p.output)} for p in r.task.train],
        "tests": [{
            "index": t.index, "input": _grid_json(t.input), "expected": _grid_json(t.expected), "empty": t.empty,
            "answers": [_cand_json(c) for c in t.candidates[:2]],
            "segments": [{"segment": s + 1, "prediction": _grid_json(t.first_variant[s]), "p_halt": t.first_p_halt[s],
                          "answers": [_cand_json(c) for c in t.by_segment[s]]} for s in range(len(t.by_segment))],
        } for t in r.tests],
    }


def check_picture(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise HrmError(f"--trace-out {out}: an ARC task is drawn to a .png file")
    if not out.parent.is_dir():
        raise HrmError(f"--trace-out {out}: folder {out.parent} does not exist")
    return out


def draw(r: ArcSolveResult, out: Path) -> Path:
    """The demonstrations, then each test input with the two attempts and the expected output, in ARC's colours, to a PNG."""
    out = check_picture(out)
    rows: list[list[tuple[str, np.ndarray | None]]] = [
        [(f"demo {i + 1} input", p.input), (f"demo {i + 1} output", p.output)] for i, p in enumerate(r.task.train)]
    for t in r.tests:
        row: list[tuple[str, np.ndarray | None]] = [(f"test {t.index} input", t.input)]
        for a, c in enumerate(t.candidates[:2]):
            row.append((f"attempt {a + 1}: {_votes(c.votes)}{_verdict(c)}", c.grid))
        row.append(("expected" if t.expected is not None else "expected: unknown", t.expected))
        rows.append(row)
    title = f"ARC task {r.matched or r.task.id}" + ("" if r.matched else " (never seen by the model)")
    return picture(rows, title, out)


# --------------------------------------------------------------------------- the TaskSolver the ARC task plug-in returns


class ArcSolver:
    """Hands ARC task files to :func:`solve_task` for `hrm solve` and `hrm serve` (see ``tasks.base.TaskSolver``)."""

    max_request_bytes = 1 << 20  # a task with ten 30x30 pairs is ~60 KB of JSON; pretty-printed, a few times that
    page_controls = (TaskFileControl(accept=".json,application/json"), VariantsControl(maximum=64, default=8))  # 1001 would pin the CPU

    def examples(self, dataset: Path | None, meta: DatasetMetadata, n: int) -> list[dict[str, str]]:
        held_out, _ = dataset_views(dataset, meta)
        if held_out is None or n == 0:
            return []
        ids = list(held_out.tasks)
        picks = sorted(set(np.linspace(0, len(ids) - 1, min(n, len(ids))).astype(int).tolist())) if ids else []
        return [{"name": f"held-out task {ids[i]}", "text": json.dumps({ids[i]: held_out.tasks[ids[i]].to_json()})} for i in picks]

    def solve_text(self, model: ACTModel, meta: DatasetMetadata, text: str, *, name: str, dataset: Path | None,
                   index: int | None, variants: int, segments: int | None) -> ArcSolveResult:
        held_out, _ = dataset_views(dataset, meta)
        if held_out is not None and text.strip() in held_out.tasks:  # a held-out task named by its id
            task = held_out.tasks[text.strip()]
        elif not text.lstrip().startswith(("{", "[")):
            where = f"a held-out task id of {dataset}" if held_out is not None else "a task id (no dataset found to look it up in)"
            raise HrmError(f"{text.strip()[:40]!r} is neither an ARC task (JSON) nor {where}")
        else:
            task = read_task_text(text, name)
        return solve_task(model, meta, task, dataset=dataset, index=index, variants=variants, segments=segments)

    def format(self, result: ArcSolveResult) -> str:
        return format_result(result)

    def payload(self, result: ArcSolveResult) -> dict[str, Any]:
        return payload(result)

    def check_picture(self, out: Path) -> Path:
        return check_picture(out)

    def draw(self, result: ArcSolveResult, out: Path) -> Path:
        return draw(result, out)
