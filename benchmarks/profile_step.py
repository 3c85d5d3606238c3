"""Where one training step's time goes: torch.profiler (CPU activities, no stacks) over hrmkit's Trainer step and over
the bare PyTorch loop of ``benchmarks/train_throughput.py``, for the same configs, in one process each.

    python benchmarks/profile_step.py --out benchmarks/results/profile-after.txt          # 27M and small, 1 thread
    python benchmarks/profile_step.py --configs small --steps 5 --threads 2 --out /tmp/p.txt

For every config and implementation: warm-up steps, then ``--steps`` profiled steps. The text written has, per config,
- ms per step of each (under the profiler, so a little above the unprofiled rate);
- hrmkit's phases (record_function ranges wrapped around the sampler, the ACT forward and its parts, the loss, the
  optimizers, the nan watch and the metric sums), inclusive CPU ms per step;
- the top ops by self CPU time of each implementation (``key_averages`` sorted by ``self_cpu_time_total``);
- the ops whose self CPU time per step differs most between the two: where hrmkit's extra time goes;
- time outside any op (Python, numpy, glue): wall time minus the ops' self time;
- the process's user and system CPU time and minor page faults per profiled step (getrusage), and its peak RSS.
On a shared machine the wall-clock numbers swing with the load; the op counts, page faults and CPU times less so.
Each config runs in a child process so the two implementations do not share an allocator history.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import train_throughput as tt  # the benchmark's configs and step builders

TOP = 25


def _wrap(obj: Any, attr: str, label: str) -> None:
    """Run ``obj.attr`` inside a named profiler range (shows as one row with its inclusive time)."""
    import torch

    fn = getattr(obj, attr)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with torch.profiler.record_function(label):
            return fn(*args, **kwargs)

    setattr(obj, attr, wrapped)


def _hrmkit_phases(trainer: Any) -> None:
    import hrmkit.metrics
    import hrmkit.train

    model = trainer.model
    _wrap(trainer.sampler, "next_batch", "## sampler.next_batch")
    _wrap(model, "forward", "## ACT forward (incl. Q-target)")
    _wrap(model.core, "forward", "## core.forward (segment, and Q-target)")
    _wrap(model.core, "embed", "## core.embed")
    _wrap(model.core, "reset_state", "## core.reset_state")
    _wrap(hrmkit.train, "act_loss", "## act_loss")
    _wrap(trainer.optimizer, "step", "## AdamATan2.step")
    _wrap(trainer.sparse, "step", "## SignSGDSparse.step")
    _wrap(trainer, "_watch", "## _watch (nan flags)")
    _wrap(hrmkit.metrics, "accumulate", "## metrics accumulate")


def _profile(step: Callable[[], None], steps: int) -> tuple[float, list[dict[str, Any]], dict[str, float]]:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        for _ in range(steps):
            step()
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    rows = [{"name": e.key, "calls": e.count / steps, "self_ms": e.self_cpu_time_total / 1e3 / steps,
             "total_ms": e.cpu_time_total / 1e3 / steps} for e in prof.key_averages()]
    usage = {"user_ms": (after.ru_utime - before.ru_utime) / steps * 1e3, "sys_ms": (after.ru_stime - before.ru_stime) / steps * 1e3,
             "page_faults": (after.ru_minflt - before.ru_minflt) / steps, "peak_rss_mb": after.ru_maxrss / 1024}
    return wall / steps * 1e3, rows, usage


def _child(name: str, impl: str, steps: int, warmup: int) -> None:
    if impl == "hrmkit":
        data = tempfile.mkdtemp() + "/ds"
        tt._make_dataset(data, tt.CONFIGS[name]["seq_side"])
        trainer = tt.hrmkit_trainer(name, "float32", data)
        step = tt.hrmkit_step_fn(trainer)
        for _ in range(warmup):
            step()
        _hrmkit_phases(trainer)
    else:
        step = tt.bare_step_fn(name, "float32")
        for _ in range(warmup):
            step()
    ms, rows, usage = _profile(step, steps)
    print(json.dumps({"ms_per_step": ms, "rows": rows, "usage": usage}))


def _table(rows: list[dict[str, Any]], key: str, n: int = TOP) -> list[str]:
    out = [f"  {'self ms/step':>12} {'total ms/step':>13} {'calls/step':>10}  name"]
    for r in sorted(rows, key=lambda r: -r[key])[:n]:
        out.append(f"  {r['self_ms']:12.2f} {r['total_ms']:13.2f} {r['calls']:10.1f}  {r['name']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="27M,small", help="comma-separated names from train_throughput.CONFIGS")
    parser.add_argument("--steps", type=int, default=0, help="profiled steps (default: 3 for 27M-size configs, 8 for small ones)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier numbers on a shared machine)")
    parser.add_argument("--out", help="write the text here as well as to stdout")
    parser.add_argument("--child", nargs=4, metavar=("CONFIG", "IMPL", "STEPS", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        name, impl, steps, warmup = args.child
        _child(name, impl, int(steps), int(warmup))
        return

    import torch

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    lines = [f"# profile_step.py: torch.profiler, CPU activities, self CPU time; torch {torch.__version__}, "
             f"{args.threads} thread(s), float32, load average at start {os.getloadavg()[0]:.2f}",
             f"# command: python benchmarks/profile_step.py {' '.join(sys.argv[1:])}"]
    for name in args.configs.split(","):
        steps = args.steps or (8 if tt.CONFIGS[name]["hidden_size"] <= 128 else 3)
        results = {}
        for impl in ("hrmkit", "bare"):
            cmd = [sys.executable, __file__, "--threads", str(args.threads), "--child", name, impl, str(steps), str(args.warmup)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
            results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{name} {impl}: {results[impl]['ms_per_step']:.1f} ms/step", file=sys.stderr, flush=True)
        h, b = results["hrmkit"], results["bare"]
        lines += ["", f"## {name} (batch {tt.CONFIGS[name]['batch']}), {steps} profiled steps each",
                  f"hrmkit {h['ms_per_step']:.1f} ms/step, bare {b['ms_per_step']:.1f} ms/step, "
                  f"hrmkit/bare time {h['ms_per_step'] / b['ms_per_step']:.3f} (one profiled run each: noisy)"]
        for impl, r in results.items():
            ops = [row for row in r["rows"] if not row["name"].startswith("## ")]
            outside = r["ms_per_step"] - sum(row["self_ms"] for row in r["rows"])
            u = r["usage"]
            lines.append(f"{impl}: op self time {sum(row['self_ms'] for row in ops):.1f} ms/step, outside any op "
                         f"(Python, numpy, glue) {outside:.1f} ms/step; process CPU user {u['user_ms']:.0f} + sys {u['sys_ms']:.0f} "
                         f"ms/step, {u['page_faults']:.0f} page faults/step, peak RSS {u['peak_rss_mb']:.0f} MB")
        phases = [row for row in h["rows"] if row["name"].startswith("## ")]
        lines += ["", "hrmkit phases (inclusive CPU ms per step):"]
        lines += [f"  {row['total_ms']:10.2f}  {row['name'][3:]}" for row in sorted(phases, key=lambda r: -r["total_ms"])]
        for impl, r in results.items():
            lines += ["", f"{impl}: top {TOP} ops by self CPU time"]
            lines += _table([row for row in r["rows"] if not row["name"].startswith("## ")], "self_ms")
        bare = {row["name"]: row for row in b["rows"]}
        diff = []
        for row in h["rows"]:
            if row["name"].startswith("## "):
                continue
            other = bare.get(row["name"], {"self_ms": 0.0, "calls": 0.0})
            diff.append((row["self_ms"] - other["self_ms"], row["calls"] - other["calls"], row["name"]))
        names = {row["name"] for row in h["rows"]}
        diff += [(-row["self_ms"], -row["calls"], row["name"]) for row in b["rows"] if row["name"] not in names]
        lines += ["", "hrmkit minus bare, self CPU ms per step (largest differences either way)",
                  f"  {'delta ms':>9} {'delta calls':>11}  name"]
        lines += [f"  {d:9.2f} {c:11.1f}  {n}" for d, c, n in sorted(diff, key=lambda x: -abs(x[0]))[:TOP]]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
