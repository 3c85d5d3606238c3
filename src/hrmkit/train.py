"""The training loop: device-agnostic, DDP when launched by torchrun, resumable exactly.

Each loop iteration is one ACT segment for every slot of the batch followed by one optimizer step
(deep supervision): the carry is detached between segments, so memory stays flat.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hrmkit import checkpoint
from hrmkit.config import TrainConfig
from hrmkit.data.format import Dataset, load_dataset
from hrmkit.data.loader import TrainSampler
from hrmkit.errors import HrmError
from hrmkit.evaluate import EvalResult, evaluate, to_device
from hrmkit.models import ACTCarry, ACTModel, build_model
from hrmkit.models.layers import SparsePuzzleEmbedding
from hrmkit.models.losses import act_loss
from hrmkit.optim import AdamATan2, SignSGDSparse, lr_at


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


def steps_per_epoch(cfg: TrainConfig, dataset: Dataset) -> float:
    """An epoch visits every group once, one variant each (reference definition)."""
    info = dataset.metadata.splits["train"]
    return info.total_groups * info.mean_puzzle_examples / cfg.global_batch_size


def ensure_dataset(cfg: TrainConfig, progress: bool, runtime: Runtime | None = None) -> Dataset:
    """Load the dataset; build it first from ``data_preset`` when it is missing (on rank 0 only)."""
    path = Path(cfg.data_path)
    is_main = runtime is None or runtime.is_main
    if is_main and not (path / "metadata.json").exists() and cfg.data_preset:
        from hrmkit.data import build as builder

        print(f"building dataset {cfg.data_preset} into {path} ...")
        builder.build(builder.make_config(cfg.data_preset), path, progress=progress)
    if runtime is not None and runtime.distributed:
        dist.barrier()
    if not path.exists():
        raise HrmError(f"dataset {path} not found; build it with `hrm data build NAME --out {path}`")
    return load_dataset(path)


def _default_run_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{Path(cfg.data_path).name}-{cfg.arch.name}-{time.strftime('%Y%m%d-%H%M%S')}"


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress: bool = True, runtime: Runtime | None = None):
        self.cfg = cfg
        self.progress = progress
        self.rt = runtime or init_runtime(cfg.device)
        self.run_dir = Path(run_dir or cfg.run_dir or _default_run_dir(cfg))
        if not resume and (self.run_dir / "checkpoints" / "latest").exists():
            raise HrmError(f"{self.run_dir} already holds a run; resume it with `hrm train --resume {self.run_dir}` or pick another run_dir")
        self.dataset = ensure_dataset(cfg, progress and self.rt.is_main, self.rt)
        meta = self.dataset.metadata
        if cfg.global_batch_size % self.rt.world_size:
            raise HrmError(f"global_batch_size {cfg.global_batch_size} is not divisible by {self.rt.world_size} processes")
        self.local_batch_size = cfg.global_batch_size // self.rt.world_size

        # Same weights and fixed H/L init states on every rank; then per-rank randomness for ACT exploration.
        torch.manual_seed(cfg.seed)
        self.model: ACTModel = build_model(cfg.arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, self.rt.device)
        torch.manual_seed(cfg.seed + self.rt.rank)
        if cfg.compile:
            # Compile the recursion only: embeddings (with the sparse leaf) and the carry logic stay eager.
            self.model.core.forward = torch.compile(self.model.core.forward, dynamic=False)
        self.forward_model: torch.nn.Module = self.model
        if self.rt.distributed:
            # Buffers are not re-broadcast each step: the puzzle table is kept in sync by SignSGDSparse.
            self.forward_model = DistributedDataParallel(self.model, broadcast_buffers=False)
        self.optimizer = AdamATan2(self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
        self.sparse = SignSGDSparse([m for m in self.model.modules() if isinstance(m, SparsePuzzleEmbedding)],
                                    lr=cfg.puzzle_emb_lr, weight_decay=cfg.puzzle_emb_weight_decay)
        self.sampler = TrainSampler(self.dataset["train"], cfg.global_batch_size, cfg.seed, self.rt.rank, self.rt.world_size,
                                    meta.ignore_label_id)
        spe = steps_per_epoch(cfg, self.dataset)
        self.total_steps = max(int(cfg.epochs * spe), 1)
        self.eval_every = max(round(cfg.eval_interval * spe), 1) if cfg.eval_interval else self.total_steps
        self.step = 0
        self.carry: ACTCarry | None = None
        self.last_eval: dict[str, float] = {}
        self.last_eval_result: EvalResult | None = None  # with the per-segment curve; None until an eval in this process
        if resume:
            self._load(checkpoint.resolve(self.run_dir))
        self.writer = None
        if self.rt.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            metrics_file = self.run_dir / "metrics.jsonl"
            if resume and metrics_file.exists():
                # Drop what a killed run logged after its last checkpoint: those steps are trained again.
                kept = [line for line in metrics_file.read_text().splitlines() if line and json.loads(line)["step"] <= self.step]
                metrics_file.write_text("".join(line + "\n" for line in kept))
            (self.run_dir / "config.json").write_text(json.dumps(cfg.model_dump(), indent=2))
            if cfg.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    # ---- one optimizer step = one ACT segment

    def train_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        self.model.train()
        batch = to_device(self.sampler.next_batch(), self.rt.device)
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        step = self.step + 1
        carry, outputs = self.forward_model(self.carry, batch)
        loss, metrics = act_loss(outputs, carry.data["labels"], carry.halted, carry.steps, cfg.arch.loss_type)
        # Loss is a sum over rows; dividing by the local batch makes DDP's gradient mean the global mean.
        (loss / self.local_batch_size).backward()
        lr = lr_at(step, cfg.lr, cfg.lr_warmup_steps, self.total_steps, cfg.lr_min_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.sparse.lr = lr_at(step, cfg.puzzle_emb_lr, cfg.lr_warmup_steps, self.total_steps, cfg.lr_min_ratio)
        self.optimizer.step()
        self.sparse.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.sparse.zero_grad()
        self.carry, self.step = carry, step
        metrics["loss"] = loss.detach()
        metrics["lr"] = torch.tensor(lr)
        return metrics

    def run_eval(self, steps: int | None = None) -> EvalResult:
        result = evaluate(self.model, self.dataset["test"], self.dataset.metadata, self.cfg.global_batch_size, self.rt.device,
                          steps=steps, max_examples=self.cfg.eval_max_examples, loss_type=self.cfg.arch.loss_type,
                          rank=self.rt.rank, world_size=self.rt.world_size, progress=False)
        self.last_eval, self.last_eval_result = result.metrics, result
        return result

    # ---- logging

    def _log(self, split: str, values: dict[str, float]) -> None:
        if not self.rt.is_main:
            return
        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": self.step, "split": split, **values}) + "\n")
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{split}/{k}", v, self.step)

    @property
    def _acc_dtype(self) -> torch.dtype:
        return torch.float32 if self.rt.device.type == "mps" else torch.float64  # MPS has no float64

    def _reduce(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        keys = sorted(sums)
        packed = torch.stack([sums[k].to(self.rt.device, self._acc_dtype) for k in keys])
        if self.rt.distributed:
            dist.all_reduce(packed)
        values = dict(zip(keys, packed.tolist()))
        count = max(values.pop("count", 0.0), 1.0)
        n_steps = max(values.pop("n", 1.0), 1.0)
        out = {}
        for k, v in values.items():
            if k in ("loss", "lm_loss", "q_halt_loss", "q_continue_loss"):
                out[k] = v / (n_steps * self.cfg.global_batch_size)
            elif k == "lr":
                out[k] = v / (n_steps * self.rt.world_size)
            else:
                out[k] = v / count
        out["halted_per_step"] = count / n_steps
        return out

    # ---- checkpoints

    def save(self, final: bool = False) -> Path | None:
        assert self.carry is not None
        # Every rank's carry and RNG go into rank 0's checkpoint, so a multi-process run resumes exactly.
        mine = {f"carry.{k}": v.cpu() for k, v in self.carry.tensors().items()}
        mine["rng.torch_cpu"] = torch.get_rng_state()
        if self.rt.device.type == "cuda":
            mine["rng.torch_cuda"] = torch.cuda.get_rng_state(self.rt.device)
        ranks: list[Any] = [mine]
        if self.rt.distributed:
            ranks = [None] * self.rt.world_size
            dist.all_gather_object(ranks, mine)
        path = None
        if self.rt.is_main:
            optim_tensors = {}
            names = {id(p): n for n, p in self.model.named_parameters()}
            for p, state in self.optimizer.state.items():
                for k, v in state.items():
                    optim_tensors[f"{names[id(p)]}.{k}"] = v
            carry = {f"rank{r}.{k.removeprefix('carry.')}": v for r, d in enumerate(ranks) for k, v in d.items() if k.startswith("carry.")}
            rng = {f"rank{r}.{k.removeprefix('rng.')}": v for r, d in enumerate(ranks) for k, v in d.items() if k.startswith("rng.")}
            state = {"step": self.step, "sampler": self.sampler.state_dict(), "last_eval": self.last_eval,
                     "world_size": self.rt.world_size}
            path = checkpoint.save_checkpoint(
                self.run_dir / "checkpoints" / f"step_{self.step}", self.model, self.cfg, self.dataset.metadata,
                training={"optimizer": optim_tensors, "carry": carry, "rng": rng, "state": state})
        if self.rt.distributed:
            dist.barrier()
        return path

    def _load(self, path: Path) -> None:
        state = checkpoint.read_state(path)
        if state.get("world_size", 1) != self.rt.world_size:
            raise HrmError(f"{path} was written by {state.get('world_size')} processes; resume it with the same number")
        weights = checkpoint.read_tensors(path, "model")
        missing, unexpected = self.model.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise HrmError(f"{path}: weights do not fit the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
        optim = checkpoint.read_tensors(path, "optimizer")
        for name, p in self.model.named_parameters():
            if f"{name}.step" in optim:
                self.optimizer.state[p] = {k: optim[f"{name}.{k}"].to(p.device) for k in ("step", "exp_avg", "exp_avg_sq")}
                self.optimizer.state[p]["step"] = self.optimizer.state[p]["step"].cpu()
        prefix = f"rank{self.rt.rank}."
        carry = checkpoint.read_tensors(path, "carry")
        self.carry = ACTCarry.from_tensors({k.removeprefix(prefix): v.to(self.rt.device) for k, v in carry.items() if k.startswith(prefix)})
        rng = checkpoint.read_tensors(path, "rng")
        torch.set_rng_state(rng[prefix + "torch_cpu"])
        if prefix + "torch_cuda" in rng and self.rt.device.type == "cuda":
            torch.cuda.set_rng_state(rng[prefix + "torch_cuda"], self.rt.device)
        self.sampler.load_state_dict(state["sampler"])
        self.step = int(state["step"])
        self.last_eval = state.get("last_eval", {})

    # ---- the loop

    def fit(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train to the end (or ``max_steps`` more steps); returns a summary."""
        cfg = self.cfg
        stop = self.total_steps if max_steps is None else min(self.total_steps, self.step + max_steps)
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.progress and self.rt.is_main), dynamic_ncols=True)
        sums: dict[str, torch.Tensor] = {}
        started, first_step = time.perf_counter(), self.step
        saved_at = self.step
        self.interrupted = False
        previous_handler = None
        if not self.rt.distributed and threading.current_thread() is threading.main_thread():
            # First Ctrl-C: finish the step, write a resumable checkpoint, stop. A second one stops at once.
            def request_stop(signum: int, frame: object) -> None:
                self.interrupted = True
                signal.signal(signal.SIGINT, previous_handler)
            previous_handler = signal.signal(signal.SIGINT, request_stop)
        try:
            while self.step < stop and not self.interrupted:
                metrics = self.train_step()
                # Sums stay on the device: no host sync per step, only at logging time.
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0) + v.detach().to(self.rt.device, self._acc_dtype)
                sums["n"] = sums.get("n", 0) + torch.ones((), device=self.rt.device, dtype=self._acc_dtype)
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == stop:
                    values = self._reduce(sums)
                    sums = {}
                    values["steps_per_s"] = (self.step - first_step) / (time.perf_counter() - started)
                    self._log("train", values)
                    post = {"loss": f"{values['loss']:.3f}", "acc": f"{values.get('accuracy', 0):.3f}",
                            "exact": f"{values.get('exact_accuracy', 0):.3f}"}
                    if self.last_eval:
                        post["eval_exact"] = f"{self.last_eval['exact_accuracy']:.3f}"
                    bar.set_postfix(post, refresh=False)
                is_eval = self.step % self.eval_every == 0 or self.step == self.total_steps
                if is_eval:
                    result = self.run_eval()
                    self._log("eval", {**result.metrics, **{f"exact_at_step_{i + 1}": v for i, v in enumerate(result.exact_by_step)}})
                if is_eval or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self.save()
                    saved_at = self.step
            if self.step > first_step and saved_at != self.step:
                self.save()  # a stop at max_steps or on Ctrl-C leaves a resumable checkpoint
        finally:
            if previous_handler is not None:
                signal.signal(signal.SIGINT, previous_handler)
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        return {"step": self.step, "total_steps": self.total_steps, "eval": self.last_eval, "run_dir": str(self.run_dir),
                "seconds": time.perf_counter() - started, "interrupted": self.interrupted}

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.rt.distributed and dist.is_initialized():
            dist.destroy_process_group()
