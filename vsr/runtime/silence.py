"""Keeping backend builds off the terminal.

torch.compile's autotuning prints pages of Triton lines, some from subprocesses; TensorRT and
OpenVINO print notices of their own from C++. None of it is vsr's, and none of it may reach the
terminal, with or without --quiet. So a build runs with file descriptor 2 (which subprocesses
inherit) and Python's sys.stderr pointed at a temporary file; what was said is kept for the
error message should the build fail.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator


class Captured:
    """What a build wrote to stderr (filled in when the block ends)."""

    text: str = ""

    def tail(self, lines: int = 3) -> str:
        return " | ".join(line.strip() for line in self.text.strip().splitlines()[-lines:] if line.strip())


@contextlib.contextmanager
def stderr_captured() -> Iterator[Captured]:
    """Run the block with everything written to stderr captured: at the file-descriptor level
    (C++ libraries, subprocesses) and Python's sys.stderr (which may not be descriptor 2)."""
    captured = Captured()
    python_side = io.StringIO()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stderr(python_side):
                yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = python_side.getvalue() + sink.read().decode(errors="replace")
