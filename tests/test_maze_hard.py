"""Maze-Hard data: the random-wall generator, the label rule, the compiled BFS, settings no maze can meet, the CSV
import, the evaluator.

The checks use their own BFS, shortest-path counter and label rule (below), not the library's.
"""

import csv
import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from hrmkit.cli import main
from hrmkit.data import build as B
from hrmkit.data.check import check_dataset
from hrmkit.data.codec import grid_encode
from hrmkit.data.format import DatasetError, load_dataset
from hrmkit.data.show import describe
from hrmkit.puzzles import maze as M
from hrmkit.puzzles import maze_bfs
from hrmkit.tasks import get_task

STEPS = ((-1, 0), (1, 0), (0, -1), (0, 1))


def plain_bfs(passable: np.ndarray, source: tuple[int, int]) -> dict[tuple[int, int], int]:
    h, w = passable.shape
    dist = {source: 0}
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in STEPS:
            nxt = (r + dr, c + dc)
            if 0 <= nxt[0] < h and 0 <= nxt[1] < w and passable[nxt] and nxt not in dist:
                dist[nxt] = dist[(r, c)] + 1
                queue.append(nxt)
    return dist


def count_paths(passable: np.ndarray, source: tuple[int, int]) -> tuple[dict, dict]:
    """(distances, exact number of shortest paths) from ``source``, by dynamic programming over BFS layers."""
    dist = plain_bfs(passable, source)
    ways = {source: 1}
    for cell in sorted(dist, key=dist.get):
        if cell != source:
            ways[cell] = sum(ways[(cell[0] + dr, cell[1] + dc)] for dr, dc in STEPS
                             if dist.get((cell[0] + dr, cell[1] + dc)) == dist[cell] - 1)
    return dist, ways


def rule_path(passable: np.ndarray, start: tuple[int, int], goal: tuple[int, int]) -> list[tuple[int, int]]:
    """The documented label rule: from S, step to the first of up, down, left, right one move closer to G."""
    to_goal = plain_bfs(passable, goal)
    path = [start]
    while path[-1] != goal:
        r, c = path[-1]
        path.append(next(n for n in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)) if to_goal.get(n) == to_goal[(r, c)] - 1))
    return path


def ends(maze: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]]:
    return tuple(map(int, np.argwhere(maze == M.START)[0])), tuple(map(int, np.argwhere(maze == M.GOAL)[0]))


def check_maze(r: M.MazeResult, size: int, min_path: int, unique: bool = True) -> None:
    """The label is the rule's shortest S->G path (with ``unique``: the only one), longer than ``min_path``; S and G
    on open cells."""
    maze = r.maze
    assert maze.shape == (size, size)
    assert set(np.unique(maze)) <= {M.WALL, M.OPEN, M.START, M.GOAL}
    starts, goals = np.argwhere(maze == M.START), np.argwhere(maze == M.GOAL)
    assert len(starts) == len(goals) == 1
    start, goal = tuple(map(int, starts[0])), tuple(map(int, goals[0]))
    dist, ways = count_paths(maze != M.WALL, start)
    assert dist[goal] == r.path_length > min_path
    if unique:
        assert ways[goal] == 1
    drawn = [p for p in rule_path(maze != M.WALL, start, goal)[1:-1]]
    assert sorted(drawn) == sorted(tuple(map(int, p)) for p in np.argwhere(r.solution == M.PATH))
    path = [tuple(map(int, p)) for p in np.argwhere(r.solution == M.PATH)]
    assert len(path) == r.path_length - 1
    assert all(maze[p] == M.OPEN for p in path)  # drawn on open cells only
    to_goal = plain_bfs(maze != M.WALL, goal)
    assert all(dist[p] + to_goal[p] == dist[goal] for p in path)  # every drawn cell lies on the shortest path
    assert np.array_equal(np.where(r.solution == M.PATH, M.OPEN, r.solution), maze)


# --------------------------------------------------------------------------- compiled BFS


