"""The exceptions vsr raises on purpose; each carries the exit code the CLI gives it.

Anything else that escapes is a bug and surfaces as exit 1 with a traceback under VSR_DEBUG=1.
"""

from __future__ import annotations

import logging
import os


class VsrError(Exception):
    """Base of every error the user is meant to read and act on."""

    exit_code = 1


class InputError(VsrError):
    """Bad input or usage: a missing or unreadable file, an invalid option value."""

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


def as_failure(exc: Exception) -> VsrError:
    """What a run of many files (or segments) reports for one that failed: its error, or for an
    error vsr did not foresee (a bug, or a library's own), one line naming it, so that the other
    files go on; the traceback under VSR_DEBUG=1."""
    if isinstance(exc, VsrError):
        return exc
    if os.environ.get("VSR_DEBUG") == "1":
        logging.getLogger("vsr").exception("unexpected error")
    return VsrError(f"unexpected {type(exc).__name__}: {exc}")
