"""Jobs on a Ray cluster (the optional extra `vsr[ray]`): one long-lived actor per GPU, or per
CPU worker, holds the loaded model; jobs (segments, whole files) go to whichever actor is free.
An actor whose process dies is restarted and its job retried, elsewhere if need be; the driver
alone writes the manifest, so a resumed run works as a local one does.

Every node must see the input and output paths (a shared file system): each actor checks, and a
node that cannot is refused in one line before any work.

Where the actors go is decided from what the cluster has, not from the driver's machine (which
may have no GPU at all): `place` is a pure function of the nodes' resources, so a plan the
cluster cannot hold is refused at once, in words, rather than waiting forever for resources.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vsr.errors import BackendError, InputError, VsrError
from vsr.pipeline.progress import Cancellation
from vsr.pipeline.stream.pump import OnFrames
from vsr.pipeline.workers.local import OnError, OnResult
from vsr.pipeline.workers.tasks import FileTask, SegmentTask, Task, TaskResult
from vsr.pipeline.workers.worker import Worker
from vsr.runtime import ALL_GPUS, Precision

log = logging.getLogger(__name__)

RESTARTS = 3  # an actor killed mid-job comes back this many times, its job retried
_REPORT_EVERY = 0.25  # seconds between progress reports from an actor
START_TIMEOUT = 300.0  # seconds for every actor to start and load the model


@dataclass(frozen=True)
class Placement:
    """What the actors ask of the cluster. On GPUs, each GPU is a placement-group bundle of its
    own and every actor is tied to one, sharing it evenly with the others tied there: Ray's own
    packing of fractional GPUs would put 5 workers on 4 GPUs as 2, 2, 1 and 0."""

    device: str  # "cuda" or "cpu": on a GPU node Ray shows each actor its own GPU as cuda:0
    threads: int | None  # torch threads of a CPU actor (its CPU request too)
    gpu_of: tuple[int, ...] = ()  # per actor on GPUs: its GPU's bundle
    cpu_workers: int = 0

    @property
    def workers(self) -> int:
        return len(self.gpu_of) if self.device == "cuda" else self.cpu_workers

    @property
    def gpus(self) -> int:
        return len(set(self.gpu_of))

    def gpu_share(self, actor: int) -> float:
        return 1 / self.gpu_of.count(self.gpu_of[actor])

    def describe(self) -> str:
        if self.device == "cuda":
            return "a GPU" if self.workers == self.gpus else "a share of a GPU"
        return f"{self.threads} CPU"


def place(nodes: Sequence[Mapping[str, float]], device: str, workers: int | None) -> Placement:
    """How the actors fit on a cluster whose live nodes have `nodes` resources ({"CPU": 8,
    "GPU": 2, ...}). `workers` None: one per GPU (`cuda`: one; a list: one per name), or on CPUs
    as many as the cluster holds with the smallest node's cores each (one per node where nodes
    are alike). More workers than GPUs share them evenly. InputError when the cluster cannot
    hold them at all."""
    gpus = sum(int(n.get("GPU", 0)) for n in nodes)
    cpus = [int(n.get("CPU", 0)) for n in nodes if int(n.get("CPU", 0)) > 0]
    if device == "cpu" or (device == "auto" and not gpus):
        if not cpus:
            raise InputError("the Ray cluster has no CPU for a worker")
        if workers is None:
            threads = min(cpus)
            return Placement("cpu", threads, cpu_workers=sum(c // threads for c in cpus))
        if workers > sum(cpus):
            raise InputError(f"`workers` {workers}: the Ray cluster has {sum(cpus)} CPU(s), room for {sum(cpus)} "
                             "CPU worker(s)", option="workers")
        threads = max(1, min(max(cpus), sum(cpus) // workers))
        while sum(c // threads for c in cpus) < workers:  # each node holds whole actors; 1 thread always fits
            threads -= 1
        return Placement("cpu", threads, cpu_workers=workers)
    if not gpus:
        raise InputError(f"`device` {device}: the Ray cluster has no GPU; use `device` cpu", option="device")
    named = 1 if device == "cuda" else len(device.split(","))
    if workers is None and device not in ("auto", ALL_GPUS) and named > gpus:
        raise InputError(f"`device` {device}: names {named} GPUs, the Ray cluster has {gpus}; use `device` {ALL_GPUS}",
                         option="device")
    count = workers or (gpus if device in ("auto", ALL_GPUS) else named)
    used = min(gpus, count)
    return Placement("cuda", None, gpu_of=tuple(i % used for i in range(count)))


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

    def precision(self, requested: Precision) -> str:
        return self._ready().precision(requested)

    def where(self) -> tuple[str, list[int]]:
        """Its node, and the GPUs Ray gave it."""
        import ray

        return socket.gethostname(), [int(g) for g in ray.get_gpu_ids()]

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

    def run(self, task: Task, progress: Any) -> TaskResult:
        told = {"frames": 0, "at": time.monotonic()}

        def on_frames(n: int) -> None:
            told["frames"] += n
            if time.monotonic() - told["at"] >= _REPORT_EVERY:
                progress.add.remote(told["frames"])
                told["frames"], told["at"] = 0, time.monotonic()

        result = self._ready().run(task, on_frames)
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


def _paths(jobs: Sequence[Task]) -> tuple[list[str], list[str]]:
    readable, writable = set(), set()
    for job in jobs:
        if isinstance(job, SegmentTask):
            readable.add(str(job.plan.input))
            writable.add(str(job.work))
        elif isinstance(job, FileTask):
            readable.add(str(job.input))
            writable.add(str(job.output.parent))
    return sorted(readable), sorted(writable)


@contextlib.contextmanager
def _signal_handlers_kept() -> Iterator[None]:
    """ray.init installs its own SIGTERM handler (exit 15, no message, temporary files left):
    the caller's (vsr's: unwind as from Ctrl-C) is put back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name)]
    kept = {s: signal.getsignal(s) for s in stopping}
    try:
        yield
    finally:
        for s, handler in kept.items():
            if handler is not None:
                signal.signal(s, handler)


