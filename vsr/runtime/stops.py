"""vsr's signal handlers: installed for one process only, and holding Ctrl-C, SIGTERM and SIGHUP
through work that would lose them (a backend's build, int8 calibration) to deliver them once it
is over."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

Handler = Callable[[int, Any], Any]

# The signals whose handlers vsr installed, and the process that installed each.
_installed: dict[int, int] = {}


def _defaults_in_child() -> None:
    for signum in list(_installed):
        signal.signal(signum, signal.SIG_DFL)
    _installed.clear()


os.register_at_fork(after_in_child=_defaults_in_child)


def install(signum: int, handler: Handler) -> Any:
    """`handler` for `signum` in this process only; returns the previous handler.

    A process forked from this one (a library's helper process, forked from one of its threads)
    gets the default disposition back as it starts: vsr's handlers unwind vsr's own work, and in a
    copy that deadlocked on a lock held at the fork they could never run, so SIGTERM would no longer
    end it (OpenVINO's telemetry children outlived vsr that way). Should the handler still run in
    another process (a fork from C), it stands aside for the default."""
    owner = os.getpid()

    def own_process_only(received: int, frame: Any) -> Any:
        if os.getpid() != owner:
            signal.signal(received, signal.SIG_DFL)
            os.kill(os.getpid(), received)
            return None
        return handler(received, frame)

    previous = signal.signal(signum, own_process_only)
    _installed[signum] = owner
    return previous


def restore(signum: int, previous: Any) -> None:
    """Put back the handler `install` replaced."""
    signal.signal(signum, previous)
    _installed.pop(signum, None)


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held until the block ends, then delivered as usual. OpenVINO's
    converter catches whatever its tracing raises and tries another way, so an interrupt raised
    inside a build was swallowed and the run went on to the end (seen in CI); a build takes
    seconds, so holding the signal that long costs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s]
    received: list[int] = []
    previous = {s: install(s, lambda signum, frame: received.append(signum)) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            restore(s, handler)
    for signum in received[:1]:
        signal.raise_signal(signum)  # now, with vsr's own handlers back in place
