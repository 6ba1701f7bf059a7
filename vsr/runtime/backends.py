"""How the network runs: the backend to try first, why one cannot run here, and building the
one that is used, with its build and call times measured for the next run's choice.

What each backend is (the devices it runs on, how it is built, its place in auto's order) is
one entry in `vsr.runtime.backend_specs`. `auto` tries, fastest first, the backends installed
here: TensorRT then torch.compile on CUDA (fused kernels and CUDA graphs for the fixed frame
shape); on the CPU OpenVINO in int8 (only where the precision was left to auto: int8 is within
40 dB of fp32, not equal to it), OpenVINO, and eager. A built backend is used only where its
build pays for itself over the expected model calls (`vsr.runtime.choice`); on the CPU
torch.compile is never automatic (measured on a 2-core AVX-512 machine, its code was 25% slower
than oneDNN's channels-last convolutions and took 27 s to build), while OpenVINO's was 1.6–1.9×
faster than eager in bf16 and converts in about a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch
from torch import nn

from vsr.errors import BackendError
from vsr.models.descriptor import Runner
from vsr.runtime import Backend, backend_specs, choice, int8, silence
from vsr.runtime.device import precision_name
from vsr.runtime.stops import stops_deferred

log = logging.getLogger(__name__)


def candidates(backend: Backend, device: torch.device, *, quantise: bool = False) -> list[Backend]:
    """The backends to try, fastest first; the first that builds (and, for auto, pays) is used.
    `quantise`: whether auto may run the network in int8 (its output is not fp32's, only
    within 40 dB of it, so only where the user left the precision to vsr; it competes with
    eager in fp32 or bf16, whichever that precision resolved to)."""
    if backend != "auto":
        return [backend_specs.named(backend).name]
    tried = [spec for spec in backend_specs.BACKEND_SPECS
             if device.type in spec.auto_preference and (quantise or not spec.quantised)]
    return [spec.name for spec in sorted(tried, key=lambda spec: -spec.auto_preference[device.type])]


# How messages name the device types a backend runs on.
_DEVICE_WORDS = {"cpu": "the CPU", "cuda": "a CUDA GPU"}


def unavailable(name: Backend, device: torch.device) -> str | None:
    """Why backend `name` cannot run here (another device, not installed, no GPU), or None."""
    spec = backend_specs.named(name)
    if device.type not in spec.devices:
        return f"{spec.runtime} runs on {' or '.join(_DEVICE_WORDS.get(d, d) for d in sorted(spec.devices))} only"
    return spec.unavailable()


def prepare(net: nn.Module, *, backend: Backend, shape: tuple[int, ...], dtype: torch.dtype,
            device: torch.device, calls: int | None = None, quantise: bool = False,
            measurements: choice.Measurements | None = None) -> tuple[Runner, Backend, list[str]]:
    """The network as a callable for NCHW inputs of `shape` (compile and TensorRT run other
    shapes eagerly), the name of the backend that runs it, and warnings.

    With `auto`, a backend that is not installed is skipped quietly; one whose build would not
    pay over `calls` model calls of `shape` (None: many) is skipped too; one that is installed
    but fails to build is skipped with a warning; int8 only with `quantise`. Build times and
    call times are measured and kept in `measurements` for the next run's choice (int8's once
    it has calibrated, on the video's first frames)."""
    warnings: list[str] = []
    measurements = measurements or choice.Measurements()
    eager_call: float | None = None  # timed once for all candidates
    for name in candidates(backend, device, quantise=quantise):
        if backend_specs.named(name).build is None:  # the network as it is: nothing to build or weigh
            return net, name, warnings
        if reason := unavailable(name, device):
            if backend != "auto":  # asked for by name: say why not, before any work
                raise BackendError(f"`backend` {name}: {reason}", option="backend")
            log.debug("skipping %s: %s", name, reason)
            continue
        key = choice.key(name, choice.device_label(device), choice.network_label(net), shape, str(dtype))
        if backend == "auto" and calls is not None:
            eager_call = eager_call or measurements.get(key).get("eager_call") or _time_eager(net, shape, dtype, device)
            measurements.update(key, eager_call=eager_call)
            if not _pays(name, key, calls, device, dtype, measurements):
                continue
        try:
            start = time.perf_counter()
            runner = _build_quietly(name, net, shape, dtype, device)
            built = time.perf_counter() - start
            measurements.update(key, build=built)
            if isinstance(runner, int8.Int8Runner):
                # Timing it now would calibrate it on noise: it reports once it has calibrated.
                runner.on_ready = lambda seconds, call, key=key, built=built: \
                    measurements.update(key, build=built + seconds, built_call=call)
                # Quantisation that fell short of its bar on this model, here, is recorded as no
                # faster than eager, so that auto stops paying for a calibration it throws away
                # (`--backend openvino-int8` still tries it).
                runner.on_declined = lambda seconds, key=key, built=built: measurements.update(
                    key, build=built + seconds, built_call=measurements.get(key).get("eager_call", float("inf")))
            elif backend == "auto" and "built_call" not in measurements.get(key):
                measurements.update(key, built_call=_time_call(runner, shape, dtype, device))
            return runner, name, warnings
        except BackendError as exc:
            if backend != "auto":
                raise
            warnings.append(f"{exc.plain}; trying the next backend")
    raise BackendError(f"no backend could run the model (tried {', '.join(candidates(backend, device))})")


def _build_quietly(name: Backend, net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype,
                   device: torch.device) -> Runner:
    """`_build` with its chatter kept off the terminal; should it fail, the last of what it said
    goes into the error's one line."""
    try:
        with stops_deferred(), silence.stderr_captured() as said:
            return _build(name, net, shape, dtype, device)
    except BackendError as exc:  # `said` is complete only once the block has ended
        raise BackendError(f"{exc}{f' (it said: {said.tail()})' if said.tail() else ''}", option=exc.option) from exc


def _time_eager(net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> float:
    with torch.inference_mode():
        return _time_call(net, shape, dtype, device)


def _pays(name: Backend, key: str, calls: int, device: torch.device, dtype: torch.dtype,
          measurements: choice.Measurements) -> bool:
    measured = measurements.get(key)
    costs = choice.estimate(name, device.type, measured["eager_call"], measured, precision_name(dtype))
    verdict = costs is not None and choice.pays(costs, calls)
    log.debug("%s over %d calls (%s): %s (%s)", name, calls, key, "builds" if verdict else "eager", costs)
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
    build = backend_specs.named(name).build
    return net if build is None else build(net, shape=shape, dtype=dtype, device=device)
