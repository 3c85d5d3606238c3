"""Numeric options below their smallest sensible value stop with one line and exit 2, before any work is done."""

import pytest

from hrmkit.cli import main

CASES = [
    (["data", "build", "sudoku", "--train", "0", "--test", "0"], "--train must be at least 1, got 0"),
    (["data", "build", "maze", "--test", "-2"], "--test must be at least 1, got -2"),
    (["data", "build", "sudoku", "--num-aug", "-1"], "--num-aug must be at least 0, got -1"),
    (["data", "show", "nowhere", "-n", "-3"], "-n must be at least 0, got -3"),
    (["train", "demo", "--max-steps", "-5"], "--max-steps must be at least 1, got -5"),
    (["eval", "runs/x", "data/x", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--steps", "0"], "--steps must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--steps", "0,2"], "--steps must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--steps", "1,-4"], "--steps must be at least 1, got -4"),
    (["eval", "runs/x", "data/x", "--steps", "1,99999999"], "--steps must be at most 4096, got 99999999"),
    (["eval", "runs/x", "data/x", "--steps", "a,b"], "--steps: 'a' is not a whole number (give e.g. --steps 8 or --steps 1,2,4,8)"),
    (["eval", "runs/x", "data/x", "--steps", "1,,4"], "--steps: '' is not a whole number (give e.g. --steps 8 or --steps 1,2,4,8)"),
    (["eval", "runs/x", "data/x", "--steps", ""], "--steps: give a number of ACT segments or a comma-separated list such as 1,2,4,8"),
    (["eval", "runs/x", "data/x", "--steps", " , "], "--steps: give a number of ACT segments or a comma-separated list such as 1,2,4,8"),
    (["solve", "runs/x", "1234", "--steps", "-1"], "--steps must be at least 1, got -1"),
    (["solve", "runs/x", "1234", "--steps", "5000"], "--steps must be at most 4096, got 5000"),
    (["demo", "--max-steps", "-1"], "--max-steps must be at least 1, got -1"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_out_of_range_options_are_refused_in_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {message}"
    assert list(tmp_path.iterdir()) == []  # nothing was written
