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
