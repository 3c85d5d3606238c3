"""The training loop: device-agnostic, DDP when launched by torchrun, resumable exactly.

Each loop iteration is one ACT segment for every slot of the batch followed by one optimizer step
(deep supervision): the carry is detached between segments, so memory stays flat. Any registered
architecture and task trains here unchanged.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from hrmkit import checkpoint, runfolder
from hrmkit.atomic import atomic_write_text
from hrmkit.compile_policy import compile_core, resolve_compile
from hrmkit.config import TrainConfig
from hrmkit.data.build import open_dataset
from hrmkit.data.format import Dataset
from hrmkit.data.loader import TrainSampler
from hrmkit.ema import EMA
from hrmkit.errors import HrmError, check_at_least
from hrmkit.evaluate import EvalResult, evaluate, to_device
from hrmkit.metrics import accumulate, accumulation_dtype, summarise
from hrmkit.models import ACTCarry, ACTModel, build_model
from hrmkit.models.layers import SparsePuzzleEmbedding
from hrmkit.models.losses import act_loss
from hrmkit.optim import AdamATan2, SignSGDSparse, load_optimizer_tensors, lr_at, optimizer_tensors
from hrmkit.preflight import default_run_dir
from hrmkit.runtime import Runtime, init_runtime, keep_freed_memory, stop_on_interrupt
from hrmkit.tasks import get_task


class TrainingDiverged(HrmError):
    """The loss or the weights became nan or inf; the run stops without writing a checkpoint."""


# Loss parts watched for nan/inf, in the order they are named in the message.
_WATCHED = ("loss", "lm_loss", "q_halt_loss", "q_continue_loss")


def _logged_step(line: str) -> float:
    """The step of a metrics.jsonl line; infinity for a line that is not a complete record."""
    try:
        record = json.loads(line)
        return float(record["step"])
    except (ValueError, TypeError, KeyError):
        return float("inf")


def steps_per_epoch(cfg: TrainConfig, dataset: Dataset) -> float:
    """An epoch visits every group once, one variant each (reference definition)."""
    info = dataset.metadata.splits["train"]
    return info.total_groups * info.mean_puzzle_examples / cfg.global_batch_size


class Trainer:
    """One training run, writing into its run folder. It holds the folder's lock (runfolder.RunLock, rank 0 only)
    from construction to :meth:`close`; use it as a context manager, or call close()."""

    def __init__(self, cfg: TrainConfig, run_dir: str | os.PathLike | None = None, resume: bool = False,
                 progress: bool = True, runtime: Runtime | None = None, accept_changes: bool = False,
                 run_lock: runfolder.RunLock | None = None):
        """``accept_changes``: on resume, train on although ``cfg`` or the dataset differ from the checkpoint's (recorded
        in changes.jsonl). ``run_lock``: the folder's lock, already taken by the caller (hrm demo, before it clears the
        folder); the Trainer releases it on close()."""
        self.cfg = cfg
        self.progress = progress
        self.writer = None
        self._lock = run_lock
        self.rt = runtime or init_runtime(cfg.device)
        # Each CPU step frees and reallocates the same activations: keep them in the process (see keep_freed_memory).
        self._kept_memory = self.rt.device.type == "cpu" and keep_freed_memory(True)
        try:
            self.run_dir = self._take_folder(run_dir or cfg.run_dir)
            self._setup(resume, accept_changes)
        except BaseException:
            # A refused or failed start leaves the folder free for the next attempt, and no empty folder behind.
            if self._lock is not None:
                self._lock.discard()
            self.close()
            raise

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take_folder(self, chosen: str | os.PathLike | None) -> Path:
        """The run folder, locked by rank 0 (the one process that writes into it); the default name is claimed afresh
        (runfolder.claim_default_run_dir). Every rank learns rank 0's folder, or its refusal, so all stop alike."""
        folder, failure = Path(chosen) if chosen else None, None
        if self.rt.is_main:
            try:
                claimed = folder is None
                if folder is None:
                    folder = runfolder.claim_default_run_dir(default_run_dir(self.cfg))
                if self._lock is not None and self._lock.folder != folder:  # a lock handed in for another folder
                    self._lock.release()
                    self._lock = None
                if self._lock is None:
                    self._lock = runfolder.RunLock.acquire(folder)
                    self._lock.created |= claimed
            except HrmError as e:
                failure = e
        if self.rt.distributed:
            shared = [str(folder) if folder else None, str(failure) if failure else None]
            dist.broadcast_object_list(shared, src=0)
            folder = Path(shared[0]) if shared[0] else None
            if shared[1] and failure is None:
                failure = HrmError(shared[1])
        if failure is not None:
            raise failure
        assert folder is not None
        return folder

    def _setup(self, resume: bool, accept_changes: bool) -> None:
        ckpt = self._open_data(resume, accept_changes)
        self._build_model_and_optimizers()
        self._plan_schedule()
        if ckpt is not None:
            self._load(ckpt, keep_sampler=not any(c.key == runfolder.DATASET_KEY for c in self.changes),
                       keep_carry=self._saved_batch_size == self.cfg.global_batch_size)
        if self.rt.is_main:
            self._prepare_folder(resume, ckpt, accept_changes)

    def _open_data(self, resume: bool, accept_changes: bool) -> Path | None:
        """The dataset, and the checkpoint to resume from (None: a fresh run). A resume trains with ``cfg``: the
        checkpoint's config, or one that differs only where accepted (see runfolder); so must its dataset."""
        cfg = self.cfg
        self.changes: list[runfolder.Change] = []
        ckpt = runfolder.resume_checkpoint(self.run_dir) if resume else None
        if ckpt is not None:
            saved_cfg, saved_meta = checkpoint.read_config(ckpt)
            self._saved_batch_size = saved_cfg.global_batch_size
            self.changes = runfolder.config_changes(saved_cfg, cfg)
            runfolder.refuse_unaccepted(self.run_dir, ckpt.name, self.changes, accept_changes)  # before reading any data
        else:
            runfolder.check_fresh(self.run_dir)
        self.dataset = open_dataset(cfg.data_path)  # built beforehand from data_preset, if missing: preflight.prepare_data
        if ckpt is not None:
            self.changes += runfolder.dataset_change(saved_meta.content_hash, self.dataset.metadata.content_hash, cfg.data_path)
            runfolder.refuse_unaccepted(self.run_dir, ckpt.name, self.changes, accept_changes)
        get_task(self.dataset.metadata.task)  # an unknown task stops here, not at the first evaluation
        if cfg.global_batch_size % self.rt.world_size:
            raise HrmError(f"global_batch_size {cfg.global_batch_size} is not divisible by {self.rt.world_size} processes")
        return ckpt

    def _build_model_and_optimizers(self) -> None:
        cfg, meta = self.cfg, self.dataset.metadata
        # Same weights and fixed init states on every rank; then per-rank randomness for ACT exploration.
        torch.manual_seed(cfg.seed)
        self.model: ACTModel = build_model(cfg.arch, meta.vocab_size, meta.seq_len, meta.num_puzzle_identifiers, self.rt.device)
        torch.manual_seed(cfg.seed + self.rt.rank)
        # torch.compile or not is decided once, before the first step, when the number of steps to run is known.
        self.compiled: bool | None = None
        self.compile_reason = ""
        self.forward_model: torch.nn.Module = self.model
        if self.rt.distributed:
            # Buffers are not re-broadcast each step: the puzzle table is kept in sync by SignSGDSparse.
            self.forward_model = DistributedDataParallel(self.model, broadcast_buffers=False)
        self.optimizer = AdamATan2(self.model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), weight_decay=cfg.weight_decay)
        self.optimizer.init_state()  # now, not in the first step: a lower peak (see init_state); a resume replaces it
        self.sparse = SignSGDSparse([m for m in self.model.modules() if isinstance(m, SparsePuzzleEmbedding)],
                                    lr=cfg.puzzle_emb_lr, weight_decay=cfg.puzzle_emb_weight_decay)
        self.ema = EMA(self.model, cfg.ema_rate) if cfg.ema else None

    def _plan_schedule(self) -> None:
        """The batches, the step counts, and the state of a run that has not taken a step yet."""
        cfg = self.cfg
        self.local_batch_size = cfg.global_batch_size // self.rt.world_size
        self.sampler = TrainSampler(self.dataset["train"], cfg.global_batch_size, cfg.seed, self.rt.rank, self.rt.world_size,
                                    self.dataset.metadata.ignore_label_id)
        spe = steps_per_epoch(cfg, self.dataset)
        self.total_steps = max(int(cfg.epochs * spe), 1)
        self.eval_every = max(round(cfg.eval_interval * spe), 1) if cfg.eval_interval else self.total_steps
        self.step = 0
        self.carry: ACTCarry | None = None
        self.interrupted = False
        self.stop_signal: int | None = None  # what interrupted the last fit (SIGINT or SIGTERM)
        self.last_eval: dict[str, float] = {}
        self.last_eval_result: EvalResult | None = None  # with the per-segment curve; None until an eval in this process
        self._sum_dtype = accumulation_dtype(self.rt.device)
        # First step whose loss was not finite (0: none yet) and its loss parts, kept on the device: see _watch.
        self._bad_step: torch.Tensor | None = None
        self._bad_values: torch.Tensor | None = None
        self._watched: list[str] = []

    def _prepare_folder(self, resume: bool, ckpt: Path | None, accept_changes: bool) -> None:
        """Rank 0: the run folder as the run goes on from here: nothing logged past the checkpoint, the config, the logs."""
        metrics_file = self.run_dir / "metrics.jsonl"
        if resume:
            checkpoint.remove_temporaries(self.run_dir / "checkpoints")
        if resume and metrics_file.exists():
            # Drop what a killed run logged after its last checkpoint (those steps are trained again), and a
            # last line that a kill cut short.
            kept = [line for line in metrics_file.read_text().splitlines() if _logged_step(line) <= self.step]
            atomic_write_text(metrics_file, "".join(line + "\n" for line in kept))
        if ckpt is not None and self.changes:
            runfolder.record_changes(self.run_dir, self.step, ckpt.name, self.changes, accept_changes)
        checkpoint.write_run_config(self.run_dir, self.cfg, self.dataset.metadata)
        if self.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"))

    @property
    def num_parameters(self) -> int:
        from hrmkit.models import count_parameters

        return count_parameters(self.model)

    # ---- one optimizer step = one ACT segment

    def lr(self, step: int) -> float:
        return lr_at(step, self.cfg.lr, self.cfg.lr_warmup_steps, self.total_steps, self.cfg.lr_min_ratio)

    def decide_compile(self, max_steps: int | None = None) -> bool:
        """Compile the recursion or not (``cfg.compile``; ``auto`` weighs the ``max_steps`` this process will run, default
        the rest of the run); the first call decides, later ones return the decision."""
        if self.compiled is None:
            steps = self.total_steps - self.step if max_steps is None else min(max_steps, self.total_steps - self.step)
            self.compiled, self.compile_reason = resolve_compile(self.cfg.compile, self.rt.device, steps, self.cfg.arch)
            if self.compiled:
                compile_core(self.model, fall_back_to_eager=self.cfg.compile == "auto")
        return self.compiled

    def train_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        if self.compiled is None:
            self.decide_compile()
        self.model.train()
        batch = to_device(self.sampler.next_batch(), self.rt.device)
        if self.carry is None:
            self.carry = self.model.initial_carry(batch)
        step = self.step + 1
        carry, outputs = self.forward_model(self.carry, batch)
        loss, metrics = act_loss(outputs, carry.data["labels"], carry.halted, carry.steps, cfg.arch.loss_type)
        # Loss is a sum over rows; dividing by the local batch makes DDP's gradient mean the global mean.
        (loss / self.local_batch_size).backward()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(step)
        self.sparse.lr = lr_at(step, cfg.puzzle_emb_lr, cfg.lr_warmup_steps, self.total_steps, cfg.lr_min_ratio)
        self.optimizer.step()
        self.sparse.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.sparse.zero_grad()
        if self.ema is not None:
            self.ema.update(self.model)
        self.carry, self.step = carry, step
        metrics["loss"] = loss.detach()
        self._watch(step, metrics)
        return metrics

    # ---- nan/inf: noted on the device every step (no host sync), acted on at the next log or checkpoint

    def _watch(self, step: int, metrics: dict[str, torch.Tensor]) -> None:
        if self._bad_step is None:
            self._watched = [k for k in _WATCHED if k in metrics]
            self._bad_step = torch.zeros((), dtype=torch.int64, device=self.rt.device)
            self._bad_values = torch.zeros(len(self._watched), dtype=torch.float32, device=self.rt.device)
        values = torch.stack([metrics[k].detach().float() for k in self._watched])
        first = ~torch.isfinite(values).all() & (self._bad_step == 0)
        self._bad_step = torch.where(first, torch.full_like(self._bad_step, step), self._bad_step)
        self._bad_values = torch.where(first, values, self._bad_values)

    def _last_good(self) -> str:
        latest = self.run_dir / "checkpoints" / "latest"
        if latest.exists():
            return f"the last good checkpoint, {checkpoint.resolve(self.run_dir)}, is kept"
        return "no checkpoint was written"

    def check_finite(self, weights: bool = False) -> None:
        """Raise :class:`TrainingDiverged` (on every rank) if a loss so far, or with ``weights`` a weight, is nan or inf."""
        if self._bad_step is None:
            return
        never = torch.iinfo(torch.int64).max
        flags = torch.stack([torch.where(self._bad_step > 0, self._bad_step, never),
                             torch.full_like(self._bad_step, never)])
        if weights:  # a finite loss can still come with an update that overflowed the weights
            finite = torch.stack([torch.isfinite(p).all() for p in self.model.parameters()]).all()
            flags[1] = torch.where(finite, never, self.step)
        if self.rt.distributed:
            dist.all_reduce(flags, op=dist.ReduceOp.MIN)  # every rank stops, at the earliest bad step of any
        bad_loss, bad_weights = (int(v) for v in flags.tolist())
        if bad_loss != never:
            assert self._bad_values is not None
            parts = dict(zip(self._watched, self._bad_values.tolist()))
            if int(self._bad_step) == bad_loss:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in parts.items() if k != "loss")
                what, detail = f"{parts['loss']:.4g}", f" ({shown})" if shown else ""
            else:
                what, detail = "nan or inf", " (on another process)"
            raise TrainingDiverged(f"training loss is {what} at step {bad_loss}{detail}; stopped without saving: {self._last_good()}")
        if bad_weights != never:
            raise TrainingDiverged(f"weights hold nan or inf after step {bad_weights} (the loss was finite); "
                                   f"stopped without saving: {self._last_good()}")

    def run_eval(self, segments: int | None = None) -> EvalResult:
        """Evaluate on the test split (with the EMA weights when the run keeps an EMA)."""
        with self.inference_weights():
            result = evaluate(self.model, self.dataset["test"], self.dataset.metadata, self.cfg.global_batch_size, self.rt.device,
                              segments=segments, max_examples=self.cfg.eval_max_examples, rank=self.rt.rank, world_size=self.rt.world_size,
                              identifiers=self.dataset.identifiers, dataset_path=self.dataset.path)
        result.evaluator = None  # its metrics are in; its store (ARC votes, up to ~0.4 GB) need not live until the next evaluation
        self.last_eval, self.last_eval_result = result.metrics, result
        return result

    def inference_weights(self):
        from contextlib import nullcontext

        return self.ema.applied(self.model) if self.ema is not None else nullcontext()

    # ---- logging

    def _log(self, split: str, values: dict[str, float]) -> None:
        if not self.rt.is_main:
            return
        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"step": self.step, "split": split, **values}) + "\n")
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(f"{split}/{k}", v, self.step)

    def _reduce(self, sums: dict[str, torch.Tensor], n_steps: int) -> dict[str, float]:
        keys = sorted(sums)
        packed = torch.stack([sums[k] for k in keys])
        if self.rt.distributed:
            dist.all_reduce(packed)
        values = summarise(dict(zip(keys, packed.tolist())), rows=n_steps * self.cfg.global_batch_size)
        values["halted_per_step"] = values.pop("count") / max(n_steps, 1)
        values["lr"] = self.lr(self.step)
        return values

    # ---- checkpoints

    def save(self) -> Path | None:
        assert self.carry is not None
        self.check_finite(weights=True)  # never write poisoned weights over the last good checkpoint
        # Every rank's carry and RNG go into rank 0's checkpoint, so a multi-process run resumes exactly.
        mine = {"carry": {k: v.cpu() for k, v in self.carry.tensors().items()}, "rng": {"torch_cpu": torch.get_rng_state()}}
        if self.rt.device.type == "cuda":
            mine["rng"]["torch_cuda"] = torch.cuda.get_rng_state(self.rt.device)
        ranks: list[Any] = [mine]
        if self.rt.distributed:
            ranks = [None] * self.rt.world_size
            dist.all_gather_object(ranks, mine)
        path = None
        if self.rt.is_main:
            training = {
                "optimizer": optimizer_tensors(self.optimizer, self.model),
                "carry": {f"rank{r}.{k}": v for r, d in enumerate(ranks) for k, v in d["carry"].items()},
                "rng": {f"rank{r}.{k}": v for r, d in enumerate(ranks) for k, v in d["rng"].items()},
                "state": {"step": self.step, "sampler": self.sampler.state_dict(), "last_eval": self.last_eval,
                          "world_size": self.rt.world_size},
            }
            raw = self.model.state_dict()
            if self.ema is not None:
                training["raw_model"] = raw
                with self.ema.applied(self.model):
                    weights = checkpoint.clean_state(self.model.state_dict())
            else:
                weights = raw
            path = checkpoint.save_checkpoint(self.run_dir / "checkpoints" / f"step_{self.step}", weights, self.cfg,
                                              self.dataset.metadata, training=training)
        self.rt.barrier()
        return path

    def _load(self, path: Path, keep_sampler: bool = True, keep_carry: bool = True) -> None:
        """Resume from checkpoint ``path``. A resume that accepted another dataset starts that dataset's sampler afresh
        (the saved one's position means nothing there: ``keep_sampler``); one that accepted another batch size starts
        a fresh carry (the saved one has the old number of slots: ``keep_carry``)."""
        state = checkpoint.read_state(path)
        if state.get("world_size", 1) != self.rt.world_size:
            raise HrmError(f"{path} was written by {state.get('world_size')} processes, this is {self.rt.world_size}; "
                           "resume it with the same number")
        inference = checkpoint.read_tensors(path, "model")
        # raw_model is there exactly when the run kept an EMA (model then holds the average), whatever cfg.ema says now.
        saved_ema = (path / "raw_model.safetensors").exists()
        raw = checkpoint.read_tensors(path, "raw_model") if saved_ema else inference
        checkpoint.load_weights(self.model, raw, path)
        optimizer, carry, rng = (checkpoint.read_tensors(path, name) for name in ("optimizer", "carry", "rng"))
        prefix = f"rank{self.rt.rank}."
        try:
            if self.ema is not None:
                shadow = inference if saved_ema else raw  # an EMA switched on at this resume starts from the weights
                self.ema.load_state_dict({name: shadow[name] for name in self.ema.shadow if name in shadow})
            load_optimizer_tensors(self.optimizer, self.model, optimizer)
            if keep_carry:
                self.carry = ACTCarry.from_tensors({k.removeprefix(prefix): v.to(self.rt.device) for k, v in carry.items()
                                                    if k.startswith(prefix)})
            torch.set_rng_state(rng[prefix + "torch_cpu"])
            if prefix + "torch_cuda" in rng and self.rt.device.type == "cuda":
                torch.cuda.set_rng_state(rng[prefix + "torch_cuda"], self.rt.device)
            if keep_sampler:
                self.sampler.load_state_dict(state["sampler"])
        # Each file was readable, but its contents are not this run's (a file from elsewhere, an edited state.json).
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError, OverflowError) as e:
            lines = str(e).strip().splitlines()
            raise checkpoint.CheckpointError(f"{path}: cannot resume from it ({type(e).__name__}: {lines[0] if lines else 'no detail'})") from None
        self.step = int(state["step"])
        self.last_eval = state.get("last_eval", {})

    # ---- the loop

    def fit(self, max_steps: int | None = None, evaluate: bool = True) -> dict[str, Any]:
        """Train to the end (or ``max_steps`` more steps); returns a summary. ``evaluate=False`` skips the scheduled
        evaluations (for callers that evaluate on their own clock, such as the benchmark suite)."""
        check_at_least("max_steps", max_steps, 1)  # -5 used to return at once, as if training had finished
        cfg = self.cfg
        stop = self.total_steps if max_steps is None else min(self.total_steps, self.step + max_steps)
        self.decide_compile(stop - self.step)
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train", unit="step",
                   disable=not (self.progress and self.rt.is_main), dynamic_ncols=True)
        sums: dict[str, torch.Tensor] = {}
        n_steps = 0
        started, first_step = time.perf_counter(), self.step
        saved_at = self.step
        try:
            with stop_on_interrupt(enabled=not self.rt.distributed) as stop_request:
                while self.step < stop and not stop_request.requested:
                    accumulate(sums, self.train_step(), self._sum_dtype)  # stays on the device: no host sync per step
                    n_steps += 1
                    bar.update(1)
                    if self.step % cfg.log_every == 0 or self.step == stop:
                        self.check_finite()  # a host sync happens here anyway; nan is never logged
                        values = self._reduce(sums, n_steps)
                        sums, n_steps = {}, 0
                        values["steps_per_s"] = (self.step - first_step) / (time.perf_counter() - started)
                        self._log("train", values)
                        bar.set_postfix(self._postfix(values), refresh=False)
                    is_eval = evaluate and (self.step % self.eval_every == 0 or self.step == self.total_steps)
                    due = cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0
                    if is_eval or due:
                        self.check_finite(weights=True)  # before evaluating diverged weights and logging the result
                    if is_eval:
                        result = self.run_eval()
                        self._log("eval", {**result.metrics, **{f"exact_at_step_{i + 1}": v for i, v in enumerate(result.exact_by_step)}})
                    if is_eval or due:
                        self.save()
                        saved_at = self.step
                self.interrupted, self.stop_signal = stop_request.requested, stop_request.signal
            if self.step > first_step and saved_at != self.step:
                self.save()  # a stop at max_steps or on Ctrl-C leaves a resumable checkpoint
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        return {"step": self.step, "total_steps": self.total_steps, "eval": self.last_eval, "run_dir": str(self.run_dir),
                "seconds": time.perf_counter() - started, "interrupted": self.interrupted,
                "signal": self.stop_signal}

    def _postfix(self, values: dict[str, float]) -> dict[str, str]:
        post = {"loss": f"{values['loss']:.3f}", "acc": f"{values.get('accuracy', 0):.3f}", "exact": f"{values.get('exact_accuracy', 0):.3f}"}
        if self.last_eval:
            post["eval_exact"] = f"{self.last_eval['exact_accuracy']:.3f}"
        return post

    def close(self) -> None:
        """Flush the logs, give the run folder up (its lock) and the process group; safe to call twice."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._kept_memory:
            keep_freed_memory(False)
            self._kept_memory = False
        if self._lock is not None:
            self._lock.release()
        self.rt.close()
