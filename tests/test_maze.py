import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from property_settings import budget

from hrmkit.puzzles import maze as M
from hrmkit.puzzles.grid import DIHEDRAL_INVERSE, dihedral, inverse_dihedral

SMALL = "\n".join(["S  #", "## #", "#   ", "###G"])


def test_parse_format_round_trip_and_errors():
    grid = M.parse(SMALL)
    assert M.format_maze(grid) == SMALL
    with pytest.raises(M.MazeError, match="row 2 has 3 cells, expected 4"):
        M.parse("S  #\n## \n   #")
    with pytest.raises(M.MazeError, match="invalid character 'x' at row 1, column 2"):
        M.parse("Sx #")


def test_bfs_shortest_path_on_a_known_maze():
    grid = M.parse(SMALL)
    path = M.shortest_path(grid)
    assert path == [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 3), (3, 3)]
    assert M.distances(grid, (0, 0))[3, 3] == 6
    assert M.path_errors(grid, M.draw_path(grid, path)) == []


def test_unreachable_goal():
    grid = M.parse("S#G")
    assert M.shortest_path(grid) is None
    assert M.count_shortest_paths(grid) == 0


def test_count_shortest_paths():
    open_room = M.parse("S  \n   \n  G")
    assert M.count_shortest_paths(open_room, cap=100) == 6  # C(4, 2) monotone lattice paths
    assert M.count_shortest_paths(M.parse("S  G")) == 1


def test_validator_rejects_bad_paths():
    grid = M.parse("S   \n ## \n   G")
    good = M.draw_path(grid, M.shortest_path(grid))
    assert M.path_errors(grid, good) == []
    broken = good.copy()
    broken[np.argwhere(good == M.PATH)[0][0], np.argwhere(good == M.PATH)[0][1]] = M.OPEN
    assert any("ends" in e for e in M.path_errors(grid, broken))
    through_wall = grid.copy()
    through_wall[1, 1] = M.PATH
    assert any("changed" in e for e in M.path_errors(grid, through_wall))
    room = M.parse("S  \n   \n  G")
    winding = room.copy()
    for r, c in [(1, 0), (1, 1), (0, 1), (0, 2), (1, 2)]:  # S down, right, up, right, down to G: 6 moves, shortest is 4
        winding[r, c] = M.PATH
    assert any("branches" in e or "not the shortest" in e for e in M.path_errors(room, winding))
    snake = M.parse("S#   \n # # \n   #G")  # the only way is long: valid
    long_way = snake.copy()
    for r, c in [(1, 0), (2, 0), (2, 1), (2, 2), (1, 2), (0, 2), (0, 3), (0, 4), (1, 4)]:
        long_way[r, c] = M.PATH
    assert M.path_errors(snake, long_way) == []
    stray = room.copy()
    for r, c in [(0, 1), (0, 2), (1, 2), (2, 0)]:  # a shortest path plus a stray cell far from it
        stray[r, c] = M.PATH
    assert M.path_errors(room, stray) == ["path cells off the S-G chain"]


@pytest.mark.parametrize("size, min_path, loops", [(9, 8, 0.0), (15, 30, 0.1), (30, 110, 0.0)])
def test_tree_generator_gives_long_shortest_paths_unique_when_asked(size, min_path, loops):
    rng = np.random.default_rng(0)
    for unique_path in (True, False):
        for _ in range(3):
            r = M.generate(size, rng, min_path, loops, unique_path=unique_path)
            assert r.maze.shape == (size, size)
            assert r.path_length > min_path
            if unique_path or not loops:  # without loops a tree maze has one path only
                assert M.count_shortest_paths(r.maze) == 1
            assert np.array_equal(r.solution, M.label_solution(r.maze))
            assert M.path_errors(r.maze, r.solution) == []
            assert (r.solution == M.PATH).sum() == r.path_length - 1


def test_generator_errors_clearly():
    with pytest.raises(M.MazeError, match="no 5x5 maze has a shortest path longer than 20 moves"):
        M.generate(5, np.random.default_rng(0), min_path_length=100, max_tries=5)
    with pytest.raises(M.MazeError, match="no 5x5 tree maze with a shortest path longer than 17 moves found in 5 tries"):
        M.generate(5, np.random.default_rng(0), min_path_length=17, max_tries=5)
    with pytest.raises(M.MazeError, match="unknown maze style 'spiral'"):
        M.generate(9, np.random.default_rng(0), 8, style="spiral")


@budget(20)
@given(seed=st.integers(0, 10_000), tid=st.integers(0, 7))
def test_dihedral_transforms_preserve_solutions_and_invert(seed, tid):
    r = M.generate(9, np.random.default_rng(seed), 6, 0.1)
    maze, solution = M.transform(r.maze, tid), M.transform(r.solution, tid)
    assert M.path_errors(maze, solution) == []
    assert np.array_equal(inverse_dihedral(maze, tid), r.maze)
    assert np.array_equal(dihedral(dihedral(r.maze, tid), DIHEDRAL_INVERSE[tid]), r.maze)


def test_the_eight_transforms_are_distinct():
    g = np.arange(9).reshape(3, 3)
    images = {dihedral(g, t).tobytes() for t in range(8)}
    assert len(images) == 8
