"""Jobs on a Ray cluster (the optional extra `vsr[ray]`): one long-lived actor per GPU, or per
CPU worker, holds the loaded model; jobs (segments, whole files) go to whichever actor is free.
An actor whose process dies is restarted and its job retried, elsewhere if need be; the driver
alone writes the manifest, so a resumed run works as a local one does.

Every node must see the input and output paths (a shared file system): each actor checks, and a
node that cannot is refused in one line before any work.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import socket
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from vsr.errors import BackendError, InputError, VsrError
from vsr.pipeline.executors import OnError, OnFrames, OnResult
from vsr.pipeline.worker import FileJob, Job, JobResult, SegmentJob, Worker

log = logging.getLogger(__name__)

RESTARTS = 3  # an actor killed mid-job comes back this many times, its job retried
_REPORT_EVERY = 0.25  # seconds between progress reports from an actor


class VsrWorker:
    """The actor's body: a Worker made on first use (a restarted actor makes it again)."""

    def __init__(self, model: str, device: str, threads: int | None) -> None:
        self.model, self.device, self.threads = model, device, threads
        self._worker: Worker | None = None

    def _ready(self) -> Worker:
        if self._worker is None:
            if self.threads is not None:
                import torch

                torch.set_num_threads(self.threads)
            self._worker = Worker(self.model, self.device)
        return self._worker

    def check(self, readable: list[str], writable: list[str]) -> str:
        """Refuse a node that cannot see the job's files; load the model. Returns the node."""
        node = socket.gethostname()
        for path in readable:
            if not os.access(path, os.R_OK):
                raise InputError(f"the Ray worker on {node} cannot read {path}: every node needs the input and "
                                 "output paths (a shared file system)")
        for path in writable:
            if not os.access(path, os.W_OK):
                raise InputError(f"the Ray worker on {node} cannot write to {path}: every node needs the input and "
                                 "output paths (a shared file system)")
        self._ready()
        return node

    def run(self, job: Job, progress: Any) -> JobResult:
        told = {"frames": 0, "at": time.monotonic()}

        def on_frames(n: int) -> None:
            told["frames"] += n
            if time.monotonic() - told["at"] >= _REPORT_EVERY:
                progress.add.remote(told["frames"])
                told["frames"], told["at"] = 0, time.monotonic()

        result = self._ready().run(job, on_frames)
        if told["frames"]:
            progress.add.remote(told["frames"])
        return result


class VsrProgress:
    """Frames done across the actors since the driver last asked."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, frames: int) -> None:
        self.frames += frames

    def take(self) -> int:
        frames, self.frames = self.frames, 0
        return frames


def _paths(jobs: Sequence[Job]) -> tuple[list[str], list[str]]:
    readable, writable = set(), set()
    for job in jobs:
        if isinstance(job, SegmentJob):
            readable.add(str(job.plan.input))
            writable.add(str(job.work))
        elif isinstance(job, FileJob):
            readable.add(str(job.input))
            writable.add(str(job.output.parent))
    return sorted(readable), sorted(writable)


class RayExecutor:
    """`workers` actors on the cluster at `address` (else RAY_ADDRESS, else a local Ray started
    for this run and shut down after it)."""

    name = "ray"

    def __init__(self, model: str, devices: Sequence[str], workers: int, *, address: str | None = None) -> None:
        self.ray = ray = _import_ray()
        self._started = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            # Ray's own log lines stay in its log files: only vsr's reach the terminal.
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            self._started = not address
        gpu = devices[0].startswith("cuda")
        self.workers = workers
        cpus = int(ray.cluster_resources().get("CPU", 1))
        threads = None if gpu else max(1, cpus // workers)
        actor = ray.remote(VsrWorker).options(num_gpus=1 if gpu else 0, num_cpus=0 if gpu else threads,
                                           max_restarts=RESTARTS, max_task_retries=RESTARTS)
        # On a GPU node Ray shows each actor its own GPU, as cuda:0.
        self.actors: list[Any] = [actor.remote(model, "cuda" if gpu else "cpu", threads) for _ in range(workers)]
        self.progress: Any = ray.remote(VsrProgress).remote()
        self._checked = False

    def _check(self, jobs: Sequence[Job]) -> None:
        ray = self.ray
        readable, writable = _paths(jobs)
        try:
            ray.get([a.check.remote(readable, writable) for a in self.actors])
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        self._checked = True

    def run(self, jobs: Sequence[Job], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None = None) -> None:
        # Ray's driver prints what its cluster reports (a worker that died) to stdout, where
        # --json's output goes: while the jobs run, those lines become vsr's warnings.
        with contextlib.redirect_stdout(RayMessages()):
            self._run(jobs, on_result, on_frames, on_error)

    def _run(self, jobs: Sequence[Job], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None) -> None:
        if not jobs:
            return
        ray = self.ray
        if not self._checked:
            self._check(jobs)
        waiting = deque(jobs)
        free = list(self.actors)
        running: dict[Any, tuple[Any, Job]] = {}
        while waiting or running:
            while waiting and free:
                actor, job = free.pop(), waiting.popleft()
                running[actor.run.remote(job, self.progress)] = (actor, job)
            done, _ = ray.wait(list(running), num_returns=1, timeout=_REPORT_EVERY)
            frames = ray.get(self.progress.take.remote())
            if frames:
                on_frames(frames)
            for ref in done:
                actor, job = running.pop(ref)
                free.append(actor)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = _cause(exc)
                    if on_error is None or not isinstance(cause, VsrError):
                        raise cause from None
                    on_error(job.key, cause)
                    continue
                except ray.exceptions.RayActorError as exc:
                    raise BackendError(f"a Ray worker was lost {RESTARTS + 1} times ({exc.__class__.__name__}); "
                                       "run the same command again to resume") from None
                on_result(result)

    def close(self, *, wait: bool = True) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        if self._started:
            self.ray.shutdown()


class RayMessages(io.TextIOBase):
    """Lines Ray prints, said as one vsr warning each: the first sentence, colour codes and the
    "(raylet)" prefix gone."""

    def __init__(self) -> None:
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            said = re.sub(r"\x1b\[[0-9;]*m", "", line)
            said = re.sub(r"^\s*\([^)]*\)\s*", "", said).strip()
            if said:
                log.warning("Ray: %s", said.split(". ")[0].rstrip(".") + ("; its job runs again" if "died" in said else ""))
        return len(text)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'vsr[ray]'") from None
    return ray


def _cause(exc: Exception) -> BaseException:
    """The exception a Ray task raised, as it was raised (a VsrError keeps its one line)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else BackendError(str(exc).splitlines()[0])
