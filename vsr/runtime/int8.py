"""int8 on the CPU: OpenVINO with the network quantised by NNCF (the optional extra `vsr[int8]`).

The fastest CPU path measured: on a 2-core AMD EPYC without bf16 (Zen 3, AVX2, no VNNI) the
int8 model ran 1.9-2.0× faster than OpenVINO's fp32, and on one with AVX512-BF16 and VNNI (Zen 4)
1.7× faster than OpenVINO's bf16 (benchmarks/README.md). Post-training
quantisation needs real inputs to measure each layer's range, and an SR network's output is
only as good as those ranges, so the runner calibrates on the video it is upscaling:

1. The first `CALIBRATION_CALLS` model calls run in OpenVINO in the engine's precision (fp32,
   exact; or bf16 where the CPU has it, within 54 dB), and crops of their inputs are kept.
2. NNCF quantises the network (int8 weights per channel, int8 activations) from those crops,
   with bias correction.
3. The quantised network runs on the last calibration input; where its output is within
   `MIN_PSNR` dB of the output it already has, int8 takes over, else the run stays in OpenVINO
   and says why. On real footage (bigbuckbunny, bikes; 640×360 and 960×540), on frames spread over
   the whole clip after the calibration, it measured 41.4-45 dB against fp32 (Zen 3, fp32).

Calibrating takes seconds to tens of seconds (`--backend auto` counts it as the build), during
which Ctrl-C is held, and prints nothing.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vsr.errors import BackendError
from vsr.runtime import Backend, silence
from vsr.runtime.offline import telemetry_off
from vsr.runtime.openvino import OpenVinoRunner
from vsr.runtime.stops import stops_deferred

log = logging.getLogger(__name__)

INSTALL = "pip install 'vsr[int8]'"
CALIBRATION_CALLS = 8
CROPS_PER_CALL = 6
# 48 crops of 128 pixels a side. With ranges from the extremes, 16 or 96 crops measured the same
# within 0.4 dB (bikes, bigbuckbunny at 960×540); more crops see more of a video's extremes, and
# NNCF's statistics cost 0.4-0.6 s a crop on 2 cores (Zen 3).
CROP = 128
MIN_PSNR = 40.0  # dB against OpenVINO fp32 or bf16, on the video's own frames


def unavailable() -> str | None:
    """Why int8 cannot run here, or None (OpenVINO and NNCF installed; not imported, which is slow)."""
    missing = [name for name in ("openvino", "nncf") if importlib.util.find_spec(name) is None]
    return f"{' and '.join(missing)} not installed: {INSTALL}" if missing else None


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two outputs in [0, 1] (clipped as the engine clips them)."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(1 / mse))


def crops(x: np.ndarray, count: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`count` crops of `size` (or the whole input where it is smaller), one frame each, NCHW."""
    n, _, h, w = x.shape
    ch, cw = min(size, h), min(size, w)
    out = []
    for _ in range(count):
        i, top, left = rng.integers(n), rng.integers(h - ch + 1), rng.integers(w - cw + 1)
        out.append(np.ascontiguousarray(x[i:i + 1, :, top:top + ch, left:left + cw]))
    return out


