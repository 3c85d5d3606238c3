"""Where a run executes: the device, the process group under torchrun (DDP), and a graceful stop
on Ctrl-C. Nothing here knows about models or data."""

from __future__ import annotations

import ctypes
import functools
import os
import platform
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist

from hrmkit.errors import HrmError


def select_device(name: str = "auto") -> torch.device:
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError:
            raise HrmError(f"unknown device {name!r}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise HrmError("device cuda asked for, but torch sees no CUDA GPU")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise HrmError("device mps asked for, but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class Runtime:
    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def init_runtime(device_name: str) -> Runtime:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", 1))
    device = select_device(device_name)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Runtime(device=device, rank=rank, world_size=world_size)


# glibc mallopt parameters (malloc.h) and the values used while a CPU training loop runs.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit; where its dynamic threshold ends up anyway
# After keep=False: glibc's dynamic thresholds cannot be switched back on once set, so use where they end up
# (trim at twice the mmap threshold); its initial 128 KiB would hand back and fault in memory on every free.
_RESTORED_TRIM_THRESHOLD = 2 * _MMAP_THRESHOLD
_NEVER_TRIM = -1  # mallopt(3): -1 disables trimming


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def keep_freed_memory(keep: bool) -> bool:
    """On glibc, ``keep=True`` makes freed heap memory stay in the process for the next allocation.

    A CPU training step allocates and frees the same few hundred MB of activations every step; by default glibc
    hands the top of the heap back to the kernel when it is freed (and serves chunks above a moving threshold by
    mmap), so each step faults the same pages in again: 40k-100k page faults per step for the 1M-parameter
    benchmark config, 5-15% of the step, and varying from run to run with the heap's history. Keeping the memory
    removes them (about 500 faults per step) without raising the peak, which the step reaches either way.
    ``keep=False`` trims again (above 64 MB free at the top of the heap, glibc's usual end state) and returns what is
    free now. Elsewhere a no-op; returns whether it applied.
    """
    libc = _glibc()
    if libc is None:
        return False
    if keep:
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))
    libc.mallopt(_M_TRIM_THRESHOLD, _RESTORED_TRIM_THRESHOLD)
    libc.malloc_trim(0)
    return True


class StopRequest:
    """Set by the first Ctrl-C or SIGTERM (the loop finishes its step, saves and stops); a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self.signal: int | None = None  # the signal that asked


# SIGTERM is how `kill`, a batch scheduler (SLURM, Kubernetes) or a shutdown asks a process to end: handled as a Ctrl-C,
# so the steps since the last checkpoint are saved rather than lost.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_on_interrupt(enabled: bool = True) -> Iterator[StopRequest]:
    stop = StopRequest()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def request_stop(signum: int, frame: object) -> None:
        stop.requested, stop.signal = True, signum
        signal.signal(signum, previous[signum])

    for signum in STOP_SIGNALS:
        signal.signal(signum, request_stop)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
