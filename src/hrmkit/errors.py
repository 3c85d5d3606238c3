"""One base class for errors a user can cause (bad input, bad files); the CLI prints them in one line."""


from pydantic import ValidationError


class HrmError(Exception):
    """An error caused by the user's input; its message is shown as is, without a traceback."""


def first_validation_error(error: ValidationError) -> tuple[str, str, str]:
    """(dotted field path, error type, message) of a pydantic error's first fault, for one-line messages."""
    first = error.errors()[0]
    message = first["msg"].removeprefix("Value error, ")  # our own ValueErrors read as plain sentences
    return ".".join(str(p) for p in first["loc"]) or "(top level)", first["type"], message


def check_at_least(name: str, value: int | None, minimum: int) -> None:
    """Refuse a count below ``minimum`` (None means "the default"): 0 must never quietly mean the default."""
    if value is not None and value < minimum:
        raise HrmError(f"{name} must be at least {minimum}, got {value}")


def decode_fault(data: bytes, e: UnicodeDecodeError, first_line: int = 1) -> str:
    """Where bytes stop being UTF-8, as a person finds it in an editor: "line 3, column 7 (byte 0xe9)"; ``data`` starts
    at line ``first_line``."""
    line = data.count(b"\n", 0, e.start) + first_line
    column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
    return f"line {line}, column {column} (byte 0x{data[e.start]:02x})"


def renamed(name: str, value: object, old_name: str, old_value: object) -> object:
    """A keyword that may still come under its old name (ACT repetitions were called "steps", now "segments")."""
    if old_value is None:
        return value
    if value is not None:
        raise HrmError(f"give {name} or its old name {old_name}, not both")
    return old_value
