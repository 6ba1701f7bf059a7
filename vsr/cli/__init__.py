"""The `vsr` command. Commands only parse, call the library and print; errors become one line
`vsr: error: …` with the error's exit code (2 bad input or usage, 1 runtime, 130 Ctrl-C, 143 SIGTERM,
129 SIGHUP).

One module per command group; the app is assembled here, explicitly, so importing a command
module registers nothing.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings
from typing import Annotated

import typer

from vsr import __version__
from vsr.cli import bench, models, quality, serve, train, upscale
from vsr.cli.common import configure_logging, library_warning
from vsr.errors import Cancelled, VsrError
from vsr.runtime import stops

app = typer.Typer(
    name="vsr",
    help="Video, GIF and image super-resolution.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
models_app = typer.Typer(help="List, inspect, import, convert, export and interpolate models.", no_args_is_help=True)
app.add_typer(models_app, name="models")
models_app.command("list")(models.models_list)
models_app.command("info")(models.models_info)
models_app.command("import")(models.models_import)
models_app.command("convert")(models.models_convert)
models_app.command("export")(models.models_export)
models_app.command("interpolate")(models.models_interpolate)
app.command("upscale")(upscale.upscale_command)
app.command("bench")(bench.bench_command)
app.command("eval")(quality.eval_command)
app.command("bandwidth")(quality.bandwidth_command)
app.command("train")(train.train_command)
app.command("finetune")(train.finetune_command)
app.command("serve")(serve.serve_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool | None, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Show the version and exit.")] = None,
) -> None:
    """Video, GIF and image super-resolution."""


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so it unwinds as from Ctrl-C: temporary
    files removed, a training run's checkpoint saved, workers stopped."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# SIGHUP does not exist on Windows.
_STOPPING = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


_received: list[int] = []  # the stopping signals this run got: Typer may turn the exception into code 130


def _terminate(signum: int, frame: object) -> None:
    _received.append(signum)
    raise Terminated(signum)


def _interrupted(exc: BaseException | None) -> int:
    """One line for Ctrl-C, SIGTERM or SIGHUP; the exit code 128 + the signal."""
    if _received:
        signum = _received[0]
        return _fail(f"stopped by {signal.Signals(signum).name}", 128 + signum, exc)
    return _fail("interrupted", 130, exc)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code, turning every expected failure into one line.
    SIGTERM and SIGHUP stop it as Ctrl-C does, with exit code 128 + the signal's number."""
    _received.clear()
    # Every line on stderr is vsr's own: library warnings pass through vsr's logging.
    configure_logging(quiet=False)
    shown, warnings.showwarning = warnings.showwarning, library_warning
    previous = {}
    if threading.current_thread() is threading.main_thread():  # Python takes signals there only
        for s in _STOPPING:
            if signal.getsignal(s) is not signal.SIG_IGN:  # under nohup SIGHUP stays ignored
                previous[s] = stops.install(s, _terminate)
    try:
        return _main(argv)
    finally:
        warnings.showwarning = shown
        for s, handler in previous.items():
            stops.restore(s, handler)


def _main(argv: list[str] | None) -> int:
    command = typer.main.get_command(app)
    argv = sys.argv[1:] if argv is None else argv
    if not argv:  # a bare `vsr` is a request for help, not a usage error
        argv = ["--help"]
    try:
        code = command.main(args=argv, prog_name="vsr", standalone_mode=False)
    except typer.Exit as exc:
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt, Cancelled) as exc:  # click turns Ctrl-C in a prompt into Abort
        return _interrupted(exc)
    except VsrError as exc:
        return _fail(exc.for_command_line(), exc.exit_code, exc)
    except Exception as exc:
        # Click's usage errors (bad option, missing argument); Typer vendors Click in recent
        # releases, so they are recognised by shape rather than by class.
        format_message, exit_code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if callable(format_message) and isinstance(exit_code, int):
            return _fail(str(format_message()), exit_code, exc)
        if _out_of_memory(exc):
            return _fail("out of memory: the limits checked up front (--max-pixels and the memory free) let through "
                         "more than this machine could give; upscale by less, or free memory", 1, exc)
        # A bug: still one line, the traceback under VSR_DEBUG=1.
        return _fail(f"unexpected {type(exc).__name__}: {exc} (set VSR_DEBUG=1 for the traceback)", 1, exc)
    # Typer turns Ctrl-C inside a command into exit code 130, returned rather than raised here.
    if code == 130:
        return _interrupted(None)
    return code if isinstance(code, int) else 0


def _out_of_memory(exc: BaseException) -> bool:
    """An allocation that failed: Python's MemoryError, or torch's CPU allocator, which raises a
    RuntimeError (only its CUDA counterpart has a class of its own)."""
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _fail(message: str, code: int, exc: BaseException | None) -> int:
    if exc is not None and os.environ.get("VSR_DEBUG") == "1":
        import traceback

        traceback.print_exception(exc)
    print(f"vsr: error: {message}", file=sys.stderr)
    return code
