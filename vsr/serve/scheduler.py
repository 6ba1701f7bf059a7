"""The server's queue: one job at a time (its own worker count is per job, as in the CLI), each in
a worker process of its own (`vsr.serve.worker`), started in queue order, watched, cancelled by
SIGTERM. A job the server was running when it last stopped is queued first again on start, and
resumes from its finished segments."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from vsr.serve.config import ServeConfig
from vsr.serve.store import FINAL, Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
STOP_SECONDS = 3.0  # a worker told to stop has this long to unwind before it is killed


class Scheduler:
    def __init__(self, config: ServeConfig, store: Store) -> None:
        self.config, self.store = config, store
        self._process: subprocess.Popen[bytes] | None = None
        self._running: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="vsr-serve-queue", daemon=True)

    def start(self) -> None:
        for job in self.store.jobs():
            if job.state == "running":  # the server stopped under it (a crash, SIGKILL)
                self._end_stray(job.pid)
                self.store.requeue_first(job.id, "interrupted when the server stopped; resumes from its finished "
                                         "segments")
        self._thread.start()

    def stop(self) -> None:
        """Stop the running job's worker (it is queued again to resume on the next start)."""
        self._stop.set()
        with self._lock:
            self._terminate()
        self._thread.join(timeout=STOP_SECONDS + 2)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False where it had ended already."""
        with self._lock:
            job = self.store.job(job_id)
            if job is None or job.state in FINAL:
                return False
            self.store.update(job_id, state="cancelled", stage="cancelled", finished=time.time(), eta_seconds=None)
            if self._running == job_id:
                self._terminate()
        return True

    @property
    def running(self) -> str | None:
        return self._running

    # -- the loop -------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._turn()
            except Exception:  # the queue must outlive any one job's trouble
                log.exception("the job queue met an error; going on")
            self._stop.wait(POLL_SECONDS)

    def _turn(self) -> None:
        with self._lock:
            if self._process is not None:
                code = self._process.poll()
                if code is None:
                    return
                self._ended(self._running, code)
                self._process, self._running = None, None
            job = self.store.next_queued()
            if job is None or self._stop.is_set():
                return
            self.store.update(job.id, state="running", stage="probing", started=time.time(), error=None,
                              finished=None)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "vsr.serve.worker", str(self.config.state), job.id, str(os.getpid())],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
            self._running = job.id
            self.store.update(job.id, pid=self._process.pid)
            threading.Thread(target=self._drain, args=(self._process,), daemon=True).start()

    def _ended(self, job_id: str | None, code: int) -> None:
        """A worker is gone: a job it did not mark ended failed with it."""
        if job_id is None:
            return
        job = self.store.job(job_id)
        if job is not None and job.state == "running":
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
            self.store.update(job_id, state="failed", error=f"its worker process stopped ({how})",
                              finished=time.time(), pid=None)

    def _terminate(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @staticmethod
    def _drain(process: subprocess.Popen[bytes]) -> None:
        """The worker's stderr, read so that it never blocks; vsr's own lines go to the log."""
        assert process.stderr is not None
        for line in process.stderr:
            log.debug("worker %d: %s", process.pid, line.decode(errors="replace").rstrip())

    @staticmethod
    def _end_stray(pid: int | None) -> None:
        """A worker of an earlier server still running (where it could not be tied to its
        server's life): stopped, so that the job is not done twice. Only a process that is one
        of vsr's workers: the number may have been given to another since."""
        if not pid:
            return
        try:
            if b"vsr.serve.worker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)


def remove_job_files(output: Path, outputs: Path) -> None:
    """A deleted job's folder under the outputs (its output, kept segments), never anything else."""
    folder = output.parent
    if folder.resolve().parent == outputs.resolve():
        shutil.rmtree(folder, ignore_errors=True)
