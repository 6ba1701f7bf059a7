"""Running a model on batches of frames: device and precision choice, out-of-memory recovery
(smaller batches, then overlapping tiles; never a dropped frame) and a NaN guard for fp16."""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from vsr import backends, yuv
from vsr.errors import BackendError, InputError
from vsr.model import Model
from vsr.temporal import TemporalBlend

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
TILE_OVERLAP = 16
MIN_TILE = 32
# On the CPU a frame larger than this runs as tiles whose activations stay in cache: measured on
# the compact model (2-core AVX-512), the cost per pixel rose 1.7× from 640×360 to 960×540.
CPU_TILE = 480  # 480×480 ≈ 640×360 pixels
MAX_EXACT_OVERLAP = 32  # tiles overlap by the receptive radius, so they are exact; beyond this not worth it


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise InputError(f"invalid --device {device!r}: use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"--device {device}: CUDA is not available here (torch {torch.__version__}); use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise InputError(f"invalid --device {device!r}: use auto, cpu, cuda or cuda:N")
    return dev


def resolve_precision(precision: str, device: torch.device, model: Model | None = None) -> torch.dtype:
    """fp16 on CUDA; on the CPU bf16 where it measures faster than fp32 (CPUs with native bf16
    dot products, such as AVX512-BF16 or AMX: about 2× on the compact model, output within
    55 dB of fp32), else fp32."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if model is not None and bf16_pays_on_cpu(model) else torch.float32
    if precision not in PRECISIONS:
        raise InputError(f"invalid --precision {precision!r}: use auto, fp32, fp16 or bf16")
    return PRECISIONS[precision]


_BF16_SPEEDUP = 1.3  # below this, bf16's lost precision is not worth it


def bf16_pays_on_cpu(model: Model) -> bool:
    """Time the model on a small input in fp32 and bf16 (CPUs without native bf16 emulate it,
    slower than fp32); the answer is kept per architecture."""
    key = (model.arch, json.dumps(model.hyperparameters, sort_keys=True, default=str))
    if key not in _BF16_VERDICTS:
        net = copy.deepcopy(model.model).to("cpu").to(memory_format=torch.channels_last)
        x = torch.rand(1, 3, *model.padded_size(48, 48)).contiguous(memory_format=torch.channels_last)
        times = {}
        with torch.inference_mode():
            for dtype in (torch.float32, torch.bfloat16):
                net.to(dtype)
                net(x.to(dtype))  # warm-up: oneDNN picks and caches its kernels
                start = time.perf_counter()
                for _ in range(3):
                    net(x.to(dtype))
                times[dtype] = time.perf_counter() - start
        _BF16_VERDICTS[key] = times[torch.float32] >= _BF16_SPEEDUP * times[torch.bfloat16]
        log.debug("CPU fp32 %.1f ms, bf16 %.1f ms", times[torch.float32] * 333, times[torch.bfloat16] * 333)
    return _BF16_VERDICTS[key]


_BF16_VERDICTS: dict[tuple, bool] = {}


@dataclass
class Engine:
    """Upscales uint8/uint16 NHWC batches to `out_size` with `model`, on `device` in `dtype`.

    With a shape-specialised backend (compile, tensorrt) every call is padded to `batch` frames
    of `in_size`, so the engine is built once; a short last batch repeats its last frame.
    """

    model: Model
    device: torch.device
    dtype: torch.dtype
    out_size: tuple[int, int]  # (height, width)
    tile: int = 0
    backend: str = "eager"
    in_size: tuple[int, int] | None = None  # (height, width); needed by compile and tensorrt
    batch: int = 1
    warnings: list[str] = field(default_factory=list)
    backend_used: str = "eager"
    temporal: TemporalBlend | None = None  # blends each output with the previous one (stateful)

    def __post_init__(self) -> None:
        self.model.to(self.device, self.dtype)
        # channels_last is the faster layout for these convolution stacks on both CPU and GPU.
        self.model.model.to(memory_format=torch.channels_last)
        self.model.runner = None
        if backends.candidates(self.backend, self.device) != ["eager"]:
            if self.in_size is None:
                raise ValueError("compile and tensorrt backends need in_size")
            shape = (self.batch, 3, *self.model.padded_size(*self.in_size))
            self.model.runner, self.backend_used = backends.prepare(
                self.model.model, backend=self.backend, shape=shape, dtype=self.dtype, device=self.device,
                warnings=self.warnings)

    @torch.inference_mode()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        """NHWC frames, uint8 (8-bit) or int32 (16-bit values), → the same at `out_size`."""
        peak = 65535.0 if frames.dtype == torch.int32 else 255.0
        x = self._upload(frames).permute(0, 3, 1, 2).float().div_(peak)
        y = self._upscale(x).mul_(peak).round_().permute(0, 2, 3, 1)
        return y.to("cpu", dtype=torch.int32 if peak > 255 else torch.uint8)

    @torch.inference_mode()
    def upscale_planes(self, planes: list[torch.Tensor], src: yuv.YuvFormat,
                       dst: yuv.YuvFormat | None) -> tuple[torch.Tensor, ...] | torch.Tensor:
        """N×H×W Y, U, V code values (uint8, or int32 for 10-bit) → upscaled planes in `dst` on
        the CPU, converted on this engine's device both ways; with `dst` None, NHWC uint8 RGB."""
        x = yuv.to_rgb(*(self._upload(p) for p in planes), src)
        y = self._upscale(x)
        if dst is None:
            return y.mul_(255).round_().permute(0, 2, 3, 1).to("cpu", dtype=torch.uint8)
        return tuple(p.to("cpu") for p in yuv.from_rgb(y, dst))

    def _upload(self, t: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":  # from pinned memory the copy is asynchronous
            return t.pin_memory().to(self.device, non_blocking=True)
        return t

    def _upscale(self, x: torch.Tensor) -> torch.Tensor:
        """NCHW float in [0, 1] → at `out_size`, clamped; short batches padded for fixed-shape backends."""
        n = x.shape[0]
        if self.backend_used != "eager" and n < self.batch:
            x = torch.cat([x, x[-1:].expand(self.batch - n, *x.shape[1:])])
        y = self._run(x)[:n]
        if y.shape[-2:] != self.out_size:
            y = F.interpolate(y.float(), size=self.out_size, mode="bicubic", antialias=True, align_corners=False)
        y = y.float().clamp_(0, 1)
        return self.temporal(x[:n], y) if self.temporal is not None else y

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        try:
            y = self._forward(x)
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if x.shape[0] > 1:
                half = x.shape[0] // 2
                self._warn("out of GPU memory: splitting the batch")
                return torch.cat([self._run(x[:half]), self._run(x[half:])])
            if self.tile == 0 or self.tile > MIN_TILE:
                self.tile = max(MIN_TILE, (max(x.shape[-2:]) // 2) if self.tile == 0 else self.tile // 2)
                self._warn("out of GPU memory: tiling frames")
                return self._run(x)
            raise BackendError(f"out of GPU memory even with {MIN_TILE}-pixel tiles; try --device cpu") from None
        if self.dtype != torch.float32 and not torch.isfinite(y).all():
            self._warn("non-finite output in half precision: that batch was redone in fp32")
            self.model.to(dtype=torch.float32)
            runner, self.model.runner = self.model.runner, None
            try:
                y = self._forward(x)
            finally:
                self.model.to(dtype=self.dtype)
                self.model.runner = runner
        return y

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tile and max(x.shape[-2:]) > self.tile:
            return tiled(self.model, x, self.tile)
        if self.device.type == "cpu" and x.shape[-1] * x.shape[-2] > CPU_TILE * CPU_TILE:
            radius = receptive_radius(self.model.model)
            if radius <= MAX_EXACT_OVERLAP:
                return tiled(self.model, x, CPU_TILE, overlap=radius)
        return self.model(x.contiguous(memory_format=torch.channels_last))

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)
            log.warning(message)


def receptive_radius(net: torch.nn.Module) -> int:
    """How far, in input pixels, an output pixel can see: at most the sum of every convolution's
    half-width (convolutions after upsampling see less). Tiles overlapping by this are exact."""
    return sum((max(m.kernel_size) // 2) * max(m.dilation) for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def tiled(model: Model, x: torch.Tensor, tile: int, overlap: int = TILE_OVERLAP) -> torch.Tensor:
    """Run the model over overlapping tiles and keep each tile's centre, so seams never show."""
    n, c, h, w = x.shape
    s = model.scale
    out = x.new_empty(n, c, h * s, w * s)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(0, top - overlap), max(0, left - overlap)
            t1, l1 = min(h, top + tile + overlap), min(w, left + tile + overlap)
            piece = model(x[:, :, t0:t1, l0:l1].contiguous(memory_format=torch.channels_last))
            bottom, right = min(h, top + tile), min(w, left + tile)
            out[:, :, top * s : bottom * s, left * s : right * s] = piece[
                :, :, (top - t0) * s : (bottom - t0) * s, (left - l0) * s : (right - l0) * s]
    return out