def test_numba_bfs_agrees_with_plain_bfs_on_random_grids():
    rng = np.random.default_rng(0)
    for _ in range(150):
        size = int(rng.integers(3, 31))
        passable = rng.random((1, size, size)) >= rng.uniform(0.0, 0.6)
        start = tuple(int(v) for v in rng.integers(size, size=2))
        passable[0][start] = True
        dist, ways = maze_bfs.bfs_many(passable, np.array([start]))
        grid = np.where(passable[0], M.OPEN, M.WALL)
        assert np.array_equal(dist[0], M.distances(grid, start))
        exact_dist, exact_ways = count_paths(passable[0], start)
        for cell, d in exact_dist.items():
            assert dist[0][cell] == d and ways[0][cell] == min(exact_ways[cell], 2)
        assert (dist[0] >= 0).sum() == len(exact_dist)


def test_random_wall_scan_counts_far_cells_from_a_random_open_start():
    rng = np.random.default_rng(1)
    u = rng.random((300, 12, 12), dtype=np.float32)
    density = rng.uniform(0.2, 0.5, 300).astype(np.float32)
    far, starts = maze_bfs.random_wall_scan(u, density, 10)
    for i in range(300):
        passable = u[i] >= density[i]
        start = (int(starts[i, 0]), int(starts[i, 1]))
        assert passable[start] and u[i][start] == u[i][passable].max()
        assert far[i] == sum(d > 10 for d in plain_bfs(passable, start).values())
    assert 0 < (far > 0).sum() < 300  # both outcomes occur, so the check above means something


# --------------------------------------------------------------------------- random-wall generator


@pytest.mark.parametrize("size, min_path, count", [(30, 110, 4), (15, 30, 6), (10, 12, 6)])
@pytest.mark.parametrize("unique_path", [False, True])
def test_random_wall_mazes_have_a_long_shortest_path_labelled_by_the_rule(size, min_path, count, unique_path):
    mazes = M.generate_random_many(count, size, np.random.default_rng(size), min_path, unique_path=unique_path)
    for r in mazes:
        check_maze(r, size, min_path, unique=unique_path)
        assert M.path_errors(r.maze, r.solution) == []
    if size == 30 and not unique_path:  # long paths through random walls come with many shortest paths
        assert all(count_paths(r.maze != M.WALL, ends(r.maze)[0])[1][ends(r.maze)[1]] > 1 for r in mazes)


def path_neighbour_walls(r: M.MazeResult) -> tuple[int, int]:
    """(walls, cells) among the in-grid cells beside the label's path that are not on it."""
    on = (r.solution == M.PATH) | (r.solution == M.START) | (r.solution == M.GOAL)
    beside = np.zeros_like(on)
    beside[1:] |= on[:-1]
    beside[:-1] |= on[1:]
    beside[:, 1:] |= on[:, :-1]
    beside[:, :-1] |= on[:, 1:]
    beside &= ~on
    return int((r.maze[beside] == M.WALL).sum()), int(beside.sum())


def test_default_mazes_are_the_drawn_grids_and_walling_is_an_option():
    """The first maze of a seed is the same drawn grid with or without unique_path (the draws agree up to G), so
    the walled one shows exactly what walling adds, and the default adds nothing."""
    drawn, walled = [], []
    for seed in range(6):
        plain = M.generate_random_many(1, 30, np.random.default_rng(seed), 110)[0]
        unique = M.generate_random_many(1, 30, np.random.default_rng(seed), 110, unique_path=True)[0]
        assert ends(plain.maze) == ends(unique.maze) and plain.path_length == unique.path_length
        added = (unique.maze == M.WALL) & (plain.maze != M.WALL)
        assert not ((plain.maze == M.WALL) & (unique.maze != M.WALL)).any() and added.any()
        start, goal = ends(plain.maze)
        assert count_paths(plain.maze != M.WALL, start)[1][goal] > 1 == count_paths(unique.maze != M.WALL, start)[1][goal]
        drawn.append(path_neighbour_walls(plain))
        walled.append(path_neighbour_walls(unique))
    share = lambda counts: sum(w for w, _ in counts) / sum(n for _, n in counts)  # noqa: E731
    assert share(walled) > share(drawn) + 0.05  # the cue the walling plants beside the path