class RayExecutor:
    """Actors on the cluster at `address` (else RAY_ADDRESS, else a local Ray started for this
    run and shut down after it), placed by `place` for `device` and `workers`."""

    name = "ray"

    def __init__(self, model: str, device: str, workers: int | None, *, address: str | None = None,
                 start_timeout: float = START_TIMEOUT) -> None:
        self.ray = ray = _import_ray()
        self._started = False
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS")
            # Ray's own log lines stay in its log files: only vsr's reach the terminal.
            with _signal_handlers_kept():
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            self._started = not address
        self.actors: list[Any] = []
        self._group: Any = None
        try:
            nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
            self.placement = placement = place(nodes, device, workers)
        except BaseException:
            self.close()
            raise
        self.workers, self.device, self.start_timeout = placement.workers, placement.device, start_timeout
        actor = ray.remote(VsrWorker)
        restarts = {"max_restarts": RESTARTS, "max_task_retries": RESTARTS}
        if placement.device == "cuda":
            from ray.util.placement_group import placement_group
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            self._group = placement_group([{"GPU": 1}] * placement.gpus, strategy="PACK")
            self.actors = [actor.options(num_gpus=placement.gpu_share(i), num_cpus=0, scheduling_strategy=(
                PlacementGroupSchedulingStrategy(placement_group=self._group, placement_group_bundle_index=gpu)),
                **restarts).remote(model, "cuda", None) for i, gpu in enumerate(placement.gpu_of)]
        else:
            self.actors = [actor.options(num_gpus=0, num_cpus=placement.threads, **restarts)
                           .remote(model, "cpu", placement.threads) for _ in range(placement.workers)]
        self.progress: Any = ray.remote(VsrProgress).remote()
        self._checked = False

    def precision(self, requested: Precision) -> str:
        """Asked of an actor: the driver may have no GPU, or another CPU."""
        self._wait_started()
        return str(self._get(self.actors[0].precision.remote(requested)))

    def _wait_started(self) -> None:
        """Every actor up, or a clear error: the cluster may be busy with other work."""
        ray = self.ray
        ready, _ = ray.wait([a.__ray_ready__.remote() for a in self.actors], num_returns=len(self.actors),
                            timeout=self.start_timeout)
        if len(ready) < len(self.actors):
            raise BackendError(f"only {len(ready)} of {len(self.actors)} Ray workers started within "
                               f"{self.start_timeout:g} s (each needs {self.placement.describe()}): the cluster is "
                               "busy or short of resources; use fewer `workers`", option="workers")

    def _get(self, ref: Any) -> Any:
        try:
            return self.ray.get(ref)
        except self.ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        except self.ray.exceptions.RayActorError as exc:  # it died starting: out of memory loading the model, say
            raise BackendError(f"a Ray worker died before it could start ({exc.__class__.__name__}); see Ray's "
                               "logs on its node") from None

    def _check(self, jobs: Sequence[Task]) -> None:
        self._wait_started()
        readable, writable = _paths(jobs)
        self._get([a.check.remote(readable, writable) for a in self.actors])
        self._checked = True

    def run(self, tasks: Sequence[Task], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None = None,
            cancellation: Cancellation | None = None) -> None:
        # Ray's driver prints what its cluster reports (a worker that died) to stdout, where
        # --json's output goes: while the jobs run, those lines become vsr's warnings.
        with contextlib.redirect_stdout(RayMessages()):
            self._run(tasks, on_result, on_frames, on_error, cancellation)

    def _run(self, tasks: Sequence[Task], on_result: OnResult, on_frames: OnFrames, on_error: OnError | None,
             cancellation: Cancellation | None) -> None:
        if not tasks:
            return
        ray = self.ray
        if not self._checked:
            self._check(tasks)
        waiting = deque(tasks)
        free = list(self.actors)
        running: dict[Any, tuple[Any, Task]] = {}
        while waiting or running:
            if cancellation is not None:
                cancellation.check()
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
        self.actors = []
        if self._group is not None:
            from ray.util.placement_group import remove_placement_group

            remove_placement_group(self._group)
            self._group = None
        if self._started:
            self.ray.shutdown()
            self._started = False


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
        raise InputError("`executor` ray needs Ray: pip install 'vsr[ray]'", option="executor") from None
    return ray


def _cause(exc: Exception) -> BaseException:
    """The exception a Ray task raised, as it was raised (a VsrError keeps its one line)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else BackendError(str(exc).splitlines()[0])
