"""Checks of a training command that need no torch: the CLI runs them before importing the trainer, so
a typo in a preset, an override or a path stops in a fraction of a second instead of after the
seconds (a minute on a busy machine) that importing torch takes.

The trainer repeats what matters on its own (it is also a library entry point); these checks only
move the user's most likely mistakes ahead of the slow import.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from hrmkit.config import TrainConfig, make_train_config
from hrmkit.data.format import DatasetError, read_metadata
from hrmkit.errors import HrmError


def default_run_dir(cfg: TrainConfig) -> Path:
    return Path("runs") / f"{Path(cfg.data_path).name}-{cfg.arch.name}-{time.strftime('%Y%m%d-%H%M%S')}"


def check_data(cfg: TrainConfig) -> None:
    """The dataset is there and readable (metadata and a known task), or can be built from ``data_preset``."""
    from hrmkit.data.build import make_config
    from hrmkit.tasks import get_task

    path = Path(cfg.data_path)
    if not (path / "metadata.json").exists() and cfg.data_preset:
        if path.exists():  # building never writes over something (the builder would say --force, which hrm train lacks)
            raise DatasetError(f"{path} is not a dataset (no metadata.json), so data_preset {cfg.data_preset} cannot be built there; "
                               "move it away or set data_path to another folder")
        try:
            make_config(cfg.data_preset)  # an unknown preset stops here, before any building
        except HrmError as e:
            raise HrmError(f"data_preset: {e}") from None
        return
    if not path.exists():
        raise DatasetError(f"dataset {path} not found; build it with `hrm data build NAME --out {path}`")
    get_task(read_metadata(path).task)  # the arrays are checked by the trainer, which has to read them anyway


def prepare_data(cfg: TrainConfig, progress: bool) -> None:
    """Build the dataset from ``data_preset`` when ``data_path`` holds none, before training starts (the trainer only
    opens it). Under torchrun only rank 0 builds; the others wait for it when the process group forms."""
    from hrmkit.data.build import build_if_missing

    check_data(cfg)
    if _is_main_process():
        build_if_missing(cfg.data_path, cfg.data_preset, progress)


def check_world_size(cfg: TrainConfig) -> None:
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)  # set by torchrun; the trainer reads the same variable
    if world_size > 0 and cfg.global_batch_size % world_size:
        raise HrmError(f"global_batch_size {cfg.global_batch_size} is not divisible by {world_size} processes")


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0") or 0) == 0  # torchrun sets RANK; only rank 0 writes (and locks) the run


def check_new_run(config: str, overrides: list[str], run_dir: str | None) -> tuple[TrainConfig, Path | None]:
    """The validated config and run folder of ``hrm train CONFIG [overrides] [--run-dir]``; the folder is None for
    the default name, which the trainer claims itself (see runfolder.claim_default_run_dir)."""
    from hrmkit import runfolder

    cfg = make_train_config(config, overrides)
    chosen = run_dir or cfg.run_dir
    folder = Path(chosen) if chosen else None
    if folder is not None:
        runfolder.check_folder_path(folder)
        if _is_main_process():
            runfolder.check_not_in_use(folder)
        runfolder.check_fresh(folder)
    check_data(cfg)
    check_world_size(cfg)
    return cfg, folder


def check_resume(run_dir: str | os.PathLike, accept_changes: bool = False) -> TrainConfig:
    """The config to resume ``run_dir`` with, after checking that it has a complete checkpoint to resume from, that
    nobody else is training it, and that its config.json and dataset are the checkpoint's (or ``accept_changes``)."""
    from hrmkit import checkpoint, runfolder

    ckpt = runfolder.resume_checkpoint(run_dir)
    state = checkpoint.read_state(ckpt)
    runfolder.check_folder_path(run_dir)
    if _is_main_process():
        runfolder.check_not_in_use(run_dir)
    saved, saved_meta = checkpoint.read_config(ckpt)
    cfg = runfolder.resume_config(run_dir)
    changes = runfolder.config_changes(saved, cfg)
    runfolder.refuse_unaccepted(run_dir, ckpt.name, changes, accept_changes)
    check_data(cfg)
    if (Path(cfg.data_path) / "metadata.json").exists():  # else built from data_preset: the trainer compares it then
        changes += runfolder.dataset_change(saved_meta.content_hash, read_metadata(cfg.data_path).content_hash, cfg.data_path)
        runfolder.refuse_unaccepted(run_dir, ckpt.name, changes, accept_changes)
    check_world_size(cfg)
    check_same_world_size(run_dir, state.get("world_size", 1))
    return cfg


def check_same_world_size(run_dir: str | os.PathLike, saved: int) -> None:
    """Every rank's carry and RNG state is in the checkpoint: a run resumes with the number of processes it had."""
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world_size != saved:
        how = f"torchrun --nproc-per-node={saved} -m hrmkit.cli train --resume {run_dir}" if saved > 1 else f"hrm train --resume {run_dir}"
        raise HrmError(f"{run_dir} was trained by {saved} process{'es' if saved > 1 else ''}, this is {world_size}; "
                       f"resume it with the same number ({how})")
