"""Does torch.compile pay for itself? Compile time against per-step gain, end to end, for the presets the
``compile: auto`` rule (``hrmkit.compile_policy.resolve_compile``) is based on.

    python benchmarks/compile_gain.py --out benchmarks/results/compile.json        # demo, cpu-sudoku-4x4, small, 27M
    python benchmarks/compile_gain.py --cases demo --threads 2

Each case runs in fresh processes, eager and compiled (``compile=true``), with the preset's model, batch and
options (EMA, ...) on a synthetic dataset of the preset's shape (timing does not depend on the puzzles):
- ``first_steps_s``: the first ``--first`` steps from a built Trainer (compilation, and any recompiles, happen here);
- ``step_s`` / ``step_cpu_s``: the median step time, wall and process CPU, over the next ``--steps`` steps (steady
  state); the gain and speedup are taken from CPU time, which the machine's load moves far less than wall time;
- ``eval_first_s`` / ``eval_s``: the first and a second evaluation of one batch (an evaluation runs the model in eval
  mode without gradients: one more compilation);
- ``compile_s`` = the compiled run's extra wall time in its first steps and first evaluation over eager's (wall: the
  compilation runs in worker processes too), ``gain_per_step_s`` = eager step - compiled step (CPU),
  ``break_even_steps`` = compile_s / gain (null: never). Run with ``--threads 1`` (the default) for CPU times to mean
  step times.
Compiled runs use ``TORCHINDUCTOR_FORCE_DISABLE_CACHES=1`` (a first run; a rerun of the same model on the same
machine hits inductor's on-disk cache and compiles faster, so this is the pessimistic cost).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_throughput as tt  # the benchmark's configs and synthetic data

# case -> (preset or benchmark config, grid side of its dataset); a preset's steps per run are in RUN_STEPS
RUN_STEPS = {"demo": 1000, "cpu-sudoku-4x4": 2500}  # from the presets (epochs x groups / batch)
CASES = {
    "demo": ("demo", 6),
    "cpu-sudoku-4x4": ("cpu-sudoku-4x4", 4),
    "small": ("bench:small", 9),
    "27M": ("bench:27M", 9),
}


def _trainer(case: str, data: str, compile_setting: bool):
    from hrmkit.config import make_train_config
    from hrmkit.train import Trainer

    source, _ = CASES[case]
    if source.startswith("bench:"):
        trainer = tt.hrmkit_trainer(source.removeprefix("bench:"), "float32", data, compile_model=compile_setting)
        return trainer
    cfg = make_train_config(source, [f"data_path={data}", "data_preset=null", f"run_dir={tempfile.mkdtemp()}/run", "tensorboard=false",
                                     "eval_interval=null", f"compile={str(compile_setting).lower()}"])
    return Trainer(cfg, progress=False)


def _child(case: str, compiled: bool, first: int, steps: int, eval_examples: int) -> dict:
    data = tempfile.mkdtemp() + "/ds"
    tt._make_dataset(data, CASES[case][1])
    trainer = _trainer(case, data, compiled)
    trainer.cfg.eval_max_examples = eval_examples or trainer.cfg.global_batch_size  # default: one batch
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(first):
        trainer.train_step()
    first_s, first_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    times, cpu_times = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        trainer.train_step()
        times.append(time.perf_counter() - t)
        cpu_times.append(time.process_time() - c)
    evals = []
    for _ in range(2):
        t = time.perf_counter()
        trainer.run_eval()
        evals.append(time.perf_counter() - t)
    return {"first_steps_s": round(first_s, 3), "first_steps_cpu_s": round(first_cpu_s, 3), "step_s": round(statistics.median(times), 4),
            "step_cpu_s": round(statistics.median(cpu_times), 4), "eval_first_s": round(evals[0], 3),
            "eval_s": round(evals[1], 3), "compiled": trainer.compiled, "batch": trainer.cfg.global_batch_size,
            "parameters": trainer.num_parameters}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--first", type=int, default=3, help="steps that include compilation")
    parser.add_argument("--steps", type=int, default=0, help="steady steps timed (default 20; 5 for 27M)")
    parser.add_argument("--eval-examples", type=int, default=0, help="examples per evaluation (default: one batch)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier on a shared machine)")
    parser.add_argument("--out", help="write the JSON here too")
    parser.add_argument("--child", nargs=5, metavar=("CASE", "COMPILED", "FIRST", "STEPS", "EVAL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.child:
        case, compiled, first, steps, ev = args.child
        print(json.dumps(_child(case, compiled == "1", int(first), int(steps), int(ev))))
        return
    results: dict[str, object] = {"torch": torch.__version__, "threads": args.threads, "cpu": tt._cpu_name(),
                                  "load_average_start": round(os.getloadavg()[0], 2), "cases": {}}
    for case in args.cases.split(","):
        steps = args.steps or (5 if case == "27M" else 20)
        row: dict[str, object] = {}
        for compiled in (False, True):
            env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
            if compiled:
                env["TORCHINDUCTOR_FORCE_DISABLE_CACHES"] = "1"
            cmd = [sys.executable, __file__, "--threads", str(args.threads), "--child", case, str(int(compiled)), str(args.first), str(steps),
                   str(args.eval_examples)]
            start = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if out.returncode:
                row["compiled" if compiled else "eager"] = {"error": out.stderr.strip().splitlines()[-1]}
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["process_s"] = round(time.perf_counter() - start, 1)
            row["compiled" if compiled else "eager"] = r
            print(f"{case} {'compiled' if compiled else 'eager'}: {json.dumps(r)}", file=sys.stderr, flush=True)
        e, c = row.get("eager"), row.get("compiled")
        if isinstance(e, dict) and isinstance(c, dict) and "error" not in e and "error" not in c:
            compile_s = (c["first_steps_s"] - e["first_steps_s"]) + (c["eval_first_s"] - c["eval_s"]) - (e["eval_first_s"] - e["eval_s"])
            # The gain from CPU time: with one thread it is the step's own work, while wall time swings with the
            # machine's load (a compiled run measured in a quieter minute than its eager twin looks 1.5x faster).
            gain = e["step_cpu_s"] - c["step_cpu_s"]
            row["compile_s"] = round(compile_s, 1)
            row["gain_per_step_s"] = round(gain, 4)
            row["speedup"] = round(e["step_cpu_s"] / c["step_cpu_s"], 3)
            row["wall_speedup"] = round(e["step_s"] / c["step_s"], 3)
            row["break_even_steps"] = round(compile_s / gain) if gain > 0 else None
        if case in RUN_STEPS:
            row["preset_steps"] = RUN_STEPS[case]
        results["cases"][case] = row  # type: ignore[index]
    results["load_average_end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")




if __name__ == "__main__":
    main()
