"""How ARC grids are shown: as digits (in the terminal, in ARC's colours where it has them), side by side under
titles, and as a picture; ARC's two palettes live here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hrmkit.tasks.arc.grids import COLOUR0, NUM_COLOURS, crop

# ARC's colours 0..9 as xterm-256 codes for the terminal (0 dark grey, to show on black)
TERMINAL_COLOURS = (240, 33, 196, 40, 226, 250, 201, 208, 117, 88)
# ARC's standard palette for pictures (as the ARC-AGI testing interface draws colours 0..9)
PICTURE_COLOURS = ("#000000", "#0074D9", "#FF4136", "#2ECC40", "#FFDC00", "#AAAAAA", "#F012BE", "#FF851B", "#7FDBFF", "#870C25")

TitledGrid = tuple[str, np.ndarray | None]  # a picture cell: its title and its grid (None or 0x0: no grid drawn)


def tokens_grid(tokens: np.ndarray, canvas: int) -> np.ndarray | None:
    """The grid a token canvas holds, wherever it sits (training examples are translated); None when it holds no
    colour (an unknown test output). Scoring uses ``grids.crop`` at the top-left, as the reference evaluators."""
    t = np.asarray(tokens).reshape(canvas, canvas)
    colour = (t >= COLOUR0) & (t < COLOUR0 + NUM_COLOURS)
    if not colour.any():
        return None
    r0, c0 = int(np.argmax(colour.any(1))), int(np.argmax(colour.any(0)))
    shifted = np.zeros_like(t)
    shifted[: canvas - r0, : canvas - c0] = t[r0:, c0:]
    return crop(shifted.ravel(), canvas)


def grid_text(grid: np.ndarray | None, colour: bool = False) -> str:
    """A grid as space-separated digits, each in its terminal colour when ``colour``."""
    if grid is None:
        return "(unknown)"
    if not grid.size:
        return "(empty)"
    if not colour:
        return "\n".join(" ".join(str(int(v)) for v in row) for row in grid)
    return "\n".join(" ".join(f"\x1b[38;5;{TERMINAL_COLOURS[int(v)]}m{int(v)}\x1b[0m" for v in row) for row in grid)


def format_grid(grid: np.ndarray) -> str:
    """A grid as rows of digits with no spaces."""
    return "\n".join("".join(str(int(v)) for v in row) for row in np.asarray(grid)) if np.size(grid) else "(empty)"


def side_by_side(blocks: list[tuple[str, np.ndarray]], gap: int = 4) -> str:
    """Grids as digit rows next to each other, each under its title."""
    columns = [[title, *format_grid(g).splitlines()] for title, g in blocks]
    widths = [max(len(line) for line in col) for col in columns]
    height = max(len(col) for col in columns)
    lines = []
    for r in range(height):
        parts = [(col[r] if r < len(col) else "").ljust(w) for col, w in zip(columns, widths)]
        lines.append((" " * gap).join(parts).rstrip())
    return "\n".join(lines)


def picture(rows: list[list[TitledGrid]], title: str, out: Path) -> Path:
    """Rows of titled grids in ARC's colours, cell lines drawn, to a PNG at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    from hrmkit.viz import save_figure

    cols = max(len(row) for row in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.3 * cols, 2.4 * len(rows)), squeeze=False)
    cmap = ListedColormap(list(PICTURE_COLOURS))
    for ax_row, row in zip(axes, rows):
        for ax, cell in zip(ax_row, row + [("", None)] * (cols - len(row))):
            name, g = cell
            ax.set_xticks([])
            ax.set_yticks([])
            if g is None or g.size == 0:
                ax.axis("off")
                if name:
                    ax.set_title(name, fontsize=8)
                continue
            ax.imshow(g, cmap=cmap, vmin=0, vmax=9, interpolation="nearest")
            ax.set_xticks(np.arange(-0.5, g.shape[1], 1), minor=True)
            ax.set_yticks(np.arange(-0.5, g.shape[0], 1), minor=True)
            ax.grid(which="minor", color="#555555", linewidth=0.5)
            ax.tick_params(which="both", bottom=False, left=False)
            ax.set_title(name, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out, dpi=100)