def test_random_wall_mazes_use_the_whole_grid():
    mazes = M.generate_random_many(6, 30, np.random.default_rng(2), 110)
    last_row = np.stack([m.maze[-1] for m in mazes])
    last_col = np.stack([m.maze[:, -1] for m in mazes])
    for edge in (last_row, last_col):
        assert (edge == M.WALL).any() and (edge != M.WALL).any()
    densities = [(m.maze == M.WALL).mean() for m in mazes]
    assert all(0.25 < d < 0.6 for d in densities)


def test_tie_breaking_leaves_one_shortest_path_of_the_same_length():
    passable = np.ones((7, 7), dtype=bool)  # a room split by a wall open at both ends: 56 shortest corner-to-corner paths
    passable[3, 1:6] = False
    start, goal = (0, 0), (6, 6)
    dist, ways = count_paths(passable, start)
    assert ways[goal] == 56
    rng = np.random.default_rng(3)
    path = M._random_shortest_path(M.distances(np.where(passable, M.OPEN, M.WALL), start), goal, rng)
    added = M._break_ties(passable, start, goal, path, rng)
    new_dist, new_ways = count_paths(passable, start)
    assert new_ways[goal] == 1 and new_dist[goal] == dist[goal] == len(path) - 1
    assert all(passable[p] for p in path) and added > 0


def test_random_wall_generation_is_deterministic_for_a_seed():
    a = M.generate_random_many(2, 20, np.random.default_rng(7), 40)
    b = M.generate_random_many(2, 20, np.random.default_rng(7), 40)
    assert all(np.array_equal(x.solution, y.solution) for x, y in zip(a, b))


def test_tree_mazes_of_even_size_reach_the_last_row_and_column():
    rng = np.random.default_rng(4)
    loops = (0.0, 0.0, 0.0, 0.2, 0.2, 0.2)
    mazes = [M.generate_tree(10, rng, 8, loop_fraction) for loop_fraction in loops]
    for r, loop_fraction in zip(mazes, loops):
        check_maze(r, 10, 8, unique=not loop_fraction)  # a spanning tree has one path between two cells
    assert any((r.maze[-1] != M.WALL).any() for r in mazes)
    assert any((r.maze[:, -1] != M.WALL).any() for r in mazes)


def test_presets_pick_the_styles():
    assert B.make_config("maze-hard-1k").style == "random"
    assert B.make_config("maze-9x9").style == B.make_config("maze-15x15").style == "tree"


def test_a_small_random_style_dataset_checks_out(tmp_path):
    ds = B.build(B.make_config("maze-hard-1k", train=3, test=2), tmp_path / "m", workers=1, progress=False)
    assert ds.metadata.seq_len == 900 and ds.metadata.build["config"]["style"] == "random"
    assert ds.metadata.build["config"]["unique_path"] is False
    assert check_dataset(load_dataset(tmp_path / "m")).ok
    card = ds.metadata.build
    assert card["label_rule"] == {"name": M.LABEL_RULE_NAME, "rule": M.LABEL_RULE}
    assert card["unique_shortest_path"] == {"train": {"unique": 0, "of": 3, "share": 0.0}, "test": {"unique": 0, "of": 2, "share": 0.0}}
    shown = describe(load_dataset(tmp_path / "m"))
    assert f"label: the shortest path of rule {M.LABEL_RULE_NAME}: {M.LABEL_RULE}" in shown
    assert "train: 0 of 3 mazes have a unique shortest path (share 0.0)" in shown


