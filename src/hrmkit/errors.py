"""One base class for errors a user can cause (bad input, bad files); the CLI prints them in one line."""


class HrmError(Exception):
    """An error caused by the user's input; its message is shown as is, without a traceback."""
