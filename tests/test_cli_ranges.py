"""Numeric options below their smallest sensible value stop with one line and exit 2, before any work is done."""

import pytest

from hrmkit.cli import main

CASES = [
    # `hrm data build`'s task settings: the bounds of the task's own build config, named by the flag.
    (["data", "build", "maze", "--test", "-2"], "--test must be at least 0, got -2"),
    (["data", "build", "sudoku", "--num-aug", "-1"], "--num-aug must be at least 0, got -1"),
    (["data", "build", "arc-1", "--num-aug", "-1"], "--num-aug must be at least 0, got -1"),
    (["data", "build", "arc-1", "--tasks", "0"], "--tasks must be at least 1, got 0"),
    (["data", "build", "arc-tiny", "--canvas", "1"], "--canvas must be at least 2, got 1"),
    (["data", "build", "arc", "--canvas", "31"], "--canvas must be at most 30, got 31"),
    (["data", "build", "maze", "--size", "2"], "--size must be at least 3, got 2"),
    (["data", "build", "maze-9x9", "--size", "65"], "--size must be at most 64, got 65"),
    (["data", "build", "maze", "--min-path", "0"], "--min-path must be at least 1, got 0"),
    (["data", "build", "maze-15x15", "--loops", "1.5"], "--loops must be at most 1.0, got 1.5"),
    (["data", "build", "sudoku-4x4", "--min-clues", "-1"], "--min-clues must be at least 0, got -1"),
    # 0 is a count only when importing (the whole file); generating, it is refused before any work.
    (["data", "build", "sudoku", "--train", "0", "--test", "0"],
     "train must be at least 1 when generating, got 0 (0 means the whole file only with --csv-dir)"),
    (["data", "show", "nowhere", "-n", "-3"], "-n must be at least 0, got -3"),
    (["train", "demo", "--max-steps", "-5"], "--max-steps must be at least 1, got -5"),
    (["eval", "runs/x", "data/x", "--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--segments", "0"], "--segments must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--segments", "0,2"], "--segments must be at least 1, got 0"),
    (["eval", "runs/x", "data/x", "--segments", "1,-4"], "--segments must be at least 1, got -4"),
    (["eval", "runs/x", "data/x", "--segments", "1,99999999"], "--segments must be at most 4096, got 99999999"),
    (["eval", "runs/x", "data/x", "--segments", "a,b"], "--segments: 'a' is not a whole number (give e.g. --segments 8 or --segments 1,2,4,8)"),
    (["eval", "runs/x", "data/x", "--segments", "1,,4"], "--segments: '' is not a whole number (give e.g. --segments 8 or --segments 1,2,4,8)"),
    (["eval", "runs/x", "data/x", "--segments", ""], "--segments: give a number of ACT segments or a comma-separated list such as 1,2,4,8"),
    (["eval", "runs/x", "data/x", "--segments", " , "], "--segments: give a number of ACT segments or a comma-separated list such as 1,2,4,8"),
    (["solve", "runs/x", "1234", "--segments", "-1"], "--segments must be at least 1, got -1"),
    (["solve", "runs/x", "1234", "--segments", "5000"], "--segments must be at most 4096, got 5000"),
    (["serve", "runs/x", "--max-segments", "0"], "--max-segments must be at least 1, got 0"),
    # The old spellings of --segments and serve's --max-segments still work, and are checked as the new ones.
    (["eval", "runs/x", "data/x", "--steps", "0,2"], "--segments must be at least 1, got 0"),
    (["solve", "runs/x", "1234", "--steps", "5000"], "--segments must be at most 4096, got 5000"),
    (["serve", "runs/x", "--max-steps", "0"], "--max-segments must be at least 1, got 0"),
    (["demo", "--max-steps", "-1"], "--max-steps must be at least 1, got -1"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_out_of_range_options_are_refused_in_one_line(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"error: {message}"
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_the_old_spellings_reach_the_same_options(capsys):
    from hrmkit.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["eval", "run", "data", "--steps", "1,2"]).segments == "1,2"
    assert parser.parse_args(["solve", "run", "--steps", "3"]).segments == 3
    assert parser.parse_args(["serve", "run", "--max-steps", "32"]).max_segments == 32
    assert parser.parse_args(["train", "demo", "--max-steps", "5"]).max_steps == 5  # optimizer steps: not renamed
    for command, new in (("eval", "--segments"), ("solve", "--segments"), ("serve", "--max-segments")):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = capsys.readouterr().out
        assert new in shown and "--steps" not in shown and "--max-steps" not in shown, shown  # the old spellings are hidden


def test_serve_hands_max_segments_to_the_server_under_both_spellings(monkeypatch):
    import hrmkit.serve

    given = []
    monkeypatch.setattr(hrmkit.serve, "serve", lambda checkpoint, **options: given.append(options["max_segments"]))
    assert main(["serve", "runs/x", "--max-segments", "5"]) == 0
    assert main(["serve", "runs/x", "--max-steps", "7"]) == 0
    assert main(["serve", "runs/x"]) == 0
    assert given == [5, 7, None]
