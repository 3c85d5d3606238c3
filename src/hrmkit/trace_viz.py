"""A solve trace as a picture: the grid after each ACT segment, side by side (PNG) or one per frame (GIF).

Colours carry the roles, so the picture reads without text on large grids (30x30 mazes):
cells equal to the puzzle are white (walls dark), cells the model wrote are blue, and cells that
changed since the previous segment are yellow.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from hrmkit.atomic import atomic_file, check_writable
from hrmkit.data.format import DatasetMetadata
from hrmkit.errors import HrmError
from hrmkit.solve import SolveTrace
from hrmkit.tasks import get_task
from hrmkit.viz import save_figure

PANEL_INCHES = (2.2, 2.5)  # one segment's panel; a PNG is a grid of them
DPI = 100
MAX_COLUMNS = 6
TEXT_UP_TO = 16  # grids wider than this are drawn by colour alone
GIF_SECONDS_PER_FRAME = 0.8

_WHITE, _WALL = (1.0, 1.0, 1.0), (0.25, 0.25, 0.28)
_WRITTEN, _CHANGED = (0.78, 0.87, 1.0), (1.0, 0.86, 0.45)
_WALL_CHARS = {"#"}


def frame_count(trace: SolveTrace) -> int:
    """Panels in a PNG and frames in a GIF: the puzzle, then one per segment."""
    return 1 + len(trace.segments)


def _draw(ax: Axes, trace: SolveTrace, meta: DatasetMetadata, frame: int) -> None:
    task = get_task(meta.task)
    h, w = meta.grid_shape
    puzzle = task.cells(trace.puzzle, meta)
    if frame == 0:
        cells, previous, title = puzzle, puzzle, "puzzle"
    else:
        s = trace.segments[frame - 1]
        cells = task.cells(s.prediction, meta)
        previous = puzzle if frame == 1 else task.cells(trace.segments[frame - 2].prediction, meta)
        verdict = {True: "valid", False: "not valid", None: "unchecked"}[s.valid]
        title = f"segment {s.segment}: {'HALT' if s.halts else 'go on'}\nP(halt) {s.q_halt_prob:.2f}, {verdict}"
    colours = np.empty((h, w, 3))
    for i, ch in enumerate(cells):
        if frame and ch != previous[i]:
            colour = _CHANGED
        elif ch != puzzle[i]:
            colour = _WRITTEN
        else:
            colour = _WALL if ch in _WALL_CHARS else _WHITE
        colours[i // w, i % w] = colour
    ax.imshow(colours, interpolation="nearest")
    if w <= TEXT_UP_TO:
        size = 90 / max(h, w)
        for i, ch in enumerate(cells):
            if ch.strip() and ch not in _WALL_CHARS and ch != ".":
                given = ch == puzzle[i]
                ax.text(i % w, i // w, ch, ha="center", va="center", fontsize=size,
                        color="black" if given else "#1f4fa0", fontweight="bold" if given else "normal")
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="#999999", linewidth=0.5 if w <= TEXT_UP_TO else 0)
    ax.tick_params(which="both", bottom=False, left=False, labelbottom=False, labelleft=False)
    ax.set_title(title, fontsize=9)


def _write_png(trace: SolveTrace, meta: DatasetMetadata, out: Path) -> None:
    n = frame_count(trace)
    cols = min(n, MAX_COLUMNS)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_INCHES[0] * cols, PANEL_INCHES[1] * rows), squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k < n:
            _draw(ax, trace, meta, k)
        else:
            ax.axis("off")
    save_figure(fig, out, dpi=DPI)


def _write_gif(trace: SolveTrace, meta: DatasetMetadata, out: Path) -> None:
    from matplotlib.animation import PillowWriter

    fig, ax = plt.subplots(figsize=PANEL_INCHES)
    writer = PillowWriter(fps=1 / GIF_SECONDS_PER_FRAME)
    try:
        with atomic_file(out) as tmp, writer.saving(fig, str(tmp), DPI):
            for k in range(frame_count(trace)):
                ax.clear()
                _draw(ax, trace, meta, k)
                writer.grab_frame()
    finally:
        plt.close(fig)


_WRITERS = {".png": _write_png, ".gif": _write_gif}


def check_trace_path(out: str | os.PathLike) -> Path:
    """A picture path we can write, or a one-line HrmError."""
    out = Path(out)
    if out.suffix.lower() not in _WRITERS:
        raise HrmError(f"--trace-out {out}: give a .png or .gif file name")
    if not out.parent.is_dir():
        raise HrmError(f"--trace-out {out}: folder {out.parent} does not exist")
    check_writable(out, file=True)  # a read-only folder is found before the model runs, not after
    return out


def write_trace_picture(trace: SolveTrace, meta: DatasetMetadata, out: str | os.PathLike) -> Path:
    """Draw ``trace`` to ``out``: a .png with one panel per frame, or a .gif with one frame each."""
    out = check_trace_path(out)
    _WRITERS[out.suffix.lower()](trace, meta, out)
    return out
