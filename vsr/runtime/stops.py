"""Holding Ctrl-C, SIGTERM and SIGHUP through work that would lose them (a backend's build, int8
calibration) and delivering them once it is over."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


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
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum)) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for signum in received[:1]:
        signal.raise_signal(signum)  # now, with vsr's own handlers back in place
