"""The threaded pump of one stream: read → model → write in three threads joined by bounded
queues, so memory stays flat however long the input is, and decoding and encoding (PyAV releases
the GIL in codec calls) overlap the model.

The model runs in the calling thread, so Ctrl-C lands there; the first error anywhere, or the
job's cancellation, stops all three, and the sink is aborted: nothing half-written stays behind.
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
from vsr.pipeline.progress import Cancellation

QUEUE_FRAMES = 8  # per queue: enough to keep every stage busy, small enough to bound memory
POLL_SECONDS = 0.1  # how often a waiting stage looks whether the others stopped (or the job was cancelled)

BatchProcess = Callable[[list[Frame]], list[Frame]]
OnFrames = Callable[[int], None]


class _Done:
    """The end of a queue's items."""


_DONE = _Done()
Slot = Item | _Done  # what the queues between the stages carry


class _ListenerFailed(Exception):
    """Wraps what a caller's frames listener raised, so that it is not taken for an I/O failure of the sink."""

    def __init__(self, raised: BaseException) -> None:
        super().__init__(str(raised))
        self.raised = raised


class Pump:
    """Every item of `source` into `sink`, frames through `process` in batches of `batch`. The
    sink is the pump's from construction on: finished on success, aborted on any failure. Each
    frame written is told to `on_frames(1)`; `cancellation` stops the pump (as `Cancelled`)."""

    def __init__(self, source: FrameSource, sink: FrameSink, process: BatchProcess, *, batch: int,
                 on_frames: OnFrames | None = None, cancellation: Cancellation | None = None) -> None:
        self.source, self.sink, self.process, self.batch = source, sink, process, batch
        self.on_frames, self.cancellation = on_frames, cancellation
        self._decoded: queue.Queue[Slot] = queue.Queue(QUEUE_FRAMES)
        self._upscaled: queue.Queue[Slot] = queue.Queue(QUEUE_FRAMES)
        self._stop = threading.Event()
        self._errors: list[tuple[BaseException, Path]] = []  # and the file the stage was working on
        self._report: SinkReport | None = None

    def run(self) -> SinkReport:
        """Pump until the source ends; returns the sink's report, or raises the first error any
        stage met (an exception a frames listener raised comes out as raised)."""
        threads = [threading.Thread(target=self._guarded(self._read, self.source.path), name="vsr-read", daemon=True),
                   threading.Thread(target=self._guarded(self._write, self.sink.path), name="vsr-write", daemon=True)]
        try:
            for t in threads:
                t.start()
            self._guarded(self._infer, self.source.path)()
            for t in threads:
                while t.is_alive():
                    t.join(POLL_SECONDS)
        finally:
            self._stop.set()
            self._join(threads)
            if self._report is None:
                self.sink.abort()  # nothing half-written stays behind
        if self._errors:
            raise self._translate(*self._errors[0])
        assert self._report is not None
        return self._report

    # -- the three stages ---------------------------------------------------------------------

    def _read(self) -> None:
        for item in self.source:
            if not self._put(self._decoded, item):
                return
        self._put(self._decoded, _DONE)

    def _infer(self) -> None:
        frames: list[Frame] = []

        def flush() -> None:
            if frames:
                for out in self.process(frames):
                    self._put(self._upscaled, out)
                frames.clear()

        for item in self._items(self._decoded):
            if isinstance(item, RgbFrame | YuvFrame):
                if frames and type(item) is not type(frames[0]):
                    flush()  # a batch is all planes or all RGB
                frames.append(item)
                if len(frames) >= self.batch:
                    flush()
            else:
                self._put(self._upscaled, item)
        flush()
        self._put(self._upscaled, _DONE)

    def _write(self) -> None:
        frames = 0
        for item in self._items(self._upscaled):
            if isinstance(item, RgbFrame | YuvFrame):
                self.sink.write(item)
                frames += 1
                try:
                    if self.on_frames is not None:
                        self.on_frames(1)
                except BaseException as exc:  # the caller's own: not to be taken for an I/O failure
                    raise _ListenerFailed(exc) from exc
            else:
                self.sink.mux(item)
        if self._stop.is_set():
            return
        if frames == 0:
            raise InputError(f"{self.source.path}: no frame could be decoded")
        self._report = self.sink.finish()

    # -- between the stages -------------------------------------------------------------------

    def _stopping(self) -> bool:
        if self.cancellation is not None and self.cancellation.cancelled:
            self._stop.set()
        return self._stop.is_set()

    def _put(self, q: queue.Queue[Slot], item: Slot) -> bool:
        while not self._stopping():
            try:
                q.put(item, timeout=POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def _items(self, q: queue.Queue[Slot]) -> Iterator[Item]:
        while not self._stopping():
            try:
                item = q.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if isinstance(item, _Done):
                return
            yield item
        if self.cancellation is not None:
            self.cancellation.check()  # a cancelled job stops here, as Cancelled

    def _guarded(self, stage: Callable[[], None], place: Path) -> Callable[[], None]:
        def run() -> None:
            try:
                stage()
            except BaseException as exc:  # handed to the calling thread, which raises it
                self._errors.append((exc, place))
                self._stop.set()
        return run

    def _join(self, threads: list[threading.Thread]) -> None:
        """Wait for the threads to stop: the sink must not be closed under a live writer, so a
        second Ctrl-C while stopping only says stop again."""
        for t in threads:
            while t.is_alive():
                try:
                    t.join(POLL_SECONDS)
                except KeyboardInterrupt:
                    self._stop.set()

    @staticmethod
    def _translate(exc: BaseException, place: Path) -> BaseException:
        """The error to raise for what a stage met at `place`: a full disk and a codec's or the
        file system's failure in words; a listener's exception, vsr's own errors, Ctrl-C and
        cancellation as they are."""
        if isinstance(exc, _ListenerFailed):
            return exc.raised
        said: VsrError | None = None
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            said = VsrError(f"{place}: the disk is full ({exc.strerror}); nothing was written: "
                            "free some space or write elsewhere")
        elif isinstance(exc, av.error.FFmpegError | OSError) and not isinstance(exc, VsrError):
            said = BackendError(f"{place}: processing failed and nothing was written ({exc})")
        if said is None:
            return exc
        said.__cause__ = exc
        return said
