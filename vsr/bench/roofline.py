"""What the hardware can do: the machine's name, synchronised timing, a model's FLOPs and the
FLOP/s roofline measured on this device."""

from __future__ import annotations

import copy
import platform
import time
from pathlib import Path
from types import TracebackType

import torch
from torch import nn


class Timer:
    """`with Timer(device) as t:` … `t.seconds`, waiting for the GPU at both ends."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.start = self.seconds = 0.0

    def __enter__(self) -> Timer:
        self._sync()
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._sync()
        self.seconds = time.perf_counter() - self.start

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({torch.get_num_threads()} threads)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def model_flops(net: nn.Module, shape: tuple[int, ...]) -> int:
    """FLOPs of one forward pass (a multiply-add counts 2), counted on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    meta = copy.deepcopy(net).to("meta", torch.float32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty(shape, device="meta"))
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device, dtype: torch.dtype) -> dict[str, float]:
    """The roofline, measured: the best of a dense matrix multiply and of a 3×3, 64→64-channel
    convolution (these models' own layer, channels-last) in `dtype` on this device. On the CPU
    the convolution is the fairer roof: MKL's sgemm does not use AVX-512 on AMD processors."""
    cuda = device.type == "cuda"
    n = 8192 if cuda else 2048
    a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(device, dtype).to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack memory_format
    x = torch.randn(8 if cuda else 1, 64, 256 if cuda else 128, 256 if cuda else 128, device=device).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    conv_flops = 2 * 64 * 64 * 9 * x.shape[0] * x.shape[2] * x.shape[3]
    out = {}
    with torch.inference_mode():
        for name, fn, flops in (("matmul", lambda: a @ b, 2 * n**3), ("conv3x3", lambda: conv(x), conv_flops)):
            for _ in range(2):
                fn()
            best = float("inf")
            for _ in range(20 if cuda else 5):
                with Timer(device) as t:
                    fn()
                best = min(best, t.seconds)
            out[name] = flops / best / 1e12
    return out
