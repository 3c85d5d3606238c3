"""The ARC data card as ``hrm data show`` prints it (the card itself is written by ``build``)."""

from __future__ import annotations

from typing import Any

from hrmkit.tasks.arc.layout import protocol_meaning


def card_lines(build: dict[str, Any]) -> list[str]:
    """The lines of ARC's own data-card entries; each entry printed is popped from ``build`` (the rest is printed
    generically), and one missing or of another shape (files get edited) is left there."""
    lines = []
    protocol = build.get("protocol")
    if isinstance(protocol, str):
        build.pop("protocol")
        build.pop("protocol_rule", None)
        lines.append(f"  protocol: {protocol}: {protocol_meaning(protocol)}")
    source = build.get("source")
    if isinstance(source, dict) and isinstance(source.get("description"), str):
        build.pop("source")
        lines.append(f"  source: {source['description']}")
    tasks, left_out, read = build.get("tasks"), build.get("left_out"), build.get("tasks_read")
    if isinstance(tasks, dict) and isinstance(left_out, dict) and isinstance(read, dict):
        for key in ("tasks", "left_out", "tasks_read", "tasks_rule"):
            build.pop(key, None)
        held = build.pop("eval_subset", None)
        parts = []
        for name, n in tasks.items():
            out = left_out.get(name)
            large = out.get("count", 0) if isinstance(out, dict) else 0
            parts.append(f"{name} {n} of {read.get(name, '?')}{' (held out)' if name == held else ''}"
                         + (f", {large} too large for the canvas" if large else ""))
        lines.append(f"  tasks: {'; '.join(parts)}")
    variants = build.get("variants_per_task")
    if all(isinstance(build.get(k), int) for k in ("canvas", "num_aug", "seed")) and isinstance(variants, dict):
        build.pop("variants_per_task")
        canvas, num_aug, seed = build.pop("canvas"), build.pop("num_aug"), build.pop("seed")
        lines.append(f"  canvas {canvas}x{canvas}, num_aug {num_aug} (variants per task incl. the original: min {variants.get('min')}, "
                     f"mean {variants.get('mean')}, max {variants.get('max')}), seed {seed}")
    for split in ("train", "test"):
        counts = build.get(split)
        if isinstance(counts, dict) and all(isinstance(counts.get(k), int) for k in ("tasks", "puzzles", "examples")):
            build.pop(split)
            extra = {"train": f", {counts.get('test_pairs_without_output_left_out', 0)} test pairs without output left out",
                     "test": f", {counts.get('test_pairs', '?')} test pairs ({counts.get('unknown_outputs', 0)} with unknown output)"}[split]
            lines.append(f"  {split}: {counts['tasks']} tasks, {counts['puzzles']} puzzles (variants), {counts['examples']} examples{extra}")
    return lines
