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
        try:
            make_config(cfg.data_preset)  # an unknown preset stops here, before any building
        except HrmError as e:
            raise HrmError(f"data_preset: {e}") from None
        return
    if not path.exists():
        raise DatasetError(f"dataset {path} not found; build it with `hrm data build NAME --out {path}`")
    get_task(read_metadata(path).task)  # the arrays are checked by the trainer, which has to read them anyway


def check_world_size(cfg: TrainConfig) -> None:
    world_size = int(os.environ.get("WORLD_SIZE", "1") or 1)  # set by torchrun; the trainer reads the same variable
    if world_size > 0 and cfg.global_batch_size % world_size:
        raise HrmError(f"global_batch_size {cfg.global_batch_size} is not divisible by {world_size} processes")


def check_new_run(config: str, overrides: list[str], run_dir: str | None) -> tuple[TrainConfig, Path]:
    """The validated config and run folder of ``hrm train CONFIG [overrides] [--run-dir]``."""
    cfg = make_train_config(config, overrides)
    folder = Path(run_dir or cfg.run_dir or default_run_dir(cfg))
    if (folder / "checkpoints" / "latest").exists():
        raise HrmError(f"{folder} already holds a run; resume it with `hrm train --resume {folder}` or pick another run_dir")
    check_data(cfg)
    check_world_size(cfg)
    return cfg, folder


def check_resume(run_dir: str | os.PathLike) -> TrainConfig:
    """The config of the run to resume, after checking that it has a complete checkpoint to resume from."""
    from hrmkit import checkpoint

    ckpt = checkpoint.resolve(run_dir)
    checkpoint.read_state(ckpt)
    cfg, _ = checkpoint.read_config(run_dir)
    check_data(cfg)
    check_world_size(cfg)
    return cfg
