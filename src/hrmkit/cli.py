"""The `hrm` command: parses the command line (the task flags of `hrm data build` made from the tasks' build configs,
the preset lists from the registries), refuses out-of-range numbers and options that do not apply before torch is
imported, calls the library, prints its results; errors come out as one line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pydantic import ValidationError

from hrmkit.errors import HrmError, first_validation_error


class UsageError(HrmError):
    """A command line argparse cannot read (unknown option, missing argument, a word where a number goes)."""


class _Parser(argparse.ArgumentParser):
    """argparse with the project's one-line errors: the message and where to read more, not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")


def _os_line(e: OSError) -> str:
    reason = e.strerror or str(e) or type(e).__name__
    return f"{reason}: {os.fsdecode(e.filename)}" if e.filename is not None else reason


def _pydantic_line(e: ValidationError) -> str:
    field, _, message = first_validation_error(e)
    given = e.errors()[0].get("input")
    return f"{field}: {message}" + (f" (got {given!r})" if given is not None and not isinstance(given, dict) else "")


# --------------------------------------------------------------------------- data


def _cmd_data_build(args: argparse.Namespace) -> None:
    from hrmkit.config import apply_overrides
    from hrmkit.data import build as builder
    from hrmkit.data.build_flags import given_settings

    overrides = given_settings(args, args.build_flags)
    overrides.update(apply_overrides({}, args.settings))
    cfg = builder.make_config(args.name, **overrides)
    out = Path(args.out or f"data/{args.name}")
    meta = builder.build(cfg, out, workers=args.workers, overwrite=args.force, progress=not args.quiet).metadata
    print(f"wrote {out}: task {meta.task}, seq_len {meta.seq_len}, vocab {meta.vocab_size}, built in {meta.build['build_seconds']} s")
    for name, info in meta.splits.items():
        print(f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples")


def _cmd_data_import(args: argparse.Namespace) -> None:
    from hrmkit.interop.reference_data import import_reference_dataset

    ds = import_reference_dataset(args.dir, args.out, task=args.task, force=args.force)
    meta = ds.metadata
    print(f"wrote {args.out}: task {meta.task}, seq_len {meta.seq_len}, vocab {meta.vocab_size}, from {meta.build['source']['format']}")
    for name, info in meta.splits.items():
        print(f"  {name}: {info.total_groups} groups, {info.total_puzzles} puzzles, {info.total_examples} examples")
    for note in meta.build.get("import_notes", []):
        print(f"  {note}")


def _cmd_data_export(args: argparse.Namespace) -> None:
    from hrmkit.interop.reference_data import export_reference_dataset

    print(f"wrote {export_reference_dataset(args.dir, args.out)} (the reference code's dataset layout)")


def _cmd_data_show(args: argparse.Namespace) -> None:
    from hrmkit.data.format import load_dataset
    from hrmkit.data.show import describe, examples

    ds = load_dataset(args.dir, verify_hash=False)
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")  # https://no-color.org
    text = examples(ds, args.split, args.n, colour=colour)
    print(describe(ds) + text)


def _cmd_data_check(args: argparse.Namespace) -> None:
    from hrmkit.data.check import check_dataset
    from hrmkit.data.format import load_dataset

    report = check_dataset(load_dataset(args.dir, verify_hash=True))
    if not report.ok:
        raise HrmError(f"{args.dir}: " + "; ".join(report.problems))
    counts = ", ".join(f"{k} {v}" for k, v in report.examples.items())
    print(f"{args.dir}: ok ({counts} examples; hash, labels and train/test separation verified)")


# --------------------------------------------------------------------------- train, eval, solve, demo


def _cmd_train(args: argparse.Namespace) -> int:
    from hrmkit.preflight import check_new_run, check_resume, data_lines, prepare_data

    # Everything checkable without torch is checked first: a typo costs a fraction of a second, not an import of torch.
    if args.resume:
        if args.config or args.overrides:
            raise HrmError("--resume continues a run with its saved config; give no CONFIG or overrides (to change a setting, "
                           "edit RUN_DIR/config.json and resume with --accept-changes)")
        cfg, run_dir = check_resume(args.resume, accept_changes=args.accept_changes), Path(args.resume)
    elif args.config:
        if args.accept_changes:
            raise HrmError("--accept-changes goes with --resume RUN_DIR")
        cfg, run_dir = check_new_run(args.config, args.overrides, args.run_dir)
    else:
        raise HrmError("give a CONFIG (a preset name or a .yaml file) or --resume RUN_DIR")
    prepare_data(cfg, progress=not args.quiet)
    if int(os.environ.get("RANK", "0") or 0) == 0:  # torchrun: one process speaks
        print("\n".join(data_lines(cfg)), flush=True)

    import signal

    from hrmkit.train import Trainer
    from hrmkit.viz import plot_run_or_warn

    trainer = Trainer(cfg, run_dir=run_dir, resume=bool(args.resume), progress=not args.quiet, accept_changes=args.accept_changes)
    main_process = trainer.rt.is_main
    try:
        trainer.decide_compile(args.max_steps)  # here, to say it: compiling makes the first step minutes long
        if main_process:
            world = f" x{trainer.rt.world_size}" if trainer.rt.distributed else ""
            print(f"run {trainer.run_dir}: {trainer.cfg.arch.name} with {trainer.num_parameters:,} parameters on {trainer.rt.device}{world}, "
                  f"{trainer.total_steps} steps" + (f" (resuming at {trainer.step})" if args.resume else "") + f"; {trainer.compile_reason}")
            if trainer.changes:
                print(f"changed since the checkpoint, recorded in {trainer.run_dir / 'changes.jsonl'}: " + ", ".join(map(str, trainer.changes)))
        summary = trainer.fit(max_steps=args.max_steps)
    finally:
        trainer.close()
    # A stop by Ctrl-C or SIGTERM that saved its work is not an error: the shell's code for that signal (128 + its
    # number: 130, 143), the resume command, no error line.
    code = 128 + summary["signal"] if summary["interrupted"] and summary["signal"] else 0
    if not main_process:
        return code
    saved = (trainer.run_dir / "checkpoints" / "latest").exists()
    if summary["interrupted"]:
        by = "" if summary["signal"] == signal.SIGINT else f" by {signal.Signals(summary['signal']).name}"
        print(f"interrupted{by} at step {summary['step']}; " + (f"continue with: hrm train --resume {trainer.run_dir}" if saved
                                                                   else "no checkpoint was written"))
    if summary["eval"]:
        print(f"step {summary['step']}: {eval_line(summary['eval'], trainer.dataset.metadata.task)}")
    if saved:  # never name a folder that does not exist
        curves = plot_run_or_warn(trainer.run_dir)
        print(f"checkpoints in {trainer.run_dir / 'checkpoints'}" + (f"; curves in {curves}" if curves else ""))
    return code


def eval_line(metrics: dict[str, float], task_name: str) -> str:
    """The evaluation in one line: the generic accuracies, then the task's headline metrics (ARC: pass@2)."""
    from hrmkit.tasks import get_task

    own = [f", {label} {metrics[key]:.4f}" for key, label in get_task(task_name).headline_metrics.items() if key in metrics]
    return f"eval exact accuracy {metrics['exact_accuracy']:.4f}, token accuracy {metrics['accuracy']:.4f}" + "".join(own)


def _cmd_eval(args: argparse.Namespace) -> None:
    from hrmkit.evaluate import ReportNotWritten, evaluate_checkpoint, format_report

    try:
        report = evaluate_checkpoint(args.checkpoint, args.dataset, split=args.split, segments=args.segments, max_examples=args.max_examples,
                                     batch_size=args.batch_size, device_name=args.device, out=args.out, progress=not args.quiet,
                                     save_predictions=args.save_predictions)
    except ReportNotWritten as e:  # a finished evaluation is shown even when its report cannot be saved
        print(format_report(e.report))
        raise HrmError(f"{e} (the results are above; give --out FILE to save the report elsewhere)") from None
    print(format_report(report))
    print(f"report: {report['report_path']}")


# `hrm solve` options that belong to one kind of model: refused, not ignored, on the other.
_WHOLE_TASK_ONLY = {"all": "--all", "variants": "--variants"}
_GRID_ONLY = {"split": "--split", "final_only": "--final-only"}


def _given(args: argparse.Namespace, flags: dict[str, str]) -> list[str]:
    return [flag for name, flag in flags.items() if getattr(args, name) not in (None, False)]


def check_solve_options(args: argparse.Namespace, task: str, whole_task: bool) -> None:
    """Refuse options that do nothing for this model, saying which apply."""
    if whole_task:
        given = _given(args, _GRID_ONLY)
        if given:
            raise HrmError(f"{', '.join(given)}: not for a {task} model, which solves whole task files "
                           "(its options: --dataset, --index, --all, --variants, --segments, --trace-out)")
        if args.all and args.index is not None:
            raise HrmError("--all answers every test input and --index picks one: give one of them")
        return
    given = _given(args, _WHOLE_TASK_ONLY)
    if given:
        raise HrmError(f"{', '.join(given)}: only for whole-task models (ARC); this is a {task} model "
                       "(its options: --dataset, --split, --index, --segments, --final-only, --trace-out)")
    if args.dataset is not None and args.puzzle is not None:
        raise HrmError("give a PUZZLE or --dataset DIR --index N, not both")
    if args.dataset is None and (args.index is not None or args.split is not None):
        raise HrmError(f"{', '.join(_given(args, {'split': '--split', 'index': '--index'}))}: pick an example of --dataset DIR; give it too")


def _cmd_solve(args: argparse.Namespace) -> None:
    from hrmkit import checkpoint
    from hrmkit.jsonio import read_text
    from hrmkit.tasks import get_task

    _, model_meta = checkpoint.read_config(args.checkpoint)  # which options apply, before the model is loaded
    solver = get_task(model_meta.task).task_solver()
    check_solve_options(args, model_meta.task, solver is not None)

    from hrmkit.solve import format_trace, from_pretrained, names_a_file, puzzle_from_dataset, solve, solve_task_file

    model, meta = from_pretrained(args.checkpoint)
    if solver is not None:  # a whole task file (ARC): demonstrations shown, test inputs answered by voting
        if args.trace_out:
            solver.check_picture(Path(args.trace_out))
        result = solve_task_file(args.checkpoint, model, meta, solver, args.puzzle, dataset=args.dataset,
                                 index=None if args.all else args.index or 0, variants=8 if args.variants is None else args.variants,
                                 segments=args.segments)
        print(solver.format(result))
        if args.trace_out:
            print(f"picture: {solver.draw(result, Path(args.trace_out))}")
        return
    if args.dataset is not None:
        puzzle = puzzle_from_dataset(args.dataset, args.split or "test", args.index or 0, meta)
    elif args.puzzle is not None:
        puzzle = read_text(args.puzzle) if names_a_file(args.puzzle) else args.puzzle.replace("\\n", "\n")
    else:
        raise HrmError("give a PUZZLE (text or a file) or --dataset DIR --index N")
    if args.trace_out:
        from hrmkit.trace_viz import check_trace_path

        check_trace_path(args.trace_out)  # before the model runs
    trace = solve(model, meta, puzzle, segments=args.segments)
    print(format_trace(trace, meta, show_every_segment=not args.final_only))
    if args.trace_out:
        from hrmkit.trace_viz import write_trace_picture

        print(f"trace picture: {write_trace_picture(trace, meta, args.trace_out)}")


def _cmd_import(args: argparse.Namespace) -> None:
    from hrmkit.checkpoint import read_config
    from hrmkit.interop.reference_checkpoint import import_checkpoint

    path = import_checkpoint(args.checkpoint, args.dataset, args.out, config=args.config, forward_dtype=args.forward_dtype)
    cfg, meta = read_config(path)
    print(f"imported {args.checkpoint} -> {path}: {cfg.arch.name} for {meta.task} ({args.dataset}), forward_dtype {cfg.arch.forward_dtype}")
    if cfg.arch.forward_dtype == "bfloat16":
        print("note: the run trained in bfloat16 (the reference default); on a CPU without bf16 matrix units that is slow and "
              "`--forward-dtype auto` (float32 there) or `float32` runs it faster, with predictions that can differ in a few cells")


def _cmd_export(args: argparse.Namespace) -> None:
    from hrmkit.interop.reference_checkpoint import export_checkpoint

    print(f"wrote {export_checkpoint(args.run, args.out)} and {Path(args.out) / 'all_config.yaml'} (the reference code's layout)")


def _cmd_serve(args: argparse.Namespace) -> None:
    from hrmkit.serve import serve

    serve(args.checkpoint, host=args.host, port=args.port, dataset=args.dataset, examples=args.examples, max_segments=args.max_segments)


def _cmd_demo(args: argparse.Namespace) -> None:
    from hrmkit.demo import run_demo

    run_demo(out=args.out, max_steps=args.max_steps, quiet=args.quiet, seed=args.seed)


def _cmd_plot(args: argparse.Namespace) -> None:
    from hrmkit.viz import plot_run

    print(plot_run(args.run_dir, args.out))


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    # The registries are torch-free: listing tasks, presets and build settings keeps `hrm --help` quick.
    from hrmkit.config import preset_names
    from hrmkit.data.build_flags import add_build_flags, build_flags
    from hrmkit.tasks import all_presets, task_names

    parser = _Parser(prog="hrm", description="Latent recursive reasoning models: data, training, evaluation.")
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="build, show and check datasets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    b = dsub.add_parser("build", help="build a dataset (a task or a dataset preset)")
    b.add_argument("name", help=f"a task ({', '.join(task_names())}) or a dataset preset: {', '.join(sorted(all_presets()))}")
    b.add_argument("settings", nargs="*", help="key=value build settings (any setting of the task, e.g. train=100)")
    b.add_argument("--out", help="output folder (default data/NAME)")
    b.add_argument("--workers", type=int, help="processes (default: all cores)")
    b.add_argument("--force", action="store_true", help="replace an existing output folder")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    task_settings = build_flags(taken={action.dest for action in b._actions} | set(_NAMESPACE_KEYS))
    add_build_flags(b, task_settings)
    b.set_defaults(func=_cmd_data_build, rest="settings", parser=b, build_flags=task_settings,
                   own_ranges=_check_build_ranges)
    i = dsub.add_parser("import", help="convert a dataset folder written by the HRM or TRM reference builders")
    i.add_argument("dir", help="the reference folder ({train,test}/dataset.json, all__*.npy, identifiers.json)")
    i.add_argument("--out", required=True, help="output dataset folder")
    i.add_argument("--task", help="the task, where seq_len and vocab do not say it (sudoku, maze, arc)")
    i.add_argument("--force", action="store_true", help="replace an existing output folder")
    i.set_defaults(func=_cmd_data_import, parser=i)
    x = dsub.add_parser("export", help="an hrmkit dataset -> the reference code's dataset layout")
    x.add_argument("dir", help="the hrmkit dataset")
    x.add_argument("--out", required=True, help="a new folder for {train,test}/dataset.json, all__*.npy, identifiers.json")
    x.set_defaults(func=_cmd_data_export, parser=x)
    s = dsub.add_parser("show", help="print metadata and examples as grids")
    s.add_argument("dir")
    s.add_argument("--split", default="test")
    s.add_argument("-n", type=int, default=2, help="examples to show")
    s.set_defaults(func=_cmd_data_show, parser=s)
    c = dsub.add_parser("check", help="re-validate every example and the train/test separation")
    c.add_argument("dir")
    c.set_defaults(func=_cmd_data_check, parser=c)

    t = sub.add_parser("train", help="train a model (DDP when launched by torchrun)")
    t.add_argument("config", nargs="?", help=f"a preset ({', '.join(preset_names())}) or a .yaml file")
    t.add_argument("overrides", nargs="*", help="key=value settings, e.g. arch.hidden_size=128 lr=3e-4")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest checkpoint")
    t.add_argument("--run-dir", help="where to write checkpoints and logs")
    t.add_argument("--max-steps", type=int, help="stop after this many more optimizer steps (a resumable checkpoint is written)")
    t.add_argument("--accept-changes", action="store_true", help="with --resume: train on although RUN_DIR/config.json or the "
                                                                  "dataset differ from the checkpoint's (recorded in RUN_DIR/changes.jsonl)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=_cmd_train, rest="overrides", late=("config",), parser=t)

    e = sub.add_parser("eval", help="evaluate a checkpoint on a dataset split")
    e.add_argument("checkpoint", help="a checkpoint folder or a run folder")
    e.add_argument("dataset")
    e.add_argument("--split", default="test")
    e.add_argument("--segments", help="ACT segments to run (test-time compute; default: the model's halt_max_steps), or a list such as "
                                      "1,2,4,8,16,32: exact accuracy after each, drawn to a PNG beside the JSON report")
    e.add_argument("--steps", dest="segments", help=argparse.SUPPRESS)  # the old spelling
    e.add_argument("--max-examples", type=int)
    e.add_argument("--batch-size", type=int, default=256)
    e.add_argument("--device", default="auto")
    e.add_argument("--out", help="JSON report path (default: inside the checkpoint folder)")
    e.add_argument("--save-predictions", metavar="FILE.safetensors", help="also write every row's inputs, labels, puzzle ids, "
                                                                           "predictions and Q logits (as the reference's eval_save_outputs)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=_cmd_eval, parser=e)

    v = sub.add_parser("solve", help="solve one puzzle and show the reasoning trace")
    v.add_argument("checkpoint")
    v.add_argument("puzzle", nargs="?", help="puzzle text (e.g. an 81-char Sudoku) or a file holding it; "
                                             "ARC: a task .json file or the id of a held-out task")
    v.add_argument("--dataset", help="take the puzzle from this dataset ... (ARC: the dataset to look the task up in; default the model's)")
    v.add_argument("--split", help="... from this split (default test)")
    v.add_argument("--index", type=int, help="... at this example index (default 0; ARC: the test input, default 0)")
    v.add_argument("--all", action="store_true", help="ARC: answer every test input of the task")
    v.add_argument("--variants", type=int, help="ARC: vote over at most this many trained variants, the original first "
                                                            "(0 = all; default 8)")
    v.add_argument("--segments", type=int, help="ACT segments to run (default: the model's halt_max_steps)")
    v.add_argument("--steps", type=int, dest="segments", help=argparse.SUPPRESS)  # the old spelling
    v.add_argument("--final-only", action="store_true", help="show only the final segment")
    v.add_argument("--trace-out", metavar="FILE", help="also draw the grid after each segment to FILE.png (panels) or FILE.gif (frames); "
                                                        "ARC: the task's grids in ARC's colours to FILE.png")
    v.set_defaults(func=_cmd_solve, late=("puzzle",), parser=v)

    im = sub.add_parser("import", help="a checkpoint of the reference code (HRM, TRM) -> an hrmkit run folder")
    im.add_argument("checkpoint", help="the reference's state-dict file (step_N or checkpoint), all_config.yaml beside it")
    im.add_argument("--dataset", required=True, help="the hrmkit dataset the model runs on (e.g. made by `hrm data import`)")
    im.add_argument("--out", required=True, help="the run folder to write")
    im.add_argument("--config", help="the reference's all_config.yaml (default: beside the checkpoint)")
    im.add_argument("--forward-dtype", choices=["auto", "float32", "bfloat16"], help="override the config's forward_dtype")
    im.set_defaults(func=_cmd_import, parser=im)

    ex = sub.add_parser("export", help="an hrmkit checkpoint -> the reference code's layout (state dict + all_config.yaml)")
    ex.add_argument("run", help="a run folder (its newest checkpoint) or a checkpoint folder")
    ex.add_argument("--out", required=True, help="the folder to write step_N and all_config.yaml into")
    ex.set_defaults(func=_cmd_export, parser=ex)

    sv = sub.add_parser("serve", help="a local web page: give the model a puzzle and watch each ACT segment")
    sv.add_argument("checkpoint", help="a checkpoint folder or a run folder")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    sv.add_argument("--dataset", help="offer held-out examples from this dataset (default: the model's own, when found)")
    sv.add_argument("--examples", type=int, default=8, help="held-out examples to offer (default 8)")
    sv.add_argument("--max-segments", type=int, help="most segments one request may ask for (default max(64, 8 x halt_max_steps))")
    sv.add_argument("--max-steps", type=int, dest="max_segments", help=argparse.SUPPRESS)  # the old spelling
    sv.set_defaults(func=_cmd_serve, parser=sv)

    d = sub.add_parser("demo", help="build a small dataset, train a small model on CPU, evaluate, solve a held-out puzzle")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--max-steps", type=int, help="stop training after this many optimizer steps (for a quick look)")
    d.add_argument("--seed", type=int, default=0, help="seeds the weights, the batches and the puzzle solved at the end (default 0)")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=_cmd_demo, parser=d)

    pl = sub.add_parser("plot", help="plot a run's training curves to PNG")
    pl.add_argument("run_dir")
    pl.add_argument("--out")
    pl.set_defaults(func=_cmd_plot, parser=pl)
    return parser


# Numeric options of the commands themselves and their smallest sensible value, checked before any work (and before torch
# is imported). `hrm data build`'s task settings take their bounds from the task's build config (_check_build_ranges).
_MINIMUM = {"workers": 1, "max_steps": 1, "segments": 1, "max_segments": 1, "max_examples": 1, "batch_size": 1, "n": 0, "index": 0,
            "port": 0, "examples": 0, "variants": 0, "seed": 0}
_MAXIMUM = {"port": 65535}  # past it the OS wraps the number (70000 -> 4464) and listens elsewhere than asked
# What set_defaults puts on the namespace besides the options: a task setting of the same name cannot be a flag.
_NAMESPACE_KEYS = ("func", "rest", "late", "parser", "build_flags", "own_ranges", "command", "data_command")


MAX_SEGMENTS = 4096  # the papers' models train with at most 16
WORKERS_PER_CORE = 4


def parse_segments(text: str) -> list[int]:
    """`--segments 8` or `--segments 1,2,4,8` -> sorted distinct segment counts, or a one-line HrmError."""
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise HrmError("--segments: give a number of ACT segments or a comma-separated list such as 1,2,4,8")
    values = []
    for part in parts:
        try:
            values.append(int(part))
        except ValueError:
            raise HrmError(f"--segments: {part!r} is not a whole number (give e.g. --segments 8 or --segments 1,2,4,8)") from None
    for value in values:
        check_segments(value)
    return sorted(set(values))


def check_segments(value: int) -> None:
    if value < _MINIMUM["segments"]:
        raise HrmError(f"--segments must be at least {_MINIMUM['segments']}, got {value}")
    if value > MAX_SEGMENTS:  # a typo, not a plan: 10^8 segments would run for months
        raise HrmError(f"--segments must be at most {MAX_SEGMENTS}, got {value}")


def _check_build_ranges(args: argparse.Namespace) -> None:
    from hrmkit.data.build import task_for
    from hrmkit.data.build_flags import check_values

    task = task_for(args.name)
    check_values(args, args.build_flags, task.name if task is not None else None)


def check_ranges(args: argparse.Namespace) -> None:
    own = set(getattr(args, "build_flags", ()))  # a task's settings: checked against its config's bounds, below
    segments = getattr(args, "segments", None) if "segments" not in own else None
    if isinstance(segments, str):  # eval's --segments takes a list
        args.segments = parse_segments(segments)
    elif isinstance(segments, int):  # solve's single number
        check_segments(segments)
    for name, minimum in _MINIMUM.items():
        value = getattr(args, name, None)
        if name not in own and isinstance(value, int) and value < minimum:
            flag = "-n" if name == "n" else "--" + name.replace("_", "-")
            raise HrmError(f"{flag} must be at least {minimum}, got {value}")
    for name, maximum in _MAXIMUM.items():
        value = getattr(args, name, None)
        if isinstance(value, int) and value > maximum:
            raise HrmError(f"--{name.replace('_', '-')} must be at most {maximum}, got {value}")
    workers, most = getattr(args, "workers", None), WORKERS_PER_CORE * (os.cpu_count() or 1)
    if isinstance(workers, int) and workers > most:  # each is a forked process: 10^6 of them would bring the machine down
        raise HrmError(f"--workers must be at most {most} ({WORKERS_PER_CORE} per core of this machine), got {workers}")
    if getattr(args, "own_ranges", None) is not None:
        args.own_ranges(args)


def take_extras(args: argparse.Namespace, extras: list[str]) -> None:
    """Words argparse left over, placed as the user meant them: an optional positional argparse passed by once an
    option came first (`hrm solve RUN --segments 4 PUZZLE`), and key=value settings anywhere on the line
    (`hrm train demo --max-steps 2 lr=3e-4`). Anything else is refused."""
    late, rest = getattr(args, "late", ()), getattr(args, "rest", None)
    bad = []
    for word in extras:
        empty = [name for name in late if getattr(args, name) is None]
        if word.startswith("-") and word != "-":
            bad.append(word)
        elif rest is not None and "=" in word and not word.startswith("="):
            getattr(args, rest).append(word)
        elif empty:
            setattr(args, empty[0], word)
        else:
            bad.append(word)
    if bad:
        raise UsageError(f"unrecognized arguments: {' '.join(bad)} (see {args.parser.prog} --help)")


def check_not_empty(args: argparse.Namespace) -> None:
    """An empty string is never a path, a name or a puzzle: `--out ""` must not quietly mean the default, nor "" the
    current folder."""
    for action in args.parser._actions:
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, str) and not v.strip() for v in values):
            name = max(action.option_strings, key=len) if action.option_strings else (action.metavar or action.dest).upper()
            raise HrmError(f"{name}: empty; give a value")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()  # loads the task plug-ins, whose faults are one-line errors too
        args, extras = parser.parse_known_args(argv)
        take_extras(args, extras)
        check_ranges(args)
        check_not_empty(args)
        return args.func(args) or 0  # a command returns None, or an exit code other than 0 that is not an error
    except HrmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValidationError as e:
        print(f"error: {_pydantic_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # any errno: a full disk, a read-only folder, a file where a folder should be, ...
        print(f"error: {_os_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
