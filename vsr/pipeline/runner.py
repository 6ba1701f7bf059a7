"""The threaded runner: read → model → write in three threads joined by bounded queues, so memory
stays flat however long the input is, and decoding and encoding (PyAV releases the GIL in codec
calls) overlap the model.

The model runs in the calling thread, so Ctrl-C lands there; the first error anywhere stops all
three, and the sink is aborted: nothing half-written stays behind.
"""

from __future__ import annotations

import errno
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import av

from vsr.errors import BackendError, InputError, VsrError
from vsr.media.frames import Frame, FrameSink, FrameSource, Item, RgbFrame, SinkReport, YuvFrame
from vsr.pipeline.progress import frame_bar

QUEUE_FRAMES = 8  # per queue: enough to keep every stage busy, small enough to bound memory

BatchProcess = Callable[[list[Frame]], list[Frame]]


class _Done:
    """The end of a queue's items."""


_DONE = _Done()
Slot = Item | _Done  # what the queues between the stages carry


class _Stages:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[tuple[BaseException, Path]] = []  # and the file the stage was working on

    def put(self, q: queue.Queue[Slot], item: Slot) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue[Slot]) -> Slot:
        while not self.stop.is_set():
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                continue
        return _DONE

    def items(self, q: queue.Queue[Slot]) -> Iterator[Item]:
        while not isinstance(item := self.get(q), _Done):
            yield item

    def guarded(self, fn: Callable[[], None], place: Path) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # handed to the main thread, which raises it
                self.errors.append((exc, place))
                self.stop.set()
        return run

    def join(self, threads: list[threading.Thread]) -> None:
        """Wait for the threads to stop: the sink must not be closed under a live writer, so a
        second Ctrl-C while stopping only says stop again."""
        for t in threads:
            while t.is_alive():
                try:
                    t.join(0.1)
                except KeyboardInterrupt:
                    self.stop.set()


def run(source: FrameSource, sink: FrameSink, process: BatchProcess, *, batch: int, progress: bool,
        on_frame: Callable[[int], None] | None = None) -> SinkReport:
    """Every item of `source` into `sink`, frames through `process` in batches of `batch`.
    Returns the sink's report; raises the first error any stage met. The sink is this
    function's from the call on: finished on success, aborted on any failure. `progress`: a bar
    on stderr; `on_frame(1)` is also told of every frame written (an exception it raises stops
    the run and comes out as raised)."""
    decoded: queue.Queue[Slot] = queue.Queue(QUEUE_FRAMES)
    upscaled: queue.Queue[Slot] = queue.Queue(QUEUE_FRAMES)
    stages = _Stages()
    reports: list[SinkReport] = []
    # One picture needs no progress bar.
    bar = frame_bar(source.expected_frames, enabled=progress and source.expected_frames != 1)

    def read() -> None:
        for item in source:
            if not stages.put(decoded, item):
                return
        stages.put(decoded, _DONE)

    caller_failed: list[BaseException] = []

    def write() -> None:
        frames = 0
        for item in stages.items(upscaled):
            if isinstance(item, RgbFrame | YuvFrame):
                sink.write(item)
                frames += 1
                bar.update(1)
                if on_frame is not None:
                    try:
                        on_frame(1)
                    except BaseException as exc:  # the caller's own: not to be taken for an I/O failure
                        caller_failed.append(exc)
                        raise
            else:
                sink.mux(item)
        if stages.stop.is_set():
            return
        if frames == 0:
            raise InputError(f"{source.path}: no frame could be decoded")
        reports.append(sink.finish())

    def infer() -> None:
        frames: list[Frame] = []

        def flush() -> None:
            if frames:
                for out in process(frames):
                    stages.put(upscaled, out)
                frames.clear()

        for item in stages.items(decoded):
            if isinstance(item, RgbFrame | YuvFrame):
                if frames and type(item) is not type(frames[0]):
                    flush()  # a batch is all planes or all RGB
                frames.append(item)
                if len(frames) >= batch:
                    flush()
            else:
                stages.put(upscaled, item)
        flush()
        stages.put(upscaled, _DONE)

    threads = [threading.Thread(target=stages.guarded(read, source.path), name="vsr-read", daemon=True),
               threading.Thread(target=stages.guarded(write, sink.path), name="vsr-write", daemon=True)]
    try:
        for t in threads:
            t.start()
        stages.guarded(infer, source.path)()
        for t in threads:
            while t.is_alive():
                t.join(0.1)
    finally:
        stages.stop.set()
        stages.join(threads)
        bar.close()
        if not reports:
            sink.abort()  # nothing half-written stays behind
    if stages.errors:
        exc, place = stages.errors[0]
        if any(exc is c for c in caller_failed):
            raise exc
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise VsrError(f"{place}: the disk is full ({exc.strerror}); nothing was written: "
                           "free some space or write elsewhere") from exc
        if isinstance(exc, av.error.FFmpegError | OSError) and not isinstance(exc, VsrError):
            raise BackendError(f"{place}: processing failed and nothing was written ({exc})") from exc
        raise exc
    return reports[0]
