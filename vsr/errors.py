"""The exceptions vsr raises on purpose; each carries the exit code the CLI gives it.

Anything else that escapes is a bug and surfaces as exit 1 with a traceback under VSR_DEBUG=1.
"""

from __future__ import annotations

import logging
import os


class VsrError(Exception):
    """Base of every error the user is meant to read and act on.

    The message names what the caller can change as the library names it, in backquotes (a
    parameter such as `scale`); `option` says which (one, or a tuple), so that the CLI can say
    their flags instead (--scale)."""

    exit_code = 1

    def __init__(self, message: str, *, option: str | tuple[str, ...] | None = None) -> None:
        super().__init__(message)
        self.option = option

    def __reduce__(self) -> tuple[object, ...]:
        # Crosses to and from worker processes whole: `option` is not among `args`.
        return _rebuild, (type(self), str(self), self.option)

    @property
    def plain(self) -> str:
        """The message without the marks around the names (for a warning made of it)."""
        return str(self).replace("`", "")

    def for_command_line(self) -> str:
        """The message with the parameters it names said as their command-line flags."""
        message = str(self)
        for option in (self.option,) if isinstance(self.option, str) else self.option or ():
            message = message.replace(f"`{option}`", "--" + option.replace("_", "-"))
        return message


def _rebuild(kind: type[VsrError], message: str, option: str | tuple[str, ...] | None) -> VsrError:
    exc = kind(message)
    exc.option = option
    return exc


class InputError(VsrError, ValueError):
    """Bad input or usage: a missing or unreadable file, an invalid option value. Also a
    ValueError, as Python callers expect of a bad argument."""

    exit_code = 2


class OutputError(VsrError):
    """The output cannot be written where asked: it exists, or its folder does not."""

    exit_code = 2


class ModelError(VsrError):
    """A model file or name that cannot be used: unknown, unsafe, or of an unknown layout."""

    exit_code = 2


class BackendError(VsrError):
    """A device or backend that is unavailable or failed at run time."""

    exit_code = 1


class Cancelled(BaseException):
    """A job stopped because its `cancel()` was called. Like Ctrl-C it unwinds everything (a
    half-written output is removed, finished segments are kept for a rerun), and, like it, no
    `except Exception` takes it for one file's failure."""


def as_failure(exc: Exception) -> VsrError:
    """What a run of many files (or segments) reports for one that failed: its error, or for an
    error vsr did not foresee (a bug, or a library's own), one line naming it, so that the other
    files go on; the traceback under VSR_DEBUG=1."""
    if isinstance(exc, VsrError):
        return exc
    if os.environ.get("VSR_DEBUG") == "1":
        logging.getLogger("vsr").exception("unexpected error")
    return VsrError(f"unexpected {type(exc).__name__}: {exc}")
