"""What the commands share: option declarations, logging set-up, and the one way results are
printed (JSON with --json, else lines unless --quiet)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from vsr.runtime import Backend, Precision

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", help="No progress bar or warnings.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")]
Fp16Option = Annotated[bool, typer.Option("--fp16", help="Store the weights in half precision.")]
ModelOption = Annotated[str, typer.Option(help="A model name or file.")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")]
DevicesOption = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N, a list (cuda:0,cuda:1: a worker on each) "
                                                 "or cuda:all.")]
PrecisionOption = Annotated[Precision, typer.Option(
    help="auto (fp16 on CUDA; on a CPU bf16 where it measures faster, else fp32, and int8 instead of either where "
         "vsr[int8] is installed and the video is long enough for its calibration to pay), fp32, fp16 or bf16.")]
BackendOption = Annotated[Backend, typer.Option(
    help="auto (the fastest installed whose build pays for the video's length), eager, compile (torch.compile), "
         "tensorrt (needs vsr[tensorrt] and a CUDA GPU), openvino (CPU; needs vsr[openvino]) or openvino-int8 "
         "(CPU; needs vsr[int8]; quantised on the video's first frames, kept only within 40 dB of the unquantised output).")]
BatchSizeOption = Annotated[int | None, typer.Option(help="Frames per model call (default: automatic).")]
TemporalBlendOption = Annotated[float, typer.Option(
    help="0 = off; up to 0.9: blend each frame with the previous output where the source did not change "
         "(less flicker, no ghosting on motion).")]

class _Lines(logging.Formatter):
    """`vsr: warning: …` for warnings, `vsr: …` for what a run tells as it goes (resuming)."""

    def format(self, record: logging.LogRecord) -> str:
        said = record.getMessage()
        return f"vsr: warning: {said}" if record.levelno >= logging.WARNING else f"vsr: {said}"


class _ToStderr(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is at the time of the message, not the one it was made
    with: a program that swaps stderr (a test capturing it, a notebook) still gets vsr's lines."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def configure_logging(quiet: bool) -> None:
    """vsr's messages go to stderr, one line each; --quiet keeps only errors."""
    handler = _ToStderr()
    handler.setFormatter(_Lines())
    root = logging.getLogger()
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _ToStderr) and not (
        isinstance(h, logging.StreamHandler) and h.stream in (sys.stderr, sys.stdout))] + [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("vsr").setLevel(logging.ERROR if quiet else logging.INFO)  # also when configured before


def library_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
    """`warnings.showwarning` for the CLI: a library's warning (Pillow's "Invalid APNG", torch's
    notices) becomes one `vsr: warning:` line naming the library, silenced by --quiet, instead
    of two raw lines with a source path."""
    parts = Path(filename).parts
    library = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else Path(filename).stem
    text = (str(message).strip().splitlines() or [category.__name__])[0]
    logging.getLogger("vsr.libraries").warning("%s: %s", library, text)


def report(result: Any, *, as_json: bool, quiet: bool = False, lines: Callable[[], Iterable[str]]) -> None:
    """A command's result: JSON on stdout with --json, else its `lines` unless --quiet."""
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    elif not quiet:
        for line in lines():
            typer.echo(line)
