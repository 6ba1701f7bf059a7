"""Running a model on batches of frames, in three public stages:

    upload   host frames (RGB, or YUV planes converted on the device) → NCHW float in [0, 1]
    infer    the network at the output size: fixed-shape batches for compiled backends,
             out-of-memory recovery (smaller batches, then overlapping tiles; never a dropped
             frame), a NaN guard for half precision, temporal blending
    download NCHW float → host frames (RGB, or the output's YUV planes converted on the device)

The pipeline runs them in sequence; `vsr bench` times each on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from vsr.errors import BackendError
from vsr.models.descriptor import Model, Runner
from vsr.runtime import Backend, backend_specs, backends, int8, tiling, yuv
from vsr.runtime.device import precision_name
from vsr.runtime.temporal import TemporalBlend

Planes = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Engine:
    """Upscales batches to `out_size` (height, width) with `model`, on `device` in `dtype`.

    With a backend built for one shape (compile, tensorrt: `fixed_shape` in its spec) every batch
    is padded to `batch` frames of `in_size`, so it is built once; a short last batch repeats its
    last frame.
    Integer frames are uint8 (8-bit) or int32 holding 16-bit values.
    """

    model: Model
    device: torch.device
    dtype: torch.dtype
    out_size: tuple[int, int]
    tile: int = 0  # 0: whole frames (tiles engage by themselves on out-of-memory)
    backend: Backend = "eager"
    in_size: tuple[int, int] | None = None  # (height, width); needed by every backend that builds
    batch: int = 1
    temporal: TemporalBlend | None = None  # blends each output with the previous one (stateful)
    frames: int | None = None  # how many frames the engine is expected to see: whether a build pays (None: many)
    # Whether --backend auto may run the network in int8 on a CPU: the precision was left to vsr
    # (`--precision auto`), not asked for.
    quantise: bool = False
    warnings: list[str] = field(default_factory=list)
    _backend_built: Backend = field(default="eager", init=False, repr=False)
    _runner: Runner | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.dtype != torch.float32 and not self.model.half_precision:
            self._warn(f"{self.model.name} is not safe in half precision: running it in fp32")
            self.dtype = torch.float32
        self.model.to(self.device, self.dtype)
        # channels_last is the faster layout for these convolution stacks on both CPU and GPU.
        self.model.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack memory_format
        candidates = backends.candidates(self.backend, self.device, quantise=self.quantise)
        if any(backend_specs.named(name).build is not None for name in candidates):
            if self.in_size is None:
                raise ValueError(f"backend {self.backend!r} may build the network for one input shape: it needs in_size")
            shape, per_batch = self.call_shape()
            calls = None if self.frames is None else per_batch * -(-self.frames // self.batch)
            self._runner, self._backend_built, built = backends.prepare(
                self.model.model, backend=self.backend, shape=shape, dtype=self.dtype, device=self.device, calls=calls,
                quantise=self.quantise)
            for message in built:
                self._warn(message)
            if (computed := self._computed_precision()) not in (None, precision_name(self.dtype)):
                self._warn(f"this CPU does not compute {precision_name(self.dtype)} natively: "
                           f"{self._built.runtime} runs in {computed}")
            if isinstance(self._runner, int8.Int8Runner):  # it decides as it goes and tells the user here
                self._runner.warn = self._warn

    @property
    def runner(self) -> Runner | None:
        """The built backend's callable for the network: None, or the network itself, where
        eager PyTorch runs it."""
        return self._runner

    @property
    def backend_used(self) -> Backend:
        """The backend running the network (int8 runs OpenVINO unquantised until it has calibrated,
        and stays there where it fell short)."""
        return self._runner.backend_name if isinstance(self._runner, int8.Int8Runner) else self._backend_built

    @property
    def calibrating(self) -> bool:
        """Whether the network still runs unquantised while int8 calibrates on the first inputs."""
        return isinstance(self._runner, int8.Int8Runner) and self._runner.calibrating

    @property
    def precision_used(self) -> str:
        """fp32, fp16, bf16, or int8 where the network runs quantised: what it computes in, which
        for OpenVINO is fp32 where the CPU lacks the half precision asked for."""
        return self._computed_precision() or precision_name(self.dtype)

    @property
    def _built(self) -> backend_specs.BackendSpec:
        """The spec of the backend that was built (int8's while it still runs OpenVINO)."""
        return backend_specs.named(self._backend_built)

    def _computed_precision(self) -> str | None:
        """The precision the built backend computes in where it chooses its own, else None."""
        computes_in = self._built.computes_in
        return computes_in(self._runner) if computes_in is not None and self._runner is not None else None

    def finish(self) -> None:
        """Says, once a whole input has run, what it did not get to: int8 that was still
        calibrating ran all of it in OpenVINO (fp32 or bf16). Not per segment: a worker's
        engine goes on calibrating in the next one."""
        if isinstance(self._runner, int8.Int8Runner) and self._runner.calibrating:
            self._warn(f"the input ended after {self._runner.calls} of the {int8.CALIBRATION_CALLS} model calls "
                       f"int8 calibrates on: it all ran in OpenVINO {self._runner.precision}")

    def call_shape(self) -> tuple[tuple[int, ...], int]:
        """The input shape of most model calls, and how many calls a batch takes: one, or on
        the CPU one per cache-sized tile (an inner tile's shape, overlap included)."""
        assert self.in_size is not None
        h, w = self.in_size
        # Tiles as the backend most likely to run would cut them (a fallback cuts its own at run time).
        candidates = backends.candidates(self.backend, self.device)
        likely = next((name for name in candidates if backend_specs.named(name).build is not None), candidates[-1])
        if self.device.type == "cpu" and (tile := tiling.cpu_tile(self.model, h, w, likely)) is not None:
            reach = tile + 2 * self.model.receptive_radius
            inner = self.model.padded_size(min(h, reach), min(w, reach))
            return (self.batch, 3, *inner), -(-h // tile) * -(-w // tile)
        return (self.batch, 3, *self.model.padded_size(h, w)), 1

    # -- the stages --------------------------------------------------------------------------

    def upload(self, frames: torch.Tensor) -> torch.Tensor:
        """NHWC integer RGB on the host → NCHW float in [0, 1] on the device."""
        peak = 65535.0 if frames.dtype == torch.int32 else 255.0
        return self._to_device(frames).permute(0, 3, 1, 2).float().div_(peak)

    def upload_planes(self, planes: list[torch.Tensor], src: yuv.YuvFormat) -> torch.Tensor:
        """N×H×W Y, U, V code values on the host → NCHW float RGB in [0, 1], converted on the device."""
        y, u, v = (self._to_device(p) for p in planes)
        return yuv.to_rgb(y, u, v, src)

    @torch.inference_mode()
    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] on the device → at `out_size`, clamped to [0, 1]."""
        n = x.shape[0]
        if self._built.fixed_shape and n < self.batch:
            x = torch.cat([x, x[-1:].expand(self.batch - n, *x.shape[1:])])
        y = self._run(x)[:n]
        if y.shape[-2:] != self.out_size:  # bicubic overshoots: clamp again
            y = F.interpolate(y.float(), size=self.out_size, mode="bicubic", antialias=True, align_corners=False)
            y.clamp_(0, 1)
        y = y.float()  # the model clamped it
        return self.temporal(x[:n], y) if self.temporal is not None else y

    def download(self, y: torch.Tensor, *, high_depth: bool = False) -> torch.Tensor:
        """NCHW float in [0, 1] → NHWC RGB on the host: uint8, or int32 holding 16-bit values."""
        peak = 65535.0 if high_depth else 255.0
        out = y.mul(peak).round_().permute(0, 2, 3, 1)
        return out.to("cpu", dtype=torch.int32 if high_depth else torch.uint8)

    def download_planes(self, y: torch.Tensor, dst: yuv.YuvFormat) -> Planes:
        """NCHW float RGB → the output's Y, U, V planes on the host, converted on the device."""
        yy, u, v = yuv.from_rgb(y, dst)
        return yy.to("cpu"), u.to("cpu"), v.to("cpu")

    # -- the stages in sequence ----------------------------------------------------------------

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """NHWC integer RGB → the same at `out_size`."""
        return self.download(self.infer(self.upload(frames)), high_depth=frames.dtype == torch.int32)

    @torch.inference_mode()
    def upscale_planes(self, planes: list[torch.Tensor], src: yuv.YuvFormat, dst: yuv.YuvFormat | None
                       ) -> Planes | torch.Tensor:
        """YUV planes → upscaled planes in `dst`; with `dst` None, NHWC uint8 RGB."""
        y = self.infer(self.upload_planes(planes, src))
        return self.download(y) if dst is None else self.download_planes(y, dst)

    # -- inside infer --------------------------------------------------------------------------

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":  # from pinned memory the copy is asynchronous
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        try:
            y = self._forward(x)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if x.shape[0] > 1:
                half = x.shape[0] // 2
                self._warn("out of GPU memory: splitting the batch")
                return torch.cat([self._run(x[:half]), self._run(x[half:])])
            if self.tile == 0 or self.tile > tiling.MIN_TILE:
                self.tile = max(tiling.MIN_TILE, (max(x.shape[-2:]) // 2) if self.tile == 0 else self.tile // 2)
                self._warn("out of GPU memory: tiling frames")
                return self._run(x)
            raise BackendError(f"out of GPU memory even with {tiling.MIN_TILE}-pixel tiles; try `device` cpu",
                               option="device") from None
        # int8 computes in OpenVINO's int8 and fp32, not in half precision: nothing to redo (and
        # the check is a pass over the whole output, 400 MB at 4K).
        if self.dtype != torch.float32 and self.precision_used != "int8" and not torch.isfinite(y).all():
            self._warn("non-finite output in half precision: that batch was redone in fp32")
            self.model.to(dtype=torch.float32)
            try:
                y = self._forward(x, runner_allowed=False)
            finally:
                self.model.to(dtype=self.dtype)
        return y

    def _forward(self, x: torch.Tensor, *, runner_allowed: bool = True) -> torch.Tensor:
        runner = self._runner if runner_allowed else None
        h, w = x.shape[-2:]
        if self.tile and max(h, w) > self.tile:
            return tiling.tiled(self.model, x, self.tile, runner=runner)
        backend = self.backend_used if runner is not None else "eager"
        if self.device.type == "cpu" and (tile := tiling.cpu_tile(self.model, h, w, backend)) is not None:
            return tiling.tiled(self.model, x, tile, overlap=self.model.receptive_radius, runner=runner)
        return self.model.run(x.contiguous(memory_format=torch.channels_last), runner)

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
