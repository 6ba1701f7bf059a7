"""What each backend is, in one ordered table: `BACKEND_SPECS`, one declarative `BackendSpec`
per backend (eager PyTorch, torch.compile, TensorRT, OpenVINO, OpenVINO in int8), as
vsr.models.registry is for architectures.

Whatever differs between backends is read from here: the devices each runs on, why it cannot
run on this machine, how it is built, what `--backend auto` expects it to cost and in which
order auto tries it, whether it is built for one input shape, how the engine tiles its frames
on the CPU, whether its output is quantised, and what precision it computes in. Adding a backend
is one entry here, and its name in `vsr.runtime.Backend` (the choices the CLI offers before
anything is imported; a test keeps the two equal).

Importing this module loads nothing heavy: each spec's functions import what they need when
called, so the CLI's option declarations and `vsr --help` stay instant.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from vsr.errors import BackendError, InputError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from vsr.models.descriptor import Runner
    from vsr.runtime import Backend

# How the engine cuts a large frame on the CPU (vsr.runtime.tiling.cpu_tile): "cache-sized",
# exact tiles whose activations stay in the CPU's cache (PyTorch's convolutions run slower per
# pixel on larger inputs); "whole-frames", whole frames up to 1080p and memory-sized tiles beyond
# (the backend plans its own cache blocking, and whole frames ran faster than tiles).
CpuTiling = Literal["cache-sized", "whole-frames"]
CPU_AND_CUDA = frozenset({"cpu", "cuda"})


class Build(Protocol):
    """Builds `net` as a backend runs it, for NCHW inputs of `shape` in `dtype` on `device`
    (the first shape then, so that a failure shows at once); raises BackendError where it cannot."""

    def __call__(self, net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
                 ) -> Runner: ...


@dataclass(frozen=True)
class Prior:
    """What a backend is expected to cost before it has been measured on this machine."""

    build: float
    """Seconds to build it once."""
    speedup: float
    """Eager's time a call over the built backend's."""


def _available() -> str | None:
    return None


@dataclass(frozen=True, kw_only=True)
class BackendSpec:
    """One backend: its name, where it runs, how it is built, and what `--backend auto` and the
    engine need to know about it."""

    name: Backend
    """What `--backend` calls it, and how a run reports it as the backend used."""
    runtime: str
    """What runs the network, as messages name it ("OpenVINO runs on the CPU only")."""
    devices: frozenset[str]
    """The device types (`torch.device.type`) it runs on."""
    build: Build | None
    """The network as this backend runs it. None: the network as it is (eager), with nothing to
    build, time or weigh; the fallback every other backend is weighed against."""
    extra: str | None = None
    """The optional dependency group that installs it (`pip install 'vsr[<extra>]'`); None where
    it comes with vsr. Its `unavailable` names the same command."""
    unavailable: Callable[[], str | None] = _available
    """Why it cannot run on this machine (not installed, no GPU), or None. Cheap: auto asks it
    of every candidate before building any; a broken install may still fail its build, which
    auto skips with a warning. The device is checked apart, against `devices`."""
    priors: Mapping[tuple[str, str], Prior] = field(default_factory=dict)
    """Its expected costs before any measurement here, by device type and the precision eager
    runs in ("*": any); the speed-up is over eager in that precision. Where auto weighs a build
    against the video's length, a device type and precision without a prior never pays."""
    fixed_shape: bool = False
    """Whether it is built for one input shape: the engine pads every batch to its full size so
    that it is built once, and any other shape (a tile, say) runs eagerly."""
    cpu_tiles: CpuTiling = "cache-sized"
    """How the engine cuts large frames on the CPU for it (see `CpuTiling`)."""
    quantised: bool = False
    """Whether its output is int8's (within 40 dB of fp32, not equal to it): auto tries it only
    where the user left the precision to vsr."""
    auto_preference: Mapping[str, int] = field(default_factory=dict)
    """How early auto tries it on each device type: higher first (the fastest expected), and
    eager, the fallback that always runs, at 0. A device type absent here: auto never tries it
    there (it can still be asked for by name)."""
    computes_in: Callable[[Runner], str] | None = None
    """The precision its built runner computes in (fp32, bf16, fp16, int8) where that is its own
    choice rather than the engine's dtype: OpenVINO computes fp32 on a CPU without native bf16,
    and int8 once calibrated. None: the engine's dtype."""

    def __post_init__(self) -> None:
        if self.name == "auto":
            raise ValueError("auto chooses among the backends; it is not one")
        for what, types in (("auto_preference", set(self.auto_preference)),
                            ("priors", {device for device, _ in self.priors})):
            if not types <= self.devices:
                raise ValueError(f"backend {self.name}: {what} for {sorted(types - self.devices)}, "
                                 f"where it does not run")

    @property
    def install(self) -> str | None:
        """The command that installs it, or None where it comes with vsr."""
        return f"pip install 'vsr[{self.extra}]'" if self.extra else None


