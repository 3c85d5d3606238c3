"""A dataset as text: what it is, how it was made (its data card), and examples beside their labels."""

from __future__ import annotations

import json
import re
from itertools import zip_longest
from typing import Any

import numpy as np

from hrmkit.data.format import Dataset
from hrmkit.errors import HrmError
from hrmkit.tasks import Task, get_task


def source_line(source: Any) -> str | None:
    """How a dataset was made, in one line, from its data card's "source": an import (which files) or a generator."""
    if not isinstance(source, dict):
        return None
    if isinstance(source.get("description"), str):
        return source["description"]
    kind = source.get("kind", "?")
    if kind == "imported":
        files = ", ".join(_file_text(k, v) for k, v in source.items() if isinstance(v, dict))
        return f"import from {source.get('folder')}: {files}"
    if kind == "generated":
        return f"hrmkit's generator: {source.get('generator', '')}"
    return f"{kind}: {source.get('generator', '')}"


def describe(ds: Dataset) -> str:
    """The dataset's data card: what it holds, how it was made (generator or import, settings, seed,
    difficulty distribution), and its content hash, so that a result can be traced to its data."""
    meta = ds.metadata
    lines = [f"{ds.path}: task {meta.task}, grid {meta.grid_shape[0]}x{meta.grid_shape[1]}, seq_len {meta.seq_len}, "
             f"vocab {meta.vocab_size} {meta.tokens}, puzzle ids {meta.num_puzzle_identifiers}"]
    lines += [f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples"
              for name, info in meta.splits.items()]
    build = dict(meta.build)
    task = _task_or_none(meta.task)
    if task is not None:
        lines += task.card_lines(build)
    made_by = source_line(build.pop("source", None))
    if made_by is not None:
        lines.append(f"  made by: {made_by}")
    config = build.pop("config", None)
    if isinstance(config, dict):
        lines.append("  settings: " + ", ".join(f"{k}={v}" for k, v in config.items()))
    difficulty = build.pop("difficulty", None)
    if isinstance(difficulty, dict):
        lines.append(f"  difficulty ({difficulty.get('measure', 'per puzzle')}):")
        for split in ("train", "test"):
            for name, summary in _entries(difficulty.get(split)):
                lines.append(f"    {split} {name}: {_summary_text(summary)}")
        for split, summary in _entries(difficulty.get("csv_rating")):
            lines.append(f"    {split} rating column of the CSV file: {_summary_text(summary)}")
    if "build_seconds" in build:
        lines.append(f"  built in {build.pop('build_seconds')} s by hrmkit {build.pop('hrmkit_version', '?')}")
    if build:
        lines.append(f"  other: {json.dumps(build)}")
    lines.append(f"  content hash: {meta.content_hash}")
    return "\n".join(lines)


# The data card (metadata.json "build") is free-form JSON that a person may edit: every value is rendered as what it
# is, never formatted on the assumption that it is a number or present.


def _number(value: object) -> str:
    """A number as ``:g``; anything else (a string, null, a list, an absent entry) as JSON, so an edit shows as it is."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:g}"
    return "?" if value is None else json.dumps(value)


def _summary_text(summary: object) -> str:
    if not isinstance(summary, dict) or not summary.get("count"):
        return "none"
    return f"n={_number(summary['count'])} " + ", ".join(f"{name} {_number(summary.get(name))}"
                                                          for name in ("median", "mean", "p10", "p90", "min", "max"))


def _entries(value: object) -> list[tuple[str, object]]:
    return list(value.items()) if isinstance(value, dict) else []


def _file_text(name: str, entry: dict) -> str:
    sha, size = entry.get("sha256"), entry.get("bytes")
    return f"{name} (sha256 {sha[:16] + '...' if isinstance(sha, str) else _number(sha)}, {_number(size)} bytes)"


def _task_or_none(name: str) -> Task | None:
    try:
        return get_task(name)
    except HrmError:  # describe() prints what it can; examples() and `hrm data check` name the unknown task
        return None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _visible(text: str) -> int:
    return len(_ANSI.sub("", text))


def examples(ds: Dataset, split: str, n: int, colour: bool = False) -> str:
    """The first ``n`` examples of a split, input beside label (``colour``: ANSI colours where the task has them).
    When the puzzles have names (identifiers.json), each example says which puzzle it belongs to."""
    if n < 0:
        raise HrmError(f"-n must be 0 or more, got {n}")
    task = get_task(ds.metadata.task)
    arrays = ds[split]
    named = len(ds.identifiers) > 1
    out = []
    for i in range(min(n, arrays.num_examples)):
        left = task.show(np.asarray(arrays.inputs[i]), ds.metadata, colour).splitlines()
        right = task.show(np.asarray(arrays.labels[i]), ds.metadata, colour).splitlines()
        width = max((_visible(line) for line in left), default=0)
        if named:  # e.g. an ARC variant: "<task id>|||t<k>|||<colour map>"
            puzzle = int(np.searchsorted(np.asarray(arrays.puzzle_indices), i, side="right")) - 1
            ident = int(arrays.puzzle_identifiers[puzzle])
            out.append(f"\n{split} example {i}, puzzle {ds.identifiers[ident] if 0 <= ident < len(ds.identifiers) else ident}:")
            width = max(width, len("input:"))
            out.append("input:".ljust(width + 3) + "label:")
        else:
            out.append(f"\n{split} example {i}:".ljust(width + 4) + "label:")
        out += [f"{a}{' ' * (width - _visible(a))}   {b}" for a, b in zip_longest(left, right, fillvalue="")]
    return "\n".join(out)
