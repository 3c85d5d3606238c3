"""When `compile: auto` compiles a run with torch.compile: a rule from measurements, kept apart from the training loop."""

from __future__ import annotations

import os
import shutil

import torch
from torch import nn

from hrmkit.models.configs import ModelConfig

# Measured with benchmarks/compile_gain.py on a 2-core AMD EPYC (AVX2), 1 thread, torch 2.13, fresh
# processes, inductor caches off (benchmarks/results/compile.json, idle machine): cpu-sudoku-4x4 (hidden 64) compiles in
# 71 s and then steps 1.25x faster (break-even after 1621 steps; its preset runs 2500), the 1.05M "small" config (hidden
# 128) 79 s for 1.09x (313 steps), the 27M model (hidden 512) 107 s for 1.003x: its matmuls are nearly all of the step
# and inductor only fuses the elementwise work around them (norms, rotary, SwiGLU). The demo (hidden 64, 1000 steps)
# measured 254 s for 1.13x on a loaded machine (compile-loaded.json): break-even 1824 steps, past its run. Hence, on
# the CPU: compile runs of at least 2000 steps with hidden_size <= 256. CUDA and MPS were not measured here (no GPU
# lent): eager until a measurement says otherwise.
CPU_COMPILE_MIN_STEPS = 2000
CPU_COMPILE_MAX_HIDDEN = 256


def cxx_compiler() -> str | None:
    """Inductor builds C++ for the CPU; without a compiler torch.compile fails at the first step."""
    return os.environ.get("CXX") or next(filter(None, (shutil.which(c) for c in ("g++", "clang++", "c++", "cl"))), None)


def resolve_compile(setting: bool | str, device: torch.device, steps: int, arch: ModelConfig) -> tuple[bool, str]:
    """Whether to torch.compile a run of ``steps`` steps (``compile: auto|true|false``), and why in a few words."""
    if isinstance(setting, bool):
        return setting, f"compile={str(setting).lower()}"
    if device.type != "cpu":
        return False, f"auto: eager on {device.type} (compiling there has not been measured)"
    hidden = getattr(arch, "hidden_size", None)
    if hidden is not None and hidden > CPU_COMPILE_MAX_HIDDEN:
        return False, f"auto: eager (hidden_size {hidden} > {CPU_COMPILE_MAX_HIDDEN}: compiling gains nothing on the CPU)"
    if steps < CPU_COMPILE_MIN_STEPS:
        return False, f"auto: eager ({steps} steps < {CPU_COMPILE_MIN_STEPS}: compiling would not pay for itself)"
    if cxx_compiler() is None:
        return False, "auto: eager (no C++ compiler for torch.compile)"
    return True, f"auto: compiled ({steps} steps >= {CPU_COMPILE_MIN_STEPS} on the CPU; the first step takes minutes)"


def compile_core(model: nn.Module, fall_back_to_eager: bool) -> None:
    """torch.compile the recursion only (``model.core.forward``): the embeddings (with the sparse puzzle table) and the
    ACT carry logic stay eager. ``fall_back_to_eager`` (compile: auto): where inductor cannot build (no Python headers,
    an odd toolchain) dynamo runs that code eager with a warning instead of failing the run."""
    if fall_back_to_eager:
        import torch._dynamo.config as dynamo_config

        dynamo_config.suppress_errors = True
    model.core.forward = torch.compile(model.core.forward, dynamic=False)
