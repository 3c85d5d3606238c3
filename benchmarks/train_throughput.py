"""Training throughput and peak memory: hrmkit's Trainer step vs. the same math as a bare PyTorch loop.

One training step = one ACT segment for the batch (forward, the Q-target forward where the model
learns Q-continue (HRM, the transformer baseline; not TRM), backward, AdamATan2 + sign-SGD; no EMA,
which these configs do not use). hrmkit's step is what ``Trainer.fit`` does per step: ``train_step`` and the on-device
metric sums. Each configuration runs in its own process so peak RSS is its own. The Trainer keeps freed heap memory
between CPU steps (``hrmkit.runtime.keep_freed_memory``); the bare loop runs with glibc's defaults, as a plain script
would. Prints one JSON object.

    python benchmarks/train_throughput.py                 # every config (paper sizes @ seq 81, small ones); fp32, bf16 if the CPU has AMX-BF16
    python benchmarks/train_throughput.py --quick         # small configs only
    python benchmarks/train_throughput.py --quick --only trm-small --dtype float32   # one row
    python benchmarks/train_throughput.py --compare 27M,small --repeats 5 --dtype float32 --out benchmarks/results/compare.json

``--compare`` is the hrmkit-vs-bare measurement to quote: for each config it runs hrmkit and the bare loop
``--repeats`` times each, interleaved (alternating which goes first), each run in a fresh process, and reports the
medians of examples/s, CPU seconds per step, page faults per step and peak RSS, the ratio of the medians and the
median of the per-repeat ratios. On a busy machine add ``--threads 1``: with fewer free cores than threads, OpenMP's
spin-waits make two-thread timings swing by 2x from run to run. Rows and runs are printed to stderr as they finish.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

# HRM: H_layers/L_layers, 2x2 cycles. TRM: one net of L_layers blocks, T = H_cycles, n = L_cycles, a 16-position prefix.
# Transformer: num_layers blocks, one pass per segment.
CONFIGS = {
    "27M": dict(arch="hrm", hidden_size=512, num_heads=8, H_layers=4, L_layers=4, expansion=4.0, seq_side=9, batch=16, steps=8),
    "small": dict(arch="hrm", hidden_size=128, num_heads=4, H_layers=2, L_layers=2, expansion=4.0, seq_side=9, batch=64, steps=30),
    "trm-mlp-5M": dict(arch="trm", hidden_size=512, num_heads=8, L_layers=2, H_cycles=3, L_cycles=6, mlp_t=True, expansion=4.0,
                       seq_side=9, batch=16, steps=4),
    "trm-att-7M": dict(arch="trm", hidden_size=512, num_heads=8, L_layers=2, H_cycles=3, L_cycles=6, mlp_t=False, expansion=4.0,
                       seq_side=9, batch=16, steps=4),
    "trm-small": dict(arch="trm", hidden_size=128, num_heads=4, L_layers=2, H_cycles=3, L_cycles=2, mlp_t=False, expansion=4.0,
                      seq_side=9, batch=64, steps=20),
    "transformer-27M": dict(arch="transformer", hidden_size=512, num_heads=8, num_layers=8, expansion=4.0, seq_side=9, batch=16, steps=8),
    "transformer-small": dict(arch="transformer", hidden_size=128, num_heads=4, num_layers=4, expansion=4.0, seq_side=9, batch=64, steps=30),
}
SMALL = ["small", "trm-small", "transformer-small"]


def _prefix(c: dict) -> int:
    return 16 if c["arch"] == "trm" else 1


def _num_blocks(c: dict) -> int:
    return {"hrm": lambda: c["H_layers"] + c["L_layers"], "trm": lambda: c["L_layers"], "transformer": lambda: c["num_layers"]}[c["arch"]]()


def _make_dataset(path: str, side: int) -> None:
    import numpy as np

    from hrmkit.data.format import DatasetMetadata, SplitArrays, write_dataset

    rng = np.random.default_rng(0)
    n = 512
    seq = side * side
    arrays = SplitArrays(inputs=rng.integers(1, 11, (n, seq)), labels=rng.integers(2, 11, (n, seq)),
                         puzzle_identifiers=np.zeros(n, dtype=np.int32), puzzle_indices=np.arange(n + 1),
                         group_indices=np.arange(n + 1))
    meta = DatasetMetadata(format_version=1, task="sudoku", seq_len=seq, vocab_size=11, num_puzzle_identifiers=1,
                           grid_shape=(side, side), tokens=[str(i) for i in range(11)], splits={})
    write_dataset(path, meta, {"train": arrays, "test": arrays}, overwrite=True)


def hrmkit_trainer(name: str, dtype: str, data: str, compile_model: bool | str = False):
    """hrmkit's Trainer for a benchmark config (no evaluation, no TensorBoard)."""
    from hrmkit.config import TrainConfig
    from hrmkit.models import HRMConfig, TransformerConfig, TRMConfig
    from hrmkit.train import Trainer

    c = CONFIGS[name]
    common = dict(hidden_size=c["hidden_size"], num_heads=c["num_heads"], expansion=c["expansion"], forward_dtype=dtype, halt_max_steps=16,
                  puzzle_emb_ndim=c["hidden_size"])
    if c["arch"] == "hrm":
        arch = HRMConfig(H_layers=c["H_layers"], L_layers=c["L_layers"], **common)
    elif c["arch"] == "trm":
        arch = TRMConfig(L_layers=c["L_layers"], H_cycles=c["H_cycles"], L_cycles=c["L_cycles"], mlp_t=c["mlp_t"],
                         pos_encodings="none" if c["mlp_t"] else "rope", **common)
    else:
        arch = TransformerConfig(num_layers=c["num_layers"], **common)
    cfg = TrainConfig(data_path=data, arch=arch, global_batch_size=c["batch"], epochs=1000, eval_interval=None,
                      run_dir=tempfile.mkdtemp(), tensorboard=False, lr_warmup_steps=10, compile=compile_model)
    return Trainer(cfg, progress=False)