def test_augmented_labels_follow_the_rule_and_data_check_holds_labels_to_it(tmp_path):
    ds = B.build(B.make_config("maze", size=12, min_path=20, train=3, test=2, aug=True), tmp_path / "m", workers=1, progress=False)
    inputs, labels = decoded(ds, "train")
    assert len(inputs) > 3
    for q, a in zip(inputs, labels):
        start, goal = ends(q)
        assert sorted(rule_path(q != M.WALL, start, goal)[1:-1]) == sorted(map(tuple, np.argwhere(a == M.PATH).tolist()))
    assert check_dataset(ds).ok
    # Another shortest path as the label: a valid answer (check_answer), but not the rule's (data check).
    arrays, meta = ds.splits["test"], ds.metadata
    maze, label = decoded(ds, "test")[0][0], decoded(ds, "test")[1][0]
    other = other_shortest_path(maze, label)
    task = get_task("maze")
    assert task.check_answer(np.asarray(arrays.inputs[0]), grid_encode(other), meta) is True
    faults = task.label_faults(np.asarray(arrays.inputs[:1]), grid_encode(other)[None], meta)
    assert faults.tolist() == [True]
    assert task.label_faults(np.asarray(arrays.inputs[:1]), np.asarray(arrays.labels[:1]), meta).tolist() == [False]


def other_shortest_path(maze: np.ndarray, label: np.ndarray) -> np.ndarray:
    """A shortest path other than ``label``'s: the rule with the step order reversed (left, right, down, up)."""
    start, goal = ends(maze)
    to_goal = plain_bfs(maze != M.WALL, goal)
    path = [start]
    while path[-1] != goal:
        r, c = path[-1]
        path.append(next(n for n in ((r, c + 1), (r, c - 1), (r + 1, c), (r - 1, c)) if to_goal.get(n) == to_goal[(r, c)] - 1))
    other = M.draw_path(maze, path)
    assert not np.array_equal(other, label)
    return other


# --------------------------------------------------------------------------- settings no maze can meet


def test_the_geometric_bound_holds_on_every_3x3_grid():
    assert (M.longest_possible_path(2), M.longest_possible_path(3), M.longest_possible_path(5)) == (2, 7, 20)
    longest = 0
    for bits in range(2**9):
        passable = np.array([(bits >> i) & 1 for i in range(9)], dtype=bool).reshape(3, 3)
        for source in map(tuple, np.argwhere(passable)):
            longest = max(longest, *plain_bfs(passable, source).values())
    assert longest == 6 <= M.longest_possible_path(3)  # the S-bend through 7 cells


