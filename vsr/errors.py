"""The exceptions vsr raises on purpose; each carries the exit code the CLI gives it.

Anything else that escapes is a bug and surfaces as exit 1 with a traceback under VSR_DEBUG=1.
"""

from __future__ import annotations


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
