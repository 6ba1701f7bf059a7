"""How the network runs: eager PyTorch, torch.compile, or a TensorRT engine.

`auto` picks, in order of speed where each is available: TensorRT (CUDA with torch-tensorrt),
torch.compile (CUDA: fused kernels and CUDA graphs for the fixed frame shape), eager. On the CPU
`auto` is eager: measured on a 2-core AVX-512 machine, torch.compile's CPU code was 25% slower
than oneDNN's channels-last convolutions and took 27 s to build.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
from torch import nn

from vsr.errors import BackendError, InputError
from vsr.models.descriptor import Runner
from vsr.runtime import BACKENDS, Backend

log = logging.getLogger(__name__)


def candidates(backend: Backend, device: torch.device) -> list[Backend]:
    """The backends to try, fastest first; the first that builds is used."""
    if backend not in BACKENDS:
        raise InputError(f"invalid --backend {backend!r}: use {', '.join(BACKENDS)}")
    if backend != "auto":
        return [backend]
    return ["tensorrt", "compile", "eager"] if device.type == "cuda" else ["eager"]


def prepare(net: nn.Module, *, backend: Backend, shape: tuple[int, ...], dtype: torch.dtype,
            device: torch.device) -> tuple[Runner, Backend, list[str]]:
    """The network as a callable for NCHW inputs of `shape` (other shapes fall back to eager),
    the name of the backend that runs it, and warnings. With `auto`, a backend that is not
    installed is skipped quietly; one that is installed but fails to build is skipped with a
    warning."""
    from vsr.runtime import tensorrt

    warnings: list[str] = []
    for name in candidates(backend, device):
        if backend == "auto" and name == "tensorrt" and tensorrt.unavailable():
            log.debug("skipping TensorRT: %s", tensorrt.unavailable())
            continue
        try:
            return _build(name, net, shape, dtype, device), name, warnings
        except BackendError as exc:
            if backend != "auto":
                raise
            warnings.append(f"{exc}; trying the next backend")
    raise BackendError(f"no backend could run the model (tried {', '.join(candidates(backend, device))})")


def _build(name: Backend, net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Runner:
    if name == "eager":
        return net
    if name == "tensorrt":
        from vsr.runtime import tensorrt

        return shape_guarded(tensorrt.build(net, shape=shape, dtype=dtype, device=device), net, shape)
    if name == "compile":
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