def one_line_error(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err.strip()


def test_cli_refuses_a_path_no_maze_of_that_size_has(tmp_path, capsys):
    err = one_line_error(capsys, ["data", "build", "maze", "--size", "5", "--min-path", "50", "--out", str(tmp_path / "x")])
    assert err == ("error: min_path: no 5x5 maze has a shortest path longer than 20 moves; "
                   "use a min_path (--min-path) below 20 or a larger size (--size) (got 50)")
    assert not (tmp_path / "x").exists()
    assert one_line_error(capsys, ["data", "build", "maze", "--size", "8", "--out", str(tmp_path / "x")]).startswith(
        "error: min_path: no 8x8 maze has a shortest path longer than 47 moves")  # the default min_path, 110


def test_cli_gives_up_after_bounded_tries(tmp_path, capsys):
    # 17 moves fit in a 5x5 grid, but a 5x5 spanning-tree maze has no path longer than 16.
    err = one_line_error(capsys, ["data", "build", "maze", "--style", "tree", "--size", "5", "--min-path", "17", "--workers", "2",
                                  "--quiet", "--out", str(tmp_path / "x")])
    assert err == "error: no 5x5 tree maze with a shortest path longer than 17 moves found in 1000 tries; " \
                  "lower min_path (--min-path) or raise size (--size)"
    with pytest.raises(M.MazeError, match=r"no 8x8 random-wall maze with a shortest path longer than 40 moves found in \d+ tries"):
        M.generate_random_many(1, 8, np.random.default_rng(0), 40, max_tries=5000)


def test_cli_rejects_settings_of_the_other_style(tmp_path, capsys):
    out = str(tmp_path / "x")
    assert one_line_error(capsys, ["data", "build", "maze", "--loops", "0.1", "--out", out]) == \
        "error: loops: applies to style tree only (--style tree) (got 0.1)"
    assert one_line_error(capsys, ["data", "build", "maze", "--style", "tree", "--walls", "0.3", "0.4", "--out", out]) == \
        "error: walls: applies to style random only (--style random) (got [0.3, 0.4])"


# --------------------------------------------------------------------------- official CSV import


def write_csv(path, mazes: list[M.MazeResult], bad: dict[int, tuple[str, str]] | None = None) -> None:
    """The official layout: source,question,answer,rating; each grid written row after row."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["source", "question", "answer", "rating"])
        for i, r in enumerate(mazes):
            q, a = M.format_maze(r.maze).replace("\n", ""), M.format_maze(r.solution).replace("\n", "")
            writer.writerow(["test-source", *(bad or {}).get(i, (q, a)), r.path_length])


def decoded(ds, split: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    arrays = ds.splits[split]
    to_grid = lambda t: t.reshape(ds.metadata.grid_shape).astype(np.int8) - 1  # noqa: E731 - tokens 1..5 = "# SGo"
    return [to_grid(t) for t in arrays.inputs], [to_grid(t) for t in arrays.labels]


@pytest.fixture(scope="module")
def csv_mazes() -> list[M.MazeResult]:
    return M.generate_random_many(7, 30, np.random.default_rng(5), 110)


def test_csv_import_keeps_every_row_in_order_with_the_preset_settings(tmp_path, csv_mazes, capsys):
    write_csv(tmp_path / "train.csv", csv_mazes[:3])
    write_csv(tmp_path / "test.csv", csv_mazes[3:])
    out = tmp_path / "data"
    assert main(["data", "build", "maze-hard-1k", "--csv-dir", str(tmp_path), "--out", str(out), "--quiet"]) == 0
    ds = load_dataset(out)
    for split, mazes in (("train", csv_mazes[:3]), ("test", csv_mazes[3:])):
        inputs, labels = decoded(ds, split)
        assert len(inputs) == ds.metadata.splits[split].total_groups == len(mazes)  # no augmentation, no subsample
        for r, q, a in zip(mazes, inputs, labels):
            assert np.array_equal(q, r.maze) and np.array_equal(a, r.solution)
    card = ds.metadata.build["difficulty"]["test"]["path_length"]  # the data card's path-length summary
    assert card["mean"] == round(float(np.mean([r.path_length for r in csv_mazes[3:]])), 2)
    assert card["count"] == len(csv_mazes[3:]) and ds.metadata.build["source"]["kind"] == "imported"
    assert check_dataset(ds).ok
    told = B.build(B.make_config("maze-hard-1k", csv_dir=str(tmp_path), aug=True, test=2), tmp_path / "told", workers=1, progress=False)
    assert told.metadata.splits["train"].total_examples == 3 * 8 and told.metadata.splits["test"].total_groups == 2


@pytest.mark.parametrize("fault, message", [
    ("short", "question has 899 cells, not a square grid"),
    ("char", "invalid character 'x' at row 1, column 1"),
    ("wall", "answer is not the question with a path drawn: row"),
    ("no-goal", "expected exactly one goal ('G'), found 0"),
])
def test_csv_import_names_file_and_line_of_a_malformed_row(tmp_path, csv_mazes, capsys, fault, message):
    q, a = (M.format_maze(g).replace("\n", "") for g in (csv_mazes[1].maze, csv_mazes[1].solution))
    wall = q.index("#")
    bad = {"short": (q[:-1], a), "char": ("x" + q[1:], a), "wall": (q, a[:wall] + "o" + a[wall + 1:]),
           "no-goal": (q.replace("G", " "), a.replace("G", " "))}[fault]
    write_csv(tmp_path / "train.csv", csv_mazes[:3], bad={1: bad})
    write_csv(tmp_path / "test.csv", csv_mazes[3:])
    with pytest.raises(DatasetError) as e:
        B.build(B.make_config("maze-hard-1k", csv_dir=str(tmp_path)), tmp_path / "d", workers=1, progress=False)
    assert str(e.value).startswith(f"{tmp_path / 'train.csv'}:3: {message}")
    err = one_line_error(capsys, ["data", "build", "maze-hard-1k", "--csv-dir", str(tmp_path), "--out", str(tmp_path / "d")])
    assert err.startswith(f"error: {tmp_path / 'train.csv'}:3: ")
    assert not (tmp_path / "d").exists()


# --------------------------------------------------------------------------- the evaluator


@pytest.fixture(scope="module")
def small_maze_data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("maze-eval") / "data"
    B.build(B.make_config("maze", size=12, min_path=20, train=2, test=4), out, workers=1, progress=False)
    return out


def crafted_predictions(ds, rows: np.ndarray) -> np.ndarray:
    """Row 0: the label; row 1: another shortest path; row 2: a path cell on a wall; row 3: padding on a wall cell."""
    inputs, labels = decoded(ds, "test")
    out = []
    for row in rows:
        maze, label = inputs[row], labels[row]
        if row % 4 == 0:
            grid = label
        elif row % 4 == 1:
            grid = other_shortest_path(maze, label)
        else:
            grid = label.copy()
            grid[tuple(np.argwhere(maze == M.WALL)[0])] = M.PATH
        tokens = grid_encode(grid)
        if row % 4 == 3:
            tokens = grid_encode(label)
            tokens[np.flatnonzero(grid_encode(maze) == M.WALL + 1)[0]] = 0
        out.append(tokens)
    return np.stack(out).astype(np.uint8)


def test_evaluator_counts_exact_labels_and_any_shortest_path_and_merges(small_maze_data):
    ds = load_dataset(small_maze_data)
    task = get_task("maze")
    whole = task.make_evaluator(ds["test"], ds.metadata, ds.identifiers, ds.path)
    rows = np.arange(4, dtype=np.int64)
    whole.update(rows, crafted_predictions(ds, rows), np.zeros(4, dtype=np.float32))
    assert whole.metrics() == {"maze/exact_label_accuracy": 0.25, "maze/shortest_path_accuracy": 0.5}
    assert whole.summary() == ["maze: exact-label accuracy 0.2500 (1 of 4), valid shortest path accuracy 0.5000 (2 of 4; "
                               "any shortest S-G path counts)"]
    # Two processes, each with half the rows (as under DDP): rank 0 merges the other's state, pickled as gather_object sends it.
    import pickle

    parts = [task.make_evaluator(ds["test"], ds.metadata, ds.identifiers, ds.path) for _ in range(2)]
    for part, half in zip(parts, (rows[::2], rows[1::2])):
        part.update(half, crafted_predictions(ds, half), np.zeros(len(half), dtype=np.float32))
    parts[0].merge([pickle.loads(pickle.dumps(parts[1].state()))])
    assert parts[0].metrics() == whole.metrics()
    assert task.headline_metrics == {"maze/shortest_path_accuracy": "shortest-path accuracy"}


def test_hrm_eval_reports_both_accuracies(small_maze_data, tmp_path, capsys, monkeypatch):
    from tiny_checkpoint import make_checkpoint, tiny_trm

    from hrmkit.cli import eval_line
    from hrmkit.tasks.maze_eval import MazeEvaluator

    ds = load_dataset(small_maze_data)
    run = make_checkpoint(tmp_path / "run", small_maze_data, tiny_trm())
    update = MazeEvaluator.update
    # An untrained model gets nothing right; feed the evaluator known answers instead of its predictions.
    monkeypatch.setattr(MazeEvaluator, "update", lambda self, rows, preds, q: update(self, rows, crafted_predictions(ds, rows), q))
    out = tmp_path / "report.json"
    assert main(["eval", str(run), str(small_maze_data), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "maze: exact-label accuracy 0.2500 (1 of 4), valid shortest path accuracy 0.5000 (2 of 4;" in printed
    report = json.loads(out.read_text())
    assert report["maze/exact_label_accuracy"] == 0.25 and report["maze/shortest_path_accuracy"] == 0.5
    assert eval_line(report, "maze").endswith(", shortest-path accuracy 0.5000")
