"""ONNX export: any model vsr runs, as the .onnx file vs-mlrt, chaiNNer, onnxruntime, OpenVINO and
TensorRT's own tools take.

The graph has one input, `input`: NCHW float in [0, 1] (float16 with `fp16`), and one output,
`output`: the input ×scale, not clamped (as the network computes it). Batch, height and width
are dynamic unless a static size is asked for; height and width must be multiples of the model's
`pad_multiple` (RRDB ×2: 2, ×1: 4; others 1), which the metadata states, as vsr pads its own
inputs. The metadata also holds the name, architecture, scale, hyperparameters, licence and
source of the weights.

torch.export's exporter (the default since PyTorch 2.9) is used: it exports every architecture
here with dynamic axes (PixelShuffle, PReLU, pixel-unshuffle and nearest interpolation included),
which `verify` checks on two sizes and two batch sizes with onnxruntime against PyTorch in fp32.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vsr.atomic import atomic_write
from vsr.errors import BackendError, ModelError
from vsr.models.descriptor import Model
from vsr.version import __version__

DEFAULT_OPSET = 18  # the oldest the torch.export exporter writes; onnxruntime ≥ 1.14 and TensorRT ≥ 8.6 read it
MIN_OPSET = 18
INSTALL = "pip install 'vsr[onnx]'"


@dataclass(frozen=True)
class OnnxExport:
    """What `vsr models export` reports."""

    path: str
    name: str
    arch: str
    scale: int
    opset: int
    fp16: bool
    dynamic: bool
    pad_multiple: int
    input_shapes: tuple[tuple[int, ...], ...]  # the inputs the check ran
    psnr_db: float | None  # the worst of the check's outputs against PyTorch fp32; None: not checked
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def export_onnx(model: Model, path: Path, *, fp16: bool = False, opset: int = DEFAULT_OPSET,
                static: tuple[int, int] | None = None, replace: bool = False, verify: bool = True) -> OnnxExport:
    """Write `model` to `path` as ONNX and, with `verify`, check it with onnxruntime against
    PyTorch in fp32 (BackendError if onnxruntime is missing)."""
    start = time.perf_counter()
    if opset < MIN_OPSET:
        raise ModelError(f"`opset` {opset}: the exporter writes opset {MIN_OPSET} or later", option="opset")
    m = model.pad_multiple
    if static is not None and (static[0] % m or static[1] % m or min(static) < 1):
        raise ModelError(f"`static` {static[0]}x{static[1]}: {model.name} needs height and width in multiples of {m}",
                         option="static")
    if verify:
        _onnxruntime()  # before the minutes an export of a large network can take
    proto = _export(model, fp16=fp16, opset=opset, static=static)
    _describe(proto, model, fp16=fp16, static=static)
    _name_axes(proto)
    import onnx

    with atomic_write(path, replace=replace) as tmp:
        onnx.save(proto, str(tmp))
    shapes = _check_shapes(model, static)
    worst = verify_onnx(path, model, shapes) if verify else None
    return OnnxExport(path=str(path), name=model.name, arch=model.arch, scale=model.scale, opset=opset, fp16=fp16,
                      dynamic=static is None, pad_multiple=m, input_shapes=tuple(shapes),
                      psnr_db=None if worst is None else round(worst, 2), seconds=round(time.perf_counter() - start, 1))


def _export(model: Model, *, fp16: bool, opset: int, static: tuple[int, int] | None) -> Any:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (the exporter's own dependency)
    except ImportError as exc:
        raise BackendError(f"ONNX export needs the onnx packages: {INSTALL}") from exc
    import copy

    net = copy.deepcopy(model.model).cpu().eval()
    dtype = torch.float16 if fp16 else torch.float32
    net = net.to(dtype)
    channels = int(model.hyperparameters.get("num_in_ch", 3))
    m = model.pad_multiple
    height, width = static or (16 * m, 12 * m)
    example = torch.rand(1, channels, height, width, dtype=dtype)
    dims = None if static else ({0: torch.export.Dim.AUTO, 2: torch.export.Dim.AUTO, 3: torch.export.Dim.AUTO},)
    with _quiet():
        try:
            program = torch.onnx.export(net, (example,), input_names=["input"], output_names=["output"],
                                        dynamic_shapes=dims, opset_version=opset, dynamo=True, verbose=False)
        except Exception as exc:  # the exporter's failures are many and all say the same to a user
            raise BackendError(f"{model.name}: the ONNX exporter failed ({type(exc).__name__}: {exc})") from exc
    if program is None:
        raise BackendError(f"{model.name}: the ONNX exporter returned nothing")
    return program.model_proto


def _describe(proto: Any, model: Model, *, fp16: bool, static: tuple[int, int] | None) -> None:
    meta = {
        "name": model.name, "arch": model.arch, "scale": str(model.scale),
        "hyperparameters": json.dumps(dict(model.hyperparameters), sort_keys=True),
        "licence": model.metadata.get("licence", "unknown"), "source": model.metadata.get("source", "unknown"),
        "pad_multiple": str(model.pad_multiple), "input_range": "0..1", "layout": "NCHW RGB",
        "dtype": "float16" if fp16 else "float32", "shape": "static" if static else "dynamic batch, height, width",
        "exported_by": f"vsr {__version__}",
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name, proto.producer_version = "vsr", __version__
    proto.doc_string = f"{model.name}: {model.arch} x{model.scale} super-resolution, NCHW [0, 1] in, x{model.scale} out"


def _name_axes(proto: Any) -> None:
    """The exporter names the dynamic axes after its symbols (s77, s53, 4*s53): call them batch,
    height and width wherever they appear, as the tools that read the file show them."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    names = {d.dim_param: n for d, n in zip(dims, ("batch", "channels", "height", "width"), strict=True) if d.dim_param}
    if not names:
        return
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    for info in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        for d in info.type.tensor_type.shape.dim:
            if d.dim_param:
                d.dim_param = pattern.sub(lambda found: names[found[1]], d.dim_param)


