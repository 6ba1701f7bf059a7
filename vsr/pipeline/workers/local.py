"""Where tasks run on this machine: in the driver's own process (one worker), or in worker
processes, one per device or per share of the CPU cores (`--workers N`).

Worker processes ignore Ctrl-C and end cleanly on SIGTERM: the driver stops them, and a run that
stops for any reason leaves the work folder consistent for the next one (the driver alone
writes the manifest).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from vsr.errors import BackendError, VsrError, as_failure
from vsr.models.descriptor import Model
from vsr.pipeline.progress import Cancellation
from vsr.pipeline.stream.pump import OnFrames
from vsr.pipeline.workers.tasks import Task, TaskKey, TaskResult
from vsr.pipeline.workers.worker import Worker, resolved_precision
from vsr.runtime import Precision, stops

OnResult = Callable[[TaskResult], None]
OnError = Callable[[TaskKey, VsrError], None]


class Executor(Protocol):
    name: str  # "local" or "ray"
    workers: int
    device: str  # the devices the workers run on, as summaries say them

    def precision(self, requested: Precision) -> str:
        """The precision the workers run at when asked for `requested`, resolved where they run."""
        ...

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None = None,
            cancellation: Cancellation | None = None) -> None:
        """Every task, once; `on_result` for each as it finishes, in the driver's thread. A task
        that fails with a VsrError (its input, say) goes to `on_error` and the rest go on; without
        `on_error`, or for any other failure, the run stops with that error. An exception that
        `on_frames` raises stops the run and comes out as raised; `cancellation` stops it as
        `Cancelled`, within a second (then `close(wait=False)` stops the workers)."""
        ...

    def close(self, *, wait: bool = True) -> None:
        """Release the workers; `wait=False` (after an error or Ctrl-C) stops them at once."""
        ...


class InProcess:
    """One worker, in this process."""

    name = "local"
    workers = 1

    def __init__(self, model: str | Model, device: str) -> None:
        self.worker = Worker(model, device)
        self.device = device

    def precision(self, requested: Precision) -> str:
        return self.worker.precision(requested)

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None = None,
            cancellation: Cancellation | None = None) -> None:
        caller_failed: list[BaseException] = []

        def forward_frames(frames: int) -> None:
            try:
                on_frames(frames)
            except BaseException as exc:  # the caller's own failure: the run's, not this task's
                caller_failed.append(exc)
                raise

        for task in tasks:
            if cancellation is not None:
                cancellation.check()
            try:
                result = self.worker.run(task, forward_frames, cancellation)
            except Exception as exc:  # a task's own failure, whatever it is, stops only that task
                if caller_failed and exc is caller_failed[0]:
                    raise  # as raised: the task's pipeline passes it through as it is
                if caller_failed:
                    raise caller_failed[0] from exc
                if on_error is None:
                    raise
                on_error(task.key, as_failure(exc))
                continue
            on_result(result)

    def close(self, *, wait: bool = True) -> None:
        pass


def cpu_threads(workers: int) -> int:
    """Each CPU worker's share of the cores this process may use."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // workers)


def _die_with(parent: int) -> None:
    """End this worker when the driver ends, however it ends (SIGKILL included): a worker left
    running would go on encoding segments nobody will record, holding memory and the GPU."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(1, signal.SIGKILL) == 0 and os.getppid() == parent:  # PR_SET_PDEATHSIG
            return
    except (OSError, AttributeError):  # not Linux: watch instead
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="vsr-parent-watch", daemon=True).start()


def _serve(model: str, device: str, threads: int | None, tasks: Any, results: Any, parent: int) -> None:
    """A worker process: one model, tasks from `tasks` until None, everything said on `results`."""
    try:
        _work(model, device, threads, tasks, results, parent)
    except SystemExit as stopped:
        # Stopped by the driver, its task unwound (a half-written file removed): out at once.
        # The interpreter's own teardown (torch's, the queues' threads) took 1.5 s of the 2 s
        # a cancelled job took to stop.
        sys.stderr.flush()
        os._exit(stopped.code if isinstance(stopped.code, int) else 1)


def _work(model: str, device: str, threads: int | None, tasks: Any, results: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver decides when to stop

    def stop(*_: Any) -> None:
        # Stopped by the driver, which no longer reads `results`: unwind (a half-written file's
        # `finally` removes it) without waiting to flush what nobody will read.
        results.cancel_join_thread()
        sys.exit(128 + signal.SIGTERM)

    stops.install(signal.SIGTERM, stop)
    _die_with(parent)
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    try:
        worker = Worker(model, device)
    except SystemExit:
        raise
    except BaseException as exc:
        results.put(("failed", None, _portable(exc)))
        return
    while (task := tasks.get()) is not None:
        try:
            result = worker.run(task, lambda n: results.put(("frames", None, n)))
        except Exception as exc:  # this task's own failure, whatever it is: the worker goes on
            results.put(("failed", task.key, _portable(as_failure(exc))))
            continue
        except SystemExit:
            raise
        except BaseException as exc:
            results.put(("failed", task.key, _portable(exc)))
            return
        results.put(("done", task.key, result))


def _portable(exc: BaseException) -> BaseException:
    """The exception, if it can cross to the driver as it is, else its one line."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # some exceptions pickle but cannot be rebuilt
        return exc
    except Exception:
        return BackendError(f"{type(exc).__name__}: {exc}")