def hrmkit_step_fn(trainer) -> Callable[[], None]:
    """What ``Trainer.fit`` does every step: the training step and the on-device metric sums (logging and
    checkpoints come every ``log_every``/``checkpoint_every`` steps, not per step)."""
    from hrmkit.metrics import accumulate

    sums: dict = {}

    def step() -> None:
        accumulate(sums, trainer.train_step(), trainer._sum_dtype)

    return step


def bare_step_fn(name: str, dtype: str) -> Callable[[], None]:
    """The same math with plain tensors: no carry objects, sampler, metrics or modules. Each call is one step."""
    import torch
    import torch.nn.functional as F

    c = CONFIGS[name]
    torch.manual_seed(0)
    arch = c["arch"]
    d, H, B = c["hidden_size"], c["num_heads"], c["batch"]
    P = _prefix(c)
    L = c["seq_side"] ** 2 + P
    fdt = torch.bfloat16 if dtype == "bfloat16" else torch.float32
    mlp_t = c.get("mlp_t", False)

    def width(h):
        return -(-round(c["expansion"] * h * 2 / 3) // 256) * 256

    inter, inter_t = width(d), width(L)

    def w(o, i):
        return (torch.randn(o, i) / math.sqrt(i)).requires_grad_(True)

    # attention block: [qkv, o, gate_up, down]; mlp_t block: [token gate_up, token down, gate_up, down]
    mixer = (lambda: [w(2 * inter_t, L), w(L, inter_t)]) if mlp_t else (lambda: [w(3 * d, d), w(d, d)])
    layers = [[*mixer(), w(2 * inter, d), w(d, inter)] for _ in range(_num_blocks(c))]
    emb, head, qw = w(11, d), w(11, d), torch.zeros(2, d, requires_grad=True)
    qb = torch.full((2,), -5.0, requires_grad=True)
    puzzle = torch.zeros(1, d, requires_grad=True)
    params = [p for layer in layers for p in layer] + [emb, head, qw, qb]
    state = {id(p): (torch.zeros_like(p), torch.zeros_like(p)) for p in params}
    inv = 1.0 / (10000 ** (torch.arange(0, d // H, 2).float() / (d // H)))
    f = torch.outer(torch.arange(L).float(), inv)
    cos, sin = torch.cat([f, f], -1).cos()[:, None], torch.cat([f, f], -1).sin()[:, None]

    def rms(x):
        return (x.float() * torch.rsqrt(x.float().square().mean(-1, keepdim=True) + 1e-5)).to(fdt)

    def rot(x):
        a, b = x.float().chunk(2, -1)
        return (x.float() * cos + torch.cat([-b, a], -1) * sin).to(fdt)

    def block(h, ws):
        m1, m2, gu, dn = (p.to(fdt) for p in ws)
        if mlp_t:  # token mixing on [B, D, L], normalised over L there (TRM's mlp_t)
            t = h.transpose(1, 2)
            g, u = F.linear(t, m1).chunk(2, -1)
            h = rms(t + F.linear(F.silu(g) * u, m2)).transpose(1, 2)
        else:
            q, k, v = F.linear(h, m1).view(B, L, 3, H, d // H).unbind(2)
            a = F.scaled_dot_product_attention(rot(q).transpose(1, 2), rot(k).transpose(1, 2), v.transpose(1, 2))
            h = rms(h + F.linear(a.transpose(1, 2).reshape(B, L, d), m2))
        g, u = F.linear(h, gu).chunk(2, -1)
        return rms(h + F.linear(F.silu(g) * u, dn))

    def module(z, inj, ws):
        z = z + inj
        for layer in ws:
            z = block(z, layer)
        return z

    def heads(y):
        q = F.linear(y[:, 0], qw.to(fdt), qb.to(fdt)).float()
        return F.linear(y, head.to(fdt))[:, P:], q

    if arch == "hrm":
        Hl, Ll = layers[: c["H_layers"]], layers[c["H_layers"]:]

        def segment(s, x):
            zH, zL = s
            with torch.no_grad():
                for i in range(2):
                    for j in range(2):
                        if (i, j) != (1, 1):
                            zL = module(zL, zH + x, Ll)
                    if i == 0:
                        zH = module(zH, zL, Hl)
            zL = module(zL, zH + x, Ll)
            zH = module(zH, zL, Hl)
            return (zH, zL), *heads(zH)
    elif arch == "trm":
        def recursion(y, z, x):
            for _ in range(c["L_cycles"]):
                z = module(z, y + x, layers)
            return module(y, z, layers), z

        def segment(s, x):
            y, z = s
            with torch.no_grad():
                for _ in range(c["H_cycles"] - 1):
                    y, z = recursion(y, z, x)
            y, z = recursion(y, z, x)
            return (y, z), *heads(y)
    else:
        def segment(s, x):
            h = module(s[0], x, layers)
            return (h,), *heads(h)

    learns_continue = arch != "trm"
    tokens = torch.randint(1, 11, (B, L - P))
    labels = torch.randint(2, 11, (B, L - P))
    carry = tuple(torch.randn(B, L, d).to(fdt) for _ in range(1 if arch == "transformer" else 2))

    def step(t, carry):
        prefix = torch.cat([puzzle.expand(B, 1, d), torch.zeros(B, P - 1, d)], 1)
        x = torch.cat([prefix, F.embedding(tokens, emb)], 1).to(fdt) * math.sqrt(d)
        carry, logits, q = segment(carry, x)
        carry = tuple(s.detach() for s in carry)
        lg = logits.double()
        s = torch.where(lg < 0, 1 / (1 - lg + 1e-30), lg + 1)
        lm = -torch.log(s / s.sum(-1, keepdim=True)).gather(-1, labels[..., None]).squeeze(-1).mean(-1).sum()
        correct = (logits.argmax(-1) == labels).all(-1).float()
        loss = lm + 0.5 * F.binary_cross_entropy_with_logits(q[:, 0], correct, reduction="sum")
        if learns_continue:
            with torch.no_grad():
                _, _, q_next = segment(carry, x.detach())
            loss = loss + 0.5 * F.binary_cross_entropy_with_logits(q[:, 1], torch.sigmoid(q_next.max(-1).values), reduction="sum")
        (loss / B).backward()
        with torch.no_grad():
            for p in params:
                m, v = state[id(p)]
                p.mul_(1 - 1e-4 * 0.1)
                m.lerp_(p.grad, 0.1)
                v.mul_(0.95).addcmul_(p.grad, p.grad, value=0.05)
                p.add_(torch.atan2(m, v.sqrt() / math.sqrt(1 - 0.95**t)), alpha=-1e-4 / (1 - 0.9**t))
                p.grad = None
            puzzle.grad = None
        return carry

    held = {"t": 0, "carry": carry}

    def one() -> None:
        held["t"] += 1
        held["carry"] = step(held["t"], held["carry"])

    return one


def _timed(step: Callable[[], None], warmup: int, steps: int, batch: int) -> dict[str, float]:
    """examples/s over ``steps`` steps after ``warmup``, and what the process spent: CPU seconds and page faults per step."""
    for _ in range(warmup):
        step()
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(steps):
        step()
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"examples_per_s": round(batch * steps / wall, 2), "cpu_s_per_step": round(cpu / steps, 3),
            "page_faults_per_step": round((after.ru_minflt - before.ru_minflt) / steps)}


def _single(name: str, dtype: str, impl: str) -> None:
    import torch

    if os.environ.get("OMP_NUM_THREADS"):  # set by --threads: torch reads it at import, made explicit here
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    c = CONFIGS[name]
    if impl in ("hrmkit", "hrmkit-compiled"):
        data = tempfile.mkdtemp() + "/ds"
        _make_dataset(data, c["seq_side"])
        compiled = impl == "hrmkit-compiled"
        step = hrmkit_step_fn(hrmkit_trainer(name, dtype, data, compile_model=compiled))
        row = _timed(step, 3 if compiled else 1, c["steps"], c["batch"])  # compilation (and recompiles) in the warm-up
    else:
        row = _timed(bare_step_fn(name, dtype), 1, c["steps"], c["batch"])
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(row))


def _run_single(name: str, dtype: str, impl: str, threads: int | None) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)} if threads else None
    out = subprocess.run([sys.executable, __file__, "--single", name, dtype, impl], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(names: list[str], impls: list[str], dtype: str, repeats: int, threads: int | None) -> dict[str, object]:
    """Interleaved runs: every repeat runs each implementation once, in alternating order, each in a fresh process;
    medians over repeats. On a shared machine the load drifts, so a ratio of interleaved medians is what to read."""
    import torch

    out: dict[str, object] = {"mode": "compare", "dtype": dtype, "repeats": repeats, "threads": threads or torch.get_num_threads(),
                              "cpu": _cpu_name(), "torch": torch.__version__, "load_average_start": round(os.getloadavg()[0], 2)}
    for name in names:
        runs: dict[str, list[dict[str, float]]] = {impl: [] for impl in impls}
        for r in range(repeats):
            for impl in impls if r % 2 == 0 else impls[::-1]:
                row = _run_single(name, dtype, impl, threads)
                runs[impl].append(row)
                print(f"{name} {impl} #{r + 1}: {json.dumps(row)}", file=sys.stderr, flush=True)
        summary: dict[str, object] = {"runs": runs}
        for impl in impls:
            summary[impl] = {k: statistics.median(row[k] for row in runs[impl]) for k in runs[impl][0]}
        ref = impls[-1]  # bare
        for impl in impls[:-1]:
            mine, base = summary[impl], summary[ref]
            summary[f"{impl}_vs_{ref}"] = {
                "speed_ratio_of_medians": round(mine["examples_per_s"] / base["examples_per_s"], 3),  # type: ignore[index]
                "speed_ratio_median_of_pairs": round(statistics.median(a["examples_per_s"] / b["examples_per_s"]
                                                                        for a, b in zip(runs[impl], runs[ref])), 3),
                "cpu_time_ratio": round(base["cpu_s_per_step"] / mine["cpu_s_per_step"], 3),  # type: ignore[index]  # >1: hrmkit uses less
                "peak_rss_ratio": round(mine["peak_rss_mb"] / base["peak_rss_mb"], 3),  # type: ignore[index]
            }
            print(f"{name}: {impl}/{ref} {json.dumps(summary[f'{impl}_vs_{ref}'])}", file=sys.stderr, flush=True)
        out[name] = summary
    out["load_average_end"] = round(os.getloadavg()[0], 2)
    return out


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small configs only")
    parser.add_argument("--only", nargs="+", choices=sorted(CONFIGS), help="just these configs")
    parser.add_argument("--dtype", nargs="+", choices=["float32", "bfloat16"], default=["float32", "bfloat16"])
    parser.add_argument("--compile", action="store_true", help="also measure hrmkit with torch.compile (fp32)")
    parser.add_argument("--force-bf16", action="store_true", help="run bf16 rows even on a CPU without bf16 matrix units")
    parser.add_argument("--compare", metavar="CONFIGS", help="comma-separated configs: interleaved hrmkit/bare runs, medians (see above)")
    parser.add_argument("--repeats", type=int, default=5, help="--compare: runs of each implementation per config")
    parser.add_argument("--impls", default="hrmkit,bare", help="--compare: implementations, the reference last (hrmkit-compiled too)")
    parser.add_argument("--threads", type=int, help="torch/OpenMP threads of every run (default: torch's, all cores)")
    parser.add_argument("--out", help="also write the JSON to this file")
    parser.add_argument("--single", nargs=3, metavar=("CONFIG", "DTYPE", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        _single(*args.single)
        return
    if args.compare:
        names = args.compare.split(",")
        unknown = [n for n in names if n not in CONFIGS]
        if unknown:
            parser.error(f"unknown config {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
        results = compare(names, args.impls.split(","), args.dtype[0], args.repeats, args.threads)
    else:
        results = _table(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def _table(args: argparse.Namespace) -> dict[str, object]:
    import torch

    from hrmkit.models.base import cpu_has_bf16_matrix_units

    results: dict[str, object] = {"device": "cpu", "threads": args.threads or torch.get_num_threads(), "torch": torch.__version__,
                                  "cpu": _cpu_name(),
                                  "note": "examples/s = one ACT segment (fwd + Q-target fwd where learned + bwd + optimizer) per example"}
    # Without bf16 matrix units a CPU emulates bf16 at a small fraction of fp32 speed (0.15 ex/s for the 27M config
    # on a 2-core AVX2 EPYC): such rows took most of a 20-minute run and measure nothing a user would choose, so they
    # are skipped unless asked. The test is the one forward_dtype: auto uses (hrmkit.models.base).
    fast_bf16 = cpu_has_bf16_matrix_units()
    results["bf16_matrix_units"] = fast_bf16
    for name in args.only or (SMALL if args.quick else list(CONFIGS)):
        for dtype in args.dtype:
            key = f"{name}_seq{CONFIGS[name]['seq_side'] ** 2}_{dtype}"
            if dtype == "bfloat16" and not fast_bf16 and not args.force_bf16:
                results[key] = {"skipped": "bfloat16: this CPU has no AMX-BF16 units, so bf16 is emulated and far slower than fp32 "
                                           "(--force-bf16 runs it)"}
                print(f"{key}: skipped (bfloat16: no AMX-BF16 units)", file=sys.stderr, flush=True)
                continue
            row: dict[str, object] = {}
            for impl in ("hrmkit", "bare"):
                row[impl] = _run_single(name, dtype, impl, args.threads)
            row["overhead_pct"] = round(100 * (row["bare"]["examples_per_s"] / row["hrmkit"]["examples_per_s"] - 1), 1)  # type: ignore[index]
            if args.compile and dtype == "float32":
                row["hrmkit-compiled"] = _run_single(name, dtype, "hrmkit-compiled", args.threads)
            results[key] = row
            print(f"{key}: {json.dumps(row)}", file=sys.stderr, flush=True)  # rows as they finish; the JSON comes at the end
    return results


if __name__ == "__main__":
    main()
