"""How the network runs: eager PyTorch, torch.compile, TensorRT, or OpenVINO on the CPU.

`auto` tries, fastest first, the backends installed here: TensorRT then torch.compile on CUDA
(fused kernels and CUDA graphs for the fixed frame shape), OpenVINO on the CPU, and eager. A
built backend is used only where its build pays for itself over the expected model calls
(`vsr.runtime.choice`); on the CPU torch.compile is never automatic (measured on a 2-core
AVX-512 machine, its code was 25% slower than oneDNN's channels-last convolutions and took 27 s
to build), while OpenVINO's was 1.6–1.9× faster than eager in bf16 and converts in about a second.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import torch
from torch import nn

from vsr.errors import BackendError, InputError
from vsr.models.descriptor import Runner
from vsr.runtime import BACKENDS, Backend, cache_folder, choice, silence

log = logging.getLogger(__name__)


def candidates(backend: Backend, device: torch.device) -> list[Backend]:
    """The backends to try, fastest first; the first that builds (and, for auto, pays) is used."""
    if backend not in BACKENDS:
        raise InputError(f"invalid --backend {backend!r}: use {', '.join(BACKENDS)}")
    if backend != "auto":
        return [backend]
    return ["tensorrt", "compile", "eager"] if device.type == "cuda" else ["openvino", "eager"]


def unavailable(name: Backend, device: torch.device) -> str | None:
    """Why backend `name` cannot run here (not installed, no GPU), or None."""
    if name == "tensorrt":
        from vsr.runtime import tensorrt

        return tensorrt.unavailable()
    if name == "openvino":
        from vsr.runtime import openvino

        # Installed is enough here: a broken install fails its build, which auto skips with a warning.
        return "OpenVINO runs on the CPU only" if device.type != "cpu" else openvino.unavailable(load=False)
    return None


def prepare(net: nn.Module, *, backend: Backend, shape: tuple[int, ...], dtype: torch.dtype,
            device: torch.device, calls: int | None = None,
            measurements: choice.Measurements | None = None) -> tuple[Runner, Backend, list[str]]:
    """The network as a callable for NCHW inputs of `shape` (compile and TensorRT run other
    shapes eagerly), the name of the backend that runs it, and warnings.

    With `auto`, a backend that is not installed is skipped quietly; one whose build would not
    pay over `calls` model calls of `shape` (None: many) is skipped too; one that is installed
    but fails to build is skipped with a warning. Build times and call times are measured and
    kept in `measurements` for the next run's choice."""
    warnings: list[str] = []
    measurements = measurements or choice.Measurements()
    for name in candidates(backend, device):
        if name == "eager":
            return net, "eager", warnings
        key = choice.key(name, choice.device_label(device), choice.network_label(net), shape, str(dtype))
        if backend == "auto":
            if reason := unavailable(name, device):
                log.debug("skipping %s: %s", name, reason)
                continue
            if calls is not None and not _pays(name, key, net, shape, dtype, device, calls, measurements):
                continue
        try:
            start = time.perf_counter()
            runner = _build_quietly(name, net, shape, dtype, device)
            measurements.update(key, build=time.perf_counter() - start)
            if backend == "auto" and "built_call" not in measurements.get(key):
                measurements.update(key, built_call=_time_call(runner, shape, dtype, device))
            return runner, name, warnings
        except BackendError as exc:
            if backend != "auto":
                raise
            warnings.append(f"{exc}; trying the next backend")
    raise BackendError(f"no backend could run the model (tried {', '.join(candidates(backend, device))})")


def _build_quietly(name: Backend, net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype,
                   device: torch.device) -> Runner:
    """`_build` with its chatter kept off the terminal; should it fail, the last of what it said
    goes into the error's one line."""
    try:
        with _stops_deferred(), silence.stderr_captured() as said:
            return _build(name, net, shape, dtype, device)
    except BackendError as exc:  # `said` is complete only once the block has ended
        raise BackendError(f"{exc}{f' (it said: {said.tail()})' if said.tail() else ''}") from exc


@contextlib.contextmanager
def _stops_deferred() -> Iterator[None]:
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


def _pays(name: Backend, key: str, net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype,
          device: torch.device, calls: int, measurements: choice.Measurements) -> bool:
    measured = measurements.get(key)
    if "eager_call" not in measured:
        with torch.inference_mode():
            measured["eager_call"] = _time_call(net, shape, dtype, device)
        measurements.update(key, eager_call=measured["eager_call"])
    costs = choice.estimate(name, device.type, measured["eager_call"], measured)
    verdict = costs is not None and choice.pays(costs, calls)
    log.debug("%s over %d calls of %s: %s (%s)", name, calls, shape, "builds" if verdict else "eager", costs)
    return verdict


def _time_call(runner: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], dtype: torch.dtype,
               device: torch.device) -> float:
    """Seconds for one call on an input of `shape`, after one call to warm up."""
    x = torch.rand(shape, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        runner(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        runner(x)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _build(name: Backend, net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Runner:
    if name == "eager":
        return net
    if name == "tensorrt":
        from vsr.runtime import tensorrt

        return shape_guarded(tensorrt.build(net, shape=shape, dtype=dtype, device=device), net, shape)
    if name == "openvino":
        from vsr.runtime.openvino import OpenVinoRunner

        runner = OpenVinoRunner(net, dtype=dtype, threads=torch.get_num_threads())
        runner.compiled_for(shape)  # the first shape now, so a failure shows here
        return runner
    if name == "compile":
        # Inductor's compiled kernels and autotune results, kept with vsr's other caches rather
        # than in /tmp, so that the next run (and the next boot) does not pay again.
        os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(cache_folder("inductor")))
        if device.type == "cuda":
            # CUDA graphs replay the whole network as one launch for the fixed frame shape.
            compiled = torch.compile(net, mode="max-autotune", fullgraph=True, dynamic=False)
        else:
            compiled = torch.compile(net, fullgraph=True, dynamic=False)
        try:
            with torch.inference_mode():
                compiled(torch.zeros(shape, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last))
        except Exception as exc:  # no C compiler, no Triton, an unsupported op
            raise BackendError(f"--backend compile: torch.compile failed ({type(exc).__name__}: {exc})") from exc
        return shape_guarded(compiled, net, shape)
    raise InputError(f"invalid --backend {name!r}")


def shape_guarded(fast: Callable[[torch.Tensor], torch.Tensor], net: nn.Module, shape: tuple[int, ...]) -> Runner:
    """Engines built for one shape; anything else (a tile, an odd last batch) runs eagerly
    rather than triggering a rebuild."""
    expected = tuple(shape)

    def run(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = fast(x) if tuple(x.shape) == expected else net(x)
        return out

    return run