# -- how each is built (imports inside: building is when they are needed) ---------------------------

def shape_guarded(fast: Callable[[torch.Tensor], torch.Tensor], net: nn.Module, shape: tuple[int, ...]) -> Runner:
    """Engines built for one shape; anything else (a tile, an odd last batch) runs eagerly
    rather than triggering a rebuild."""
    expected = tuple(shape)

    def run(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = fast(x) if tuple(x.shape) == expected else net(x)
        return out

    return run


def _build_compile(net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Runner:
    import torch

    from vsr.runtime import cache_folder

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
        raise BackendError(f"`backend` compile: torch.compile failed ({type(exc).__name__}: {exc})",
                           option="backend") from exc
    return shape_guarded(compiled, net, shape)


def _build_tensorrt(net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Runner:
    from vsr.runtime import tensorrt

    return shape_guarded(tensorrt.build(net, shape=shape, dtype=dtype, device=device), net, shape)


def _build_openvino(net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Runner:
    import torch

    from vsr.runtime.openvino import OpenVinoRunner

    runner = OpenVinoRunner(net, dtype=dtype, threads=torch.get_num_threads())
    runner.compiled_for(shape)  # the first shape now, so a failure shows here
    return runner


def _build_openvino_int8(net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
                         ) -> Runner:
    import torch

    from vsr.runtime import int8
    from vsr.runtime.openvino import OpenVinoRunner

    if reason := int8.unavailable():
        raise BackendError(f"`backend` openvino-int8: {reason}", option="backend")
    # It calibrates in the engine's precision: bf16 where the CPU has it, which is twice fp32's speed.
    calibrating = OpenVinoRunner(net, dtype=dtype, threads=torch.get_num_threads())
    calibrating.compiled_for(shape)
    return int8.Int8Runner(calibrating)


# -- why each cannot run here ---------------------------------------------------------------------

def _tensorrt_unavailable() -> str | None:
    from vsr.runtime import tensorrt

    return tensorrt.unavailable()


def _openvino_unavailable() -> str | None:
    from vsr.runtime import openvino

    # Installed is enough here: importing it takes half a second that a short clip which will run
    # eagerly anyway should not pay, and a broken install fails its build, which auto skips.
    return openvino.unavailable(load=False)


def _int8_unavailable() -> str | None:
    from vsr.runtime import int8

    return int8.unavailable()


# -- what each computes in, where it chooses -------------------------------------------------------

def _openvino_computes_in(runner: Runner) -> str:
    from vsr.runtime.openvino import OpenVinoRunner

    assert isinstance(runner, OpenVinoRunner), runner
    return runner.precision_name


def _int8_computes_in(runner: Runner) -> str:
    from vsr.runtime.int8 import Int8Runner

    assert isinstance(runner, Int8Runner), runner
    return runner.precision  # OpenVINO's precision while it calibrates (or where it fell short), then int8


# -- the table ------------------------------------------------------------------------------------

BACKEND_SPECS: tuple[BackendSpec, ...] = (
    BackendSpec(
        name="eager", runtime="PyTorch", devices=CPU_AND_CUDA, build=None,
        auto_preference={"cpu": 0, "cuda": 0},
    ),
    BackendSpec(
        name="compile", runtime="torch.compile", devices=CPU_AND_CUDA, build=_build_compile, fixed_shape=True,
        # On the CPU never automatic: measured on a 2-core AVX-512 machine, its code was 25% slower
        # than oneDNN's channels-last convolutions and took 27 s to build.
        auto_preference={"cuda": 1},
        # H100, realesr-animevideov3 fp16 at 640×360 (../shared/gpu-results): 25 s of compile and
        # autotune; 754 model fps against eager's 405.
        priors={("cuda", "*"): Prior(build=25.0, speedup=1.86)},
    ),
    BackendSpec(
        name="tensorrt", runtime="TensorRT", devices=frozenset({"cuda"}), extra="tensorrt",
        unavailable=_tensorrt_unavailable, build=_build_tensorrt, fixed_shape=True,
        auto_preference={"cuda": 2},
        # Not measured yet on this project's GPUs: an engine build takes minutes the first time
        # (then it is loaded from vsr's cache, and the measured build replaces this).
        priors={("cuda", "*"): Prior(build=120.0, speedup=2.0)},
    ),
    BackendSpec(
        name="openvino", runtime="OpenVINO", devices=frozenset({"cpu"}), extra="openvino",
        unavailable=_openvino_unavailable, build=_build_openvino, cpu_tiles="whole-frames",
        computes_in=_openvino_computes_in,
        auto_preference={"cpu": 1},
        # 2-core AMD EPYC (AVX512-BF16), realesr-animevideov3: 1.1 s to convert, 0.1 s to compile a
        # shape; 1.6× eager in bf16 at 640×360 (benchmarks/README.md). With AMX, eager bf16 is as
        # fast (1.06×): the measured call then declines it from the second run on.
        priors={("cpu", "*"): Prior(build=1.5, speedup=1.6)},
    ),
    BackendSpec(
        # Quantised on the video's own first frames (vsr.runtime.int8); a network shipped already
        # quantised would be one more entry like this, with its own build and a smaller prior build.
        name="openvino-int8", runtime="OpenVINO", devices=frozenset({"cpu"}), extra="int8",
        unavailable=_int8_unavailable, build=_build_openvino_int8, cpu_tiles="whole-frames",
        computes_in=_int8_computes_in, quantised=True,
        auto_preference={"cpu": 2},
        priors={
            # 2-core AMD EPYC (Zen 3, AVX2, no bf16), realesr-animevideov3 fp32: 1.5 s to convert and
            # compile, 8 calibration calls in OpenVINO and about 15 s of NNCF; 2.5× eager fp32 a call
            # at 640×360 (benchmarks/README.md).
            ("cpu", "fp32"): Prior(build=25.0, speedup=2.5),
            # 2-core AMD EPYC (Zen 4, AVX512-BF16 and VNNI), 640×360, model alone: int8 0.22 s a frame,
            # eager bf16 0.46 s, OpenVINO bf16 0.36 s.
            ("cpu", "bf16"): Prior(build=25.0, speedup=2.1),
        },
    ),
)


def find(name: str) -> BackendSpec | None:
    """The spec of backend `name`, or None where the table has none."""
    return next((spec for spec in BACKEND_SPECS if spec.name == name), None)


def named(name: str) -> BackendSpec:
    """The spec of backend `name`; an InputError naming the choices where the table has none."""
    if (spec := find(name)) is None:
        raise InputError(f"invalid `backend` {name!r}: use {', '.join(choices())}", option="backend")
    return spec


def choices() -> tuple[str, ...]:
    """What `--backend` accepts: auto, then every backend in the table's order."""
    return ("auto", *(spec.name for spec in BACKEND_SPECS))
