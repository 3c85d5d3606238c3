"""Reading JSON a user hands over (task files, request bodies, dataset and checkpoint files): every way it can be
bad becomes one HrmError naming where it came from.

``json.loads`` fails in more ways than ``JSONDecodeError``: ``UnicodeDecodeError`` (bytes that are not UTF-8),
``ValueError`` (an integer of more than 4300 digits) and ``RecursionError`` (arrays or objects nested a few
thousand levels deep, ``[[[[...]]]]``), which is no ``ValueError`` and would otherwise escape as a traceback
or an HTTP 500.
"""

from __future__ import annotations

import json
import os
import reprlib
from pathlib import Path
from typing import Any

from hrmkit.errors import HrmError, decode_fault

_short = reprlib.Repr()
_short.maxstring, _short.maxother, _short.maxlong, _short.maxlevel = 40, 40, 40, 3


def shown(value: Any) -> str:
    """``repr(value)`` cut short, for error messages: a user's value may be megabytes long or nested deeply enough
    that a plain ``repr`` raises RecursionError."""
    return _short.repr(value)


def _reason(e: ValueError) -> str:
    if isinstance(e, json.JSONDecodeError):
        return str(e)
    if isinstance(e, UnicodeDecodeError):
        return f"byte {e.object[e.start]:#04x} at offset {e.start} is not {e.encoding.upper().removesuffix('-SIG')}"
    return "a number too long to read"  # int()'s digit limit; its message names a Python setting, no use to a user


def loads(data: str | bytes, source: str, error: type[HrmError] = HrmError) -> Any:
    """``json.loads(data)``, or ``error("SOURCE: not valid JSON (why)")``. Bytes may be UTF-8 (with or without a BOM),
    UTF-16 or UTF-32, as ``json.loads`` detects."""
    try:
        return json.loads(data)
    except RecursionError:
        raise error(f"{source}: not valid JSON (nested too deeply)") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise error(f"{source}: not valid JSON ({_reason(e)})") from None


def _bytes(path: Path, error: type[HrmError]) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise error(f"{path}: unreadable ({e.strerror or type(e).__name__})") from None


def read(path: str | os.PathLike, error: type[HrmError] = HrmError) -> Any:
    """A JSON file's content, or one ``error`` naming the file (unreadable, or not valid JSON)."""
    return loads(_bytes(Path(path), error), str(path), error)


def read_text(path: str | os.PathLike, error: type[HrmError] = HrmError) -> str:
    """A user's text file (UTF-8, a BOM allowed), or one ``error`` naming the file (unreadable, or not UTF-8)."""
    data = _bytes(Path(path), error)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise error(f"{path}: not UTF-8 text at {decode_fault(data, e)}; save it as UTF-8") from None