class LocalProcesses:
    """`workers` processes (spawned: CUDA and threads do not survive a fork), each holding the
    model (`reference`, as a worker can load it) on one of `devices`, taken in turn. `model` is
    the same, loaded here, to resolve the precision the workers will choose."""

    name = "local"

    def __init__(self, model: Model, reference: str, devices: Sequence[str], workers: int) -> None:
        self.model, self.workers = model, workers
        self.devices = [devices[i % len(devices)] for i in range(workers)]
        self.device = ",".join(dict.fromkeys(self.devices))
        context = multiprocessing.get_context("spawn")
        self._tasks = context.Queue()
        self._results = context.Queue()
        self._processes = []
        for i, device in enumerate(self.devices):
            threads = cpu_threads(workers) if device.startswith("cpu") else None
            process = context.Process(target=_serve, args=(reference, device, threads, self._tasks, self._results,
                                                           os.getpid()), name=f"vsr-worker-{i}", daemon=True)
            process.start()
            self._processes.append(process)

    def precision(self, requested: Precision) -> str:
        return resolved_precision(requested, self.devices[0], self.model)

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None = None,
            cancellation: Cancellation | None = None) -> None:
        for task in tasks:
            self._tasks.put(task)
        pending = {task.key for task in tasks}

        def said(kind: str, key: TaskKey | None, payload: Any) -> None:
            if kind == "frames":
                on_frames(payload)
            elif kind == "done":
                pending.discard(payload.key)
                on_result(payload)
            elif on_error is not None and key is not None and isinstance(payload, VsrError):
                pending.discard(key)
                on_error(key, payload)
            else:
                raise payload

        while pending:
            if cancellation is not None and cancellation.cancelled:
                self._keep_finished(said)
                cancellation.check()
            try:
                message = self._results.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None:
                said(*message)
            # Checked every turn, not only when the queue is quiet: the other workers' progress
            # would otherwise hide a dead one until they had done everything else.
            stopped = [p for p in self._processes if p.exitcode is not None]
            if stopped and pending:
                while pending:  # what it said before it stopped comes first (its own error, say)
                    try:
                        said(*self._results.get_nowait())
                    except queue.Empty:
                        break
                if pending:
                    how = stopped[0].exitcode
                    said_how = f"signal {-how}" if how is not None and how < 0 else f"exit code {how}"
                    raise BackendError(f"a worker process stopped ({said_how}) with {len(pending)} job(s) left; "
                                       "run the same command again to resume")

    def _keep_finished(self, said: Callable[[str, TaskKey | None, Any], None]) -> None:
        """What the workers finished before a cancel was seen: recorded, so that it is kept."""
        while True:
            try:
                kind, key, payload = self._results.get_nowait()
            except queue.Empty:
                return
            if kind == "done":
                said(kind, key, payload)

    def close(self, *, wait: bool = True) -> None:
        if not self._processes:
            return
        for _ in self._processes:
            self._tasks.put(None)
        # Every worker at once, against one deadline: one at a time would take seconds each.
        deadline = time.monotonic() + (5 if wait else 0)
        for process in self._processes:
            process.join(timeout=max(0, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + 5
        for process in self._processes:
            process.join(timeout=max(0, deadline - time.monotonic()))
            if process.is_alive():  # stuck where SIGTERM cannot reach Python
                process.kill()
                process.join()
            process.close()
        # Release the queues' semaphores now (the processes held them too): an interrupted run's
        # traceback keeps this object alive until the interpreter ends, and the semaphores would
        # be reported as leaked.
        self._processes = []
        self._tasks.close()
        self._tasks.cancel_join_thread()  # tasks never taken are dropped, not waited on
        self._results.close()
        self._results.join_thread()
        del self._tasks, self._results
