"""The `hrm` command: parses arguments, calls the library, prints. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from hrmkit.errors import HrmError


def _pydantic_line(e: ValidationError) -> str:
    first = e.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden":
        task = e.title.removesuffix("Build").lower()
        return f"option --{field.replace('_', '-')} does not apply to {task}"
    return f"{field}: {first['msg']}" + (f" (got {first['input']!r})" if "input" in first and not isinstance(first["input"], dict) else "")


# --------------------------------------------------------------------------- data


def _cmd_data_build(args: argparse.Namespace) -> None:
    from hrmkit.data import build as builder

    overrides = {k: v for k, v in {
        "size": args.size, "train": args.train, "test": args.test, "num_aug": args.num_aug,
        "difficulty": args.difficulty, "min_clues": args.min_clues, "min_path": args.min_path,
        "loops": args.loops, "aug": args.aug, "seed": args.seed, "csv_dir": args.csv_dir,
        "min_rating": args.min_rating,
    }.items() if v is not None}
    cfg = builder.make_config(args.name, **overrides)
    out = Path(args.out or f"data/{args.name}")
    ds = builder.build(cfg, out, workers=args.workers, overwrite=args.force, progress=not args.quiet)
    meta = ds.metadata
    print(f"wrote {out}: task {meta.task}, seq_len {meta.seq_len}, vocab {meta.vocab_size}, "
          f"built in {meta.build['build_seconds']} s")
    for name, info in meta.splits.items():
        print(f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples")


def _cmd_data_show(args: argparse.Namespace) -> None:
    import numpy as np

    from hrmkit.data.codec import render_tokens
    from hrmkit.data.format import load_dataset

    ds = load_dataset(args.dir, verify_hash=False)
    meta = ds.metadata
    print(f"{args.dir}: task {meta.task}, grid {meta.grid_shape[0]}x{meta.grid_shape[1]}, seq_len {meta.seq_len}, "
          f"vocab {meta.vocab_size} {meta.tokens}, puzzle ids {meta.num_puzzle_identifiers}")
    for name, info in meta.splits.items():
        print(f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples")
    print(f"  build: {meta.build}")
    split = ds[args.split]
    for i in range(min(args.n, split.num_examples)):
        left = render_tokens(np.asarray(split.inputs[i]), meta.tokens, meta.grid_shape).splitlines()
        right = render_tokens(np.asarray(split.labels[i]), meta.tokens, meta.grid_shape).splitlines()
        width = len(left[0])
        print(f"\n{args.split} example {i}:" + " " * max(width - 18, 1) + "   label:")
        for a, b in zip(left, right):
            print(f"{a}   {b}")


def _cmd_data_check(args: argparse.Namespace) -> None:
    from hrmkit.data.check import check_dataset
    from hrmkit.data.format import load_dataset

    ds = load_dataset(args.dir, verify_hash=True)
    report = check_dataset(ds)
    counts = ", ".join(f"{k} {v}" for k, v in report.examples.items())
    if not report.ok:
        raise HrmError(f"{args.dir}: " + "; ".join(report.problems))
    print(f"{args.dir}: ok ({counts} examples; hash, labels and train/test separation verified)")


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrm", description="Latent recursive reasoning models: data, training, evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, show and check datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="build a dataset (sudoku, maze, or a preset name)")
    b.add_argument("name", help="sudoku | maze | a preset: sudoku-4x4, sudoku-6x6, sudoku-9x9-easy, sudoku-extreme-1k, "
                                "maze-9x9, maze-15x15, maze-hard-1k")
    b.add_argument("--out", help="output folder (default data/NAME)")
    b.add_argument("--size", type=int, help="grid size (sudoku 4, 6 or 9; maze N)")
    b.add_argument("--train", type=int, help="training puzzles (groups)")
    b.add_argument("--test", type=int, help="test puzzles")
    b.add_argument("--num-aug", type=int, help="sudoku: augmented variants per training puzzle")
    b.add_argument("--difficulty", help="sudoku: any | easy | medium | hard | extreme")
    b.add_argument("--min-clues", type=int, help="sudoku: stop removing clues at this many")
    b.add_argument("--min-path", type=int, help="maze: shortest path must be longer than this")
    b.add_argument("--loops", type=float, help="maze: fraction of inner walls knocked down (0 = perfect maze)")
    b.add_argument("--aug", action=argparse.BooleanOptionalAction, default=None, help="maze: add the 8 dihedral transforms")
    b.add_argument("--seed", type=int)
    b.add_argument("--csv-dir", help="import the official train.csv/test.csv from this folder")
    b.add_argument("--min-rating", type=int, help="sudoku CSV import: keep rows rated at least this")
    b.add_argument("--workers", type=int, help="processes (default: all cores)")
    b.add_argument("--force", action="store_true", help="replace an existing output folder")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(func=_cmd_data_build)
    s = dsub.add_parser("show", help="print metadata and examples as grids")
    s.add_argument("dir")
    s.add_argument("--split", default="test")
    s.add_argument("-n", type=int, default=2, help="examples to show")
    s.set_defaults(func=_cmd_data_show)
    c = dsub.add_parser("check", help="re-validate every example and the train/test separation")
    c.add_argument("dir")
    c.set_defaults(func=_cmd_data_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except HrmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValidationError as e:
        print(f"error: {_pydantic_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
