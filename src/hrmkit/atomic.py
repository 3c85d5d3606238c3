"""Writes that a reader never sees half done: a folder is filled under a temporary sibling name and
renamed into place; a file is written beside its target and renamed over it.

Any OS error while writing (a read-only folder, a full disk, a parent that is a file) becomes a
:class:`WriteError` naming the target path and the cause; the temporaries are removed and whatever
was at the target before is left as it was."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hrmkit.errors import HrmError

# Errors that can only come from writing, whatever path they name.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


class WriteError(HrmError):
    """A file or folder could not be written: ``path`` is the target the user asked for, ``reason`` the OS's words."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"cannot write {path}: {reason}")
        self.path, self.reason = Path(path), reason


def os_reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def _in_tmp(e: OSError, tmp: Path) -> bool:
    """Did ``e`` happen writing under ``tmp`` (or on an open file, which names no path)? A read elsewhere is not a write error."""
    if e.errno in _WRITE_ERRNOS:
        return True
    names = [Path(os.fsdecode(n)) for n in (e.filename, e.filename2) if n is not None]
    return not names or any(n == tmp or tmp in n.parents for n in names)


def _not_a_folder(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (itself included) when it is not a folder."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return None if folder.is_dir() else folder


def _reason(path: Path, e: OSError) -> str:
    """Why ``path`` could not be made, in the user's terms where the OS's words would mislead ("File exists")."""
    blocker = _not_a_folder(path.parent)
    if blocker is not None:
        return f"{blocker} is not a folder"
    return f"folder {path.parent} does not exist" if not path.parent.exists() else os_reason(e)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink(missing_ok=True)
        except OSError:  # e.g. its folder is gone or read-only: there is nothing more to do
            pass


def check_writable(path: str | os.PathLike, *, file: bool = False) -> None:
    """Refuse, before any work, a target that cannot be written: an existing ancestor is a file, or the nearest existing
    one is read-only; for a ``file``, also a folder in its place or a missing folder (a folder target's missing parents
    are made). Nothing is left behind: a probe folder is made and removed at once."""
    path = Path(path)
    blocker = _not_a_folder(path.absolute().parent)
    if blocker is not None:
        raise WriteError(path, f"{blocker} is not a folder")
    if file and path.is_dir():
        raise WriteError(path, "a folder is there; give a file name")
    if file and not path.absolute().parent.is_dir():
        raise WriteError(path, f"folder {path.parent} does not exist")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f".{path.name}.probe-", dir=parent))
    except OSError as e:
        raise WriteError(path, os_reason(e)) from None


def _swap_in(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; an old ``path`` is set aside first and put back if the second rename fails."""
    if not path.exists() and not path.is_symlink():
        tmp.rename(path)
        return
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    _remove(old)
    path.rename(old)
    try:
        tmp.rename(path)
    except BaseException:
        try:
            old.rename(path)
        except OSError:
            pass
        raise
    _remove(old)


@contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary folder; when the block succeeds it replaces ``path`` (an old ``path`` is
    removed only after the new one is in place); when it fails nothing at ``path`` changes."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove(tmp)
        tmp.mkdir()
    except OSError as e:
        raise WriteError(path, _reason(path, e)) from None
    try:
        try:
            yield tmp
        except OSError as e:
            if _in_tmp(e, tmp):
                raise WriteError(path, os_reason(e)) from None
            raise
        try:
            _swap_in(tmp, path)
        except OSError as e:
            raise WriteError(path, os_reason(e)) from None
    finally:
        _remove(tmp)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` with the same suffix (writers such as matplotlib pick the
    format from it); when the block succeeds it replaces ``path``, when it fails it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        try:
            yield tmp
        except OSError as e:
            if _in_tmp(e, tmp):
                raise WriteError(path, _reason(path, e)) from None
            raise
        try:
            tmp.replace(path)
        except OSError as e:
            raise WriteError(path, os_reason(e)) from None
    finally:
        _remove(tmp)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file renamed over it."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(text.encode())
