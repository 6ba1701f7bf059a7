"""The OpenVINO backend for CPUs (the optional extra `vsr[openvino]`).

The network is converted once from PyTorch and compiled for each input shape it meets: a
video's frames share one shape, and the engine's cache-sized CPU tiles a few more (the edge
tiles are smaller). A shape-specialised compile lets OpenVINO choose its convolution kernels
and memory plan for that size; compiling the compact model takes well under a second, and
OpenVINO's model cache (under vsr's cache folder) makes it cheaper again on the next run.

Inputs and outputs are float32 NCHW; the precision OpenVINO computes in follows the engine's
(bf16 where the CPU has it natively and the engine chose it, else fp32), or int8 where the
network was quantised (vsr.runtime.int8).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import logging
import warnings
from typing import Any

import torch
from torch import nn

from vsr.errors import BackendError
from vsr.runtime import cache_folder
from vsr.runtime.offline import telemetry_off

log = logging.getLogger(__name__)

INSTALL = "pip install 'vsr[openvino]'"
EXAMPLE_SIZE = 64  # the conversion traces the network once at this size; shapes stay dynamic


def unavailable(*, load: bool = True) -> str | None:
    """Why the OpenVINO backend cannot run here, or None when it can. With `load=False` only
    whether it is installed (importing it takes half a second, which a short clip that will
    run eagerly anyway should not pay)."""
    if not load:
        return None if importlib.util.find_spec("openvino") else f"OpenVINO is not installed: {INSTALL}"
    telemetry_off()
    try:
        import openvino  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install that fails while loading
        return f"OpenVINO does not import ({type(exc).__name__}: {exc}); install it with {INSTALL}"
    return None


def precision_hint(dtype: torch.dtype, capabilities: list[str]) -> str:
    """OpenVINO's inference precision for the engine's dtype: half precision only where the CPU
    computes it natively (OpenVINO would otherwise run fp32 under another name)."""
    if dtype == torch.bfloat16 and "BF16" in capabilities:
        return "bf16"
    if dtype == torch.float16 and "FP16" in capabilities:
        return "f16"
    return "f32"


class OpenVinoRunner:
    """`net` as OpenVINO runs it on the CPU: NCHW float in, NCHW float32 out, any shape."""

    def __init__(self, net: nn.Module | None, *, dtype: torch.dtype, threads: int, converted: Any = None) -> None:
        """`net` converted here, or `converted` (an openvino.Model) as it is."""
        reason = unavailable()
        if reason:
            raise BackendError(f"`backend` openvino: {reason}", option="backend")
        import openvino

        self._core = openvino.Core()
        self.precision = precision_hint(dtype, list(self._core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")))
        self._config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "PERFORMANCE_HINT": "LATENCY",  # one request at a time, all threads on it
            "INFERENCE_NUM_THREADS": max(1, threads),
            "CACHE_DIR": str(cache_folder("openvino")),
        }
        self._compiled: dict[tuple[int, ...], Any] = {}
        if converted is not None or net is None:
            self._model = converted
            return
        fp32 = copy.deepcopy(net).to("cpu", torch.float32).eval()
        try:
            # The converter traces under no_grad (inference tensors cannot be traced) and prints
            # its own notices; neither belongs on the terminal.
            with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                self._model = openvino.convert_model(
                    fp32, example_input=torch.rand(1, 3, EXAMPLE_SIZE, EXAMPLE_SIZE),
                    input=[openvino.PartialShape([-1, 3, -1, -1])])
        except Exception as exc:  # an operation the converter does not know, among others
            raise BackendError(f"`backend` openvino: converting the network failed ({type(exc).__name__}: {exc})",
                               option="backend") from exc

    @property
    def precision_name(self) -> str:
        """The precision it computes in, as vsr names them: fp32, bf16 or fp16."""
        return {"f32": "fp32", "f16": "fp16"}.get(self.precision, self.precision)

    @property
    def converted(self) -> Any:
        """The network as OpenVINO holds it (an openvino.Model, any shape)."""
        return self._model

    @property
    def threads(self) -> int:
        return int(self._config["INFERENCE_NUM_THREADS"])

    def compiled_for(self, shape: tuple[int, ...]) -> Any:
        """The model compiled for inputs of exactly `shape` (kept for the life of the runner)."""
        if shape not in self._compiled:
            model = self._model.clone()
            model.reshape(list(shape))
            try:
                self._compiled[shape] = self._core.compile_model(model, "CPU", self._config)
            except Exception as exc:
                raise BackendError(f"`backend` openvino: compiling for {shape} failed ({type(exc).__name__}: {exc})",
                                   option="backend") from exc
            log.debug("OpenVINO compiled for %s in %s", shape, self.precision)
        return self._compiled[shape]

    def release(self) -> None:
        """Drops every compiled shape with its memory plan (hundreds of MB for a 1080p frame);
        the next call compiles again."""
        self._compiled.clear()

    @property
    def compiled_shapes(self) -> list[tuple[int, ...]]:
        return list(self._compiled)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        compiled = self.compiled_for(tuple(x.shape))
        out = compiled(x.detach().to("cpu", torch.float32).contiguous().numpy())[0]
        return torch.from_numpy(out)