def _check_shapes(model: Model, static: tuple[int, int] | None) -> list[tuple[int, ...]]:
    """Two sizes and two batch sizes for a dynamic file (neither the size it was traced at), the
    one size for a static one."""
    channels = int(model.hyperparameters.get("num_in_ch", 3))
    if static is not None:
        return [(1, channels, *static)]
    m = model.pad_multiple
    return [(1, channels, 24 * m, 40 * m), (2, channels, 18 * m, 10 * m)]


def verify_onnx(path: Path, model: Model, shapes: list[tuple[int, ...]], *, seed: int = 0) -> float:
    """The lowest PSNR (dB, peak 1) between onnxruntime's outputs for `path` and PyTorch's fp32
    outputs of `model`, both clamped to [0, 1], over random inputs of `shapes`."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # its warnings are not the user's business
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise BackendError(f"{path}: onnxruntime cannot load the export ({exc})") from exc
    feed_type = np.float16 if session.get_inputs()[0].type == "tensor(float16)" else np.float32
    net = model.model
    reference_dtype, device = model.dtype, model.device
    generator = torch.Generator().manual_seed(seed)
    worst = math.inf
    try:
        net.float().cpu()
        for shape in shapes:
            x = torch.rand(*shape, generator=generator)
            (got,) = session.run(["output"], {"input": x.numpy().astype(feed_type)})
            with torch.no_grad():
                want = net(x).clamp(0, 1).numpy()
            if got.shape != want.shape:
                raise BackendError(f"{path}: output {got.shape} for input {shape}, PyTorch gives {want.shape}")
            mse = float(np.mean((np.clip(got.astype(np.float32), 0, 1) - want) ** 2))
            worst = min(worst, 10 * math.log10(1 / mse) if mse > 0 else math.inf)
    finally:
        net.to(device=device, dtype=reference_dtype)
    return worst if math.isfinite(worst) else 200.0  # identical: report a finite figure


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(f"checking the export needs onnxruntime: {INSTALL} (or `no_verify`)", option="no_verify") from exc
    return onnxruntime


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints progress lines, warnings and its logging; none of it is vsr's to show."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
