"""Errors a user can act on.

Every problem caused by input (a bad file, an unknown id, a missing dataset) is raised as a
:class:`MovierecError` whose message says what is wrong and what to do. The command line
prints the message and exits with code 2 instead of showing a traceback.
"""


class MovierecError(Exception):
    """A problem with the user's input or environment, with an actionable message."""

    exit_code = 2


class DataError(MovierecError):
    """A data file is missing, malformed or inconsistent."""


class WriteError(MovierecError):
    """An output could not be written (disk full, a file-size limit, no permission); the
    previous file or folder, if any, is unchanged."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class UnknownIdError(MovierecError, KeyError):
    """A user or movie id is not known to the model or dataset."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
