"""A run folder's lifecycle, torch-free (the CLI checks all of it before importing torch):

    <run>/run.lock       held (flock) by the one process that writes into the run, from the Trainer's start to its
                         close(); it names that process for the message a second one gets
    <run>/changes.jsonl  one line per resume that trained on with a config or dataset other than the checkpoint's:
                         the step, the checkpoint, each key's old and new value
    <run>/.hrm-demo      the mark of a folder `hrm demo` wrote, the only kind of folder a demo replaces

A lock is an flock, which the kernel drops when its process ends however it ends (Ctrl-C, SIGKILL, a crash): a
dead run never blocks the next one, and nobody has to delete a lock file by hand.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hrmkit.errors import HrmError

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there go unlocked, with a warning
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = "run.lock"
CHANGES_FILE = "changes.jsonl"
DATASET_KEY = "dataset"  # the key of a dataset change (its content hash) among config changes

# A process that only looks (check_not_in_use) holds a lock for microseconds; one that trains holds it for the run.
# Retrying this long tells the two apart, so a look never makes a starting run fail.
_ACQUIRE_TRIES, _ACQUIRE_PAUSE_S = 20, 0.025


class RunInUse(HrmError):
    """Another process (or another open Trainer of this one) is writing into the run folder."""


class ResumeChanged(HrmError):
    """A resume would train with a config or dataset other than the checkpoint's, and that was not accepted."""


def command_line() -> str:
    """This process's command as a user typed it (``hrm train ...``), for the lock's message."""
    if Path(sys.argv[0]).name in ("hrm", "cli.py"):
        return shlex.join(["hrm", *sys.argv[1:]])
    return shlex.join(sys.argv)


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def check_folder_path(folder: str | os.PathLike) -> None:
    """``folder`` can be a run folder: not a file, and inside something writable (a read-only disk fails here)."""
    from hrmkit.atomic import WriteError, check_writable

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise HrmError(f"{folder} is a file, not a run folder; pick another run_dir")
    existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise HrmError(f"{folder}: {existing} is a file, not a folder; pick another run_dir")
    try:
        check_writable(folder / LOCK_FILE)  # probes inside the folder (or its nearest existing parent): what the run writes into
    except WriteError as e:
        raise HrmError(f"cannot write into {existing} ({e.reason}); pick another run_dir") from None


def _make_folder(folder: Path) -> None:
    check_folder_path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise HrmError(f"cannot create run folder {folder} ({e.strerror})") from None


def claim_default_run_dir(base: str | os.PathLike) -> Path:
    """Create and return ``base``, or ``base-2``, ``base-3``...: two runs started in the same second under the
    default name (which has the time to the second) get a folder each. mkdir is the claim: only one creator wins."""
    base = Path(base)
    check_folder_path(base.parent)
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
        for n in range(1, _MAX_SAME_NAME + 1):
            candidate = base if n == 1 else base.with_name(f"{base.name}-{n}")
            try:
                candidate.mkdir()
                return candidate
            except FileExistsError:
                continue
    except OSError as e:
        raise HrmError(f"cannot create a run folder in {base.parent} ({e.strerror})") from None
    raise HrmError(f"{base} and {_MAX_SAME_NAME - 1} more folders of that name exist; give --run-dir")


_MAX_SAME_NAME = 1000  # runs started in one second under one default name


# --------------------------------------------------------------------------- the lock