class Int8Runner:
    """Runs `openvino` (an OpenVINO runner in fp32 or bf16) while it calibrates, then its int8
    quantisation.

    `backend_name` and `precision` say what has run: openvino-int8 in int8 once quantised, else
    `openvino` in its precision (while it calibrates: a clip that ends then never ran int8; or
    where the quantised network fell short of `MIN_PSNR`).
    `on_ready(seconds, call_seconds)` reports the calibration's cost and an int8 call's time
    (for --backend auto's measurements), `on_declined(seconds)` the cost of a calibration whose
    result was not used; `warn` receives what the user should hear."""

    def __init__(self, openvino: OpenVinoRunner, *, on_ready: Callable[[float, float], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> None:
        self._openvino = openvino
        self._int8: OpenVinoRunner | None = None
        self._crops: list[np.ndarray] = []
        self._calls = 0
        self._rng = np.random.default_rng(0)  # the same crops on every run: resumed segments match
        self._seconds = 0.0
        self.on_ready = on_ready
        self.on_declined: Callable[[float], None] | None = None
        self.warn = warn
        self.backend_name: Backend = "openvino"
        self._gave_up = False
        self.quality: float | None = None  # dB against OpenVINO's output on the last calibration input

    @property
    def precision(self) -> str:
        """int8 once quantised, else the precision OpenVINO runs in (fp32 or bf16)."""
        if self._int8 is not None:
            return "int8"
        return self._openvino.precision_name

    @property
    def unquantised(self) -> OpenVinoRunner:
        """The OpenVINO runner it calibrates on (and falls back to)."""
        return self._openvino

    @property
    def calls(self) -> int:
        """Model calls seen so far while calibrating."""
        return self._calls

    @property
    def calibrating(self) -> bool:
        return self._int8 is None and not self._gave_up

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._int8 is not None:
            return self._int8(x)
        y = self._openvino(x)
        if not self.calibrating:
            return y
        start = time.perf_counter()
        inputs = x.detach().to("cpu", torch.float32).numpy()
        self._crops += crops(inputs, CROPS_PER_CALL, CROP, self._rng)
        self._calls += 1
        self._seconds += time.perf_counter() - start  # the calls are the video's own work, not the build's
        if self._calls >= CALIBRATION_CALLS:
            self._quantise(x, y)
        return y

    def _quantise(self, x: torch.Tensor, reference: torch.Tensor) -> None:
        start = time.perf_counter()
        try:
            int8 = OpenVinoRunner(None, dtype=torch.float32, threads=self._openvino.threads,
                                  converted=quantise(self._openvino.converted, self._crops))
            int8.compiled_for(tuple(x.shape))  # part of the build, not of the call timed next
            call_start = time.perf_counter()
            out = int8(x)
            call = time.perf_counter() - call_start
        except BackendError as exc:
            self._give_up(f"{exc}: running in OpenVINO {self.precision}", self._seconds + time.perf_counter() - start)
            return
        finally:
            self._crops = []
        self.quality = psnr(out.numpy(), reference.numpy())
        if self.quality < MIN_PSNR:
            self._give_up(f"int8 output was {self.quality:.1f} dB from {self.precision} on this video's first "
                          f"frames (below {MIN_PSNR:.0f} dB): running in OpenVINO {self.precision}",
                          self._seconds + time.perf_counter() - start)
            return
        self._int8 = int8
        self.backend_name = "openvino-int8"
        self._openvino.release()  # never called again: its memory goes back
        log.debug("int8 at %.1f dB from %s, %.2f s a call", self.quality, self._openvino.precision, call)
        if self.on_ready:
            self.on_ready(self._seconds + time.perf_counter() - start, call)

    def _give_up(self, message: str, seconds: float) -> None:
        self._gave_up = True
        if self.warn:
            self.warn(message)
        if self.on_declined:
            self.on_declined(seconds)


def quantise(model: Any, samples: list[np.ndarray]) -> Any:
    """`model` (an openvino.Model) quantised by NNCF from `samples` (NCHW float inputs): int8
    weights per output channel and activations, bias-corrected. Silent; stops held meanwhile."""
    if reason := unavailable():
        raise BackendError(f"`backend` openvino-int8: {reason}", option="backend")
    try:
        with stops_deferred(), silence.stderr_captured() as said, warnings.catch_warnings(), \
                contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            telemetry_off()
            import nncf

            logging.getLogger("nncf").setLevel(logging.ERROR)
            from nncf.quantization.range_estimator import RangeEstimatorParametersSet

            # Each activation's range is the extreme over every sample, not NNCF's default for
            # activations (the mean over the samples of each one's extremes, which lies inside
            # them): an SR network's highlights and edges then clip, which cost up to 22 dB on
            # real footage (benchmarks/int8_quality.py).
            extremes = nncf.AdvancedQuantizationParameters(
                activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
            return nncf.quantize(model, nncf.Dataset(samples), subset_size=len(samples),
                                 preset=nncf.QuantizationPreset.MIXED, advanced_parameters=extremes)
    except Exception as exc:  # an operation NNCF cannot quantise, among others
        raise BackendError(f"`backend` openvino-int8: quantising failed ({type(exc).__name__}: {exc}"
                           f"{f'; it said: {said.tail()}' if said.tail() else ''})", option="backend") from exc