def _try_lock(f: IO[bytes]) -> bool | None:
    """True: locked; False: another open file holds it; None: this file system or platform has no flock."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
            return None
        raise


def _read_holder(path: Path) -> dict[str, Any]:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):  # being written this instant, or not ours: the message says less
        return {}
    return info if isinstance(info, dict) else {}


def _describe(folder: Path, info: dict[str, Any]) -> str:
    pid, host = info.get("pid"), info.get("host")
    who = f"pid {pid}" if pid else "another process"
    if host and host != socket.gethostname():
        who += f" on {host}"
    details = ", ".join(str(x) for x in (info.get("command"), f"started at {info['started']}" if info.get("started") else None) if x)
    return f"{folder} is in use by {who}" + (f" ({details})" if details else "") + ": one process writes into a run folder at a time"


def _own(info: dict[str, Any]) -> bool:
    return info.get("pid") == os.getpid() and info.get("host") == socket.gethostname()


class RunLock:
    """The lock of one run folder, held until :meth:`release` (or until its process ends)."""

    def __init__(self, folder: Path, file: IO[bytes] | None, created: bool = False):
        self.folder, self._file = folder, file
        self.created = created  # the folder was made for this lock (see discard)

    @classmethod
    def acquire(cls, folder: str | os.PathLike, command: str | None = None) -> RunLock:
        """Create ``folder`` if needed and lock it, or raise :class:`RunInUse` naming the process that holds it."""
        folder = Path(folder)
        created = not folder.exists()
        _make_folder(folder)
        path = folder / LOCK_FILE
        try:
            f = open(path, "a+b", buffering=0)  # held open: the lock lives as long as this file
        except OSError as e:
            raise HrmError(f"cannot write into {folder} ({e.strerror})") from None
        try:
            got = cls._lock(f, path)
            if got is None:
                print(f"warning: {folder}: this file system cannot lock files; make sure no other process trains into this run",
                      file=sys.stderr)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command or command_line(), "started": _now()}
            f.truncate(0)
            f.write(json.dumps(info).encode() + b"\n")
        except OSError as e:
            f.close()
            raise HrmError(f"cannot write into {folder} ({e.strerror or e})") from None
        except BaseException:
            f.close()
            raise
        return cls(folder, f, created)

    @staticmethod
    def _lock(f: IO[bytes], path: Path) -> bool | None:
        collected = False
        for _ in range(_ACQUIRE_TRIES):
            got = _try_lock(f)
            if got is not False:
                return got
            info = _read_holder(path)
            if _own(info) and not collected:
                gc.collect()  # a Trainer of this process dropped without close() holds it until it is collected
                collected = True
                continue
            time.sleep(_ACQUIRE_PAUSE_S)
        info = _read_holder(path)
        if _own(info):
            raise RunInUse(f"{path.parent} is in use by this process (a Trainer on it is still open: close() it first)")
        raise RunInUse(_describe(path.parent, info))

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Give the folder up (closing the file drops the flock; the file stays: deleting it would race a new holder)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Release, and remove the folder if it was made for this lock and the lock file is all it holds: a start that
        failed leaves nothing behind. The file is removed while still locked, so no other process holds it."""
        if self._file is None:
            return
        if self.created and [p.name for p in self.folder.iterdir()] == [LOCK_FILE]:
            (self.folder / LOCK_FILE).unlink(missing_ok=True)
            self.release()
            try:
                self.folder.rmdir()
            except OSError:
                pass  # something arrived meanwhile: it stays
        self.release()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_not_in_use(folder: str | os.PathLike) -> None:
    """Refuse now a folder that a live process holds (the trainer takes the lock itself, later)."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return
    try:
        f = open(path, "rb")
    except OSError:
        return  # the trainer's own attempt says why
    with f:  # closing drops the lock this look took
        if _try_lock(f) is False:
            info = _read_holder(path)
            raise RunInUse(_describe(path.parent, info) if not _own(info) else
                           f"{path.parent} is in use by this process (a Trainer on it is still open: close() it first)")


# --------------------------------------------------------------------------- what a new run may start in


def check_fresh(folder: str | os.PathLike) -> None:
    """A new run starts in an empty folder or one whose earlier run left nothing to resume and nothing logged."""
    folder = Path(folder)
    if (folder / "checkpoints" / "latest").exists():
        raise HrmError(f"{folder} already holds a run; resume it with `hrm train --resume {folder}` or pick another run_dir")
    metrics = folder / "metrics.jsonl"
    if metrics.is_file() and metrics.stat().st_size:
        # A run killed before its first checkpoint: nothing to resume, but appending would mix two runs' curves.
        raise HrmError(f"{folder} holds the metrics.jsonl of an earlier run that wrote no checkpoint (nothing to resume); "
                       f"pick another run_dir, or remove {folder} to start afresh there")


# --------------------------------------------------------------------------- what a resume changes


# Keys a resume takes from an edited config.json without asking: where and how the run executes, logs and is
# evaluated, none of which changes the weights it trains to. data_path too, because the dataset found there is
# compared by content hash (DATASET_KEY): a moved dataset is harmless, another one is not.
HARMLESS_ON_RESUME = frozenset({"device", "compile", "tensorboard", "log_every", "checkpoint_every", "eval_interval",
                                "eval_max_examples", "data_path", "data_preset", "run_dir"})


@dataclass(frozen=True)
class Change:
    key: str
    old: Any
    new: Any
    where: str = ""  # the dataset folder of a DATASET_KEY change

    @property
    def harmless(self) -> bool:
        return self.key in HARMLESS_ON_RESUME

    def __str__(self) -> str:
        if self.key == DATASET_KEY:
            return f"dataset {self.where}: content hash {str(self.old)[:12]} -> {str(self.new)[:12]}"
        return f"{self.key} {_show(self.old)} -> {_show(self.new)}"

    def record(self) -> dict[str, Any]:
        return {"key": self.key, "old": self.old, "new": self.new, **({"where": self.where} if self.where else {})}


_UNSET = "(unset)"


def _show(value: Any) -> str:
    return value if value == _UNSET else json.dumps(value)


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def config_changes(saved: Any, given: Any) -> list[Change]:
    """The keys (dotted: ``arch.hidden_size``) whose value differs between two TrainConfigs, in field order."""
    old = _flat(json.loads(json.dumps(saved.model_dump())))  # as JSON holds them: tuples and lists compare equal
    new = _flat(json.loads(json.dumps(given.model_dump())))
    keys = list(new) + [k for k in old if k not in new]
    return [Change(k, old.get(k, _UNSET), new.get(k, _UNSET)) for k in keys if old.get(k, _UNSET) != new.get(k, _UNSET)]


def dataset_change(saved_hash: str, found_hash: str, where: str | os.PathLike) -> list[Change]:
    return [] if saved_hash == found_hash else [Change(DATASET_KEY, saved_hash, found_hash, str(where))]


def refuse_unaccepted(run_dir: str | os.PathLike, checkpoint_name: str, changes: list[Change], accept: bool) -> None:
    """Raise :class:`ResumeChanged` for the changes that need ``accept`` when it is not given, naming each one."""
    if accept:
        return
    config = [c for c in changes if c.key != DATASET_KEY and not c.harmless]
    data = [c for c in changes if c.key == DATASET_KEY]
    parts = []
    if config:
        parts.append(f"{Path(run_dir) / 'config.json'} differs from the checkpoint's config ({checkpoint_name}): "
                     + ", ".join(map(str, config)))
    if data:
        parts.append(f"the dataset at {data[0].where} is not the one {checkpoint_name} trained on "
                     f"(content hash {str(data[0].new)[:12]}, the checkpoint's {str(data[0].old)[:12]})")
    if parts:
        what = "these" if config and data else ("the edited values" if config else "this dataset")
        raise ResumeChanged("; ".join(parts) + f"; to train on with {what}, add --accept-changes")


def record_changes(run_dir: str | os.PathLike, step: int, checkpoint_name: str, changes: list[Change], accepted: bool) -> None:
    """Append one line for a resume that trains on with ``changes`` (kept whole: the file is replaced, not appended)."""
    from hrmkit.atomic import atomic_write_text

    path = Path(run_dir) / CHANGES_FILE
    line = json.dumps({"step": step, "time": _now(), "checkpoint": checkpoint_name, "accepted_changes": accepted,
                       "changes": [c.record() for c in changes]})
    before = path.read_text() if path.is_file() else ""
    atomic_write_text(path, before + ("" if not before or before.endswith("\n") else "\n") + line + "\n")


def read_changes(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(run_dir) / CHANGES_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


# --------------------------------------------------------------------------- which checkpoint and config a resume takes


def resume_checkpoint(run_dir: str | os.PathLike) -> Path:
    """The checkpoint that resuming ``run_dir`` continues from: the run's newest. A checkpoint folder is refused:
    training on from an older one would write its next checkpoints over the run's later ones."""
    from hrmkit import checkpoint

    run_dir = Path(run_dir)
    if (run_dir / "model.safetensors").exists():
        run = run_dir.parent.parent if run_dir.parent.name == "checkpoints" else None
        raise HrmError(f"{run_dir} is a checkpoint, not a run folder; " +
                       (f"resume its run (from its newest checkpoint): hrm train --resume {run}" if run
                        else "give --resume the run folder that holds it"))
    return checkpoint.resolve(run_dir)


def resume_config(run_dir: str | os.PathLike) -> Any:
    """The TrainConfig a resume trains with: the run folder's config.json, which a user may have edited (the Trainer
    compares it with the checkpoint's), else the checkpoint's own."""
    from hrmkit import checkpoint

    ckpt = resume_checkpoint(run_dir)
    own = Path(run_dir) / "config.json"
    return checkpoint.read_config_file(own if own.is_file() else ckpt / "config.json")[0]
