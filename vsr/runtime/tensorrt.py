"""The TensorRT backend, through torch-tensorrt (the optional extra `vsr[tensorrt]`).

Engines are built for one input shape and precision, then cached on disk, keyed by a hash of
the model's weights, the shape, the precision, the GPU and the TensorRT / torch-tensorrt
versions: building takes minutes, loading seconds, and a stale engine is never reused.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from vsr.atomic import atomic_write
from vsr.errors import BackendError
from vsr.runtime import cache_folder

log = logging.getLogger(__name__)


def unavailable() -> str | None:
    """Why the TensorRT backend cannot run here, or None when it can."""
    if not torch.cuda.is_available():
        return "TensorRT needs a CUDA GPU, and none is available"
    try:
        import torch_tensorrt  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install that fails while loading
        return (f"torch-tensorrt does not import ({type(exc).__name__}: {exc}); "
                "install it with pip install 'vsr[tensorrt]'")
    return None


def cache_dir() -> Path:
    return cache_folder("tensorrt")


def weights_hash(net: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(net.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def engine_key(net: nn.Module, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> str:
    import tensorrt
    import torch_tensorrt

    parts = [weights_hash(net), "x".join(map(str, shape)), str(dtype).removeprefix("torch."),
             torch.cuda.get_device_name(device).replace(" ", "_"), f"trt{tensorrt.__version__}",
             f"torch_tensorrt{torch_tensorrt.__version__}"]
    return "-".join(parts)


def build(net: nn.Module, *, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Callable:
    """A callable running `net` as a TensorRT engine for inputs of exactly `shape`."""
    reason = unavailable()
    if reason:
        raise BackendError(f"`backend` tensorrt: {reason}", option="backend")
    import torch_tensorrt

    example = torch.rand(shape, device=device, dtype=dtype)
    path = cache_dir() / f"{engine_key(net, shape, dtype, device)}.ep"
    if path.exists():
        try:
            return torch.export.load(str(path)).module()
        except Exception as exc:  # a cache from another build: rebuild it
            log.warning("TensorRT engine cache %s unreadable (%s); rebuilding", path, exc)
    net = net.to(device=device, dtype=dtype).eval()
    try:
        try:
            engine = torch_tensorrt.compile(net, ir="dynamo", arg_inputs=[example], enabled_precisions={dtype})
        except TypeError:  # torch-tensorrt before 2.5 names the argument `inputs`
            engine = torch_tensorrt.compile(net, ir="dynamo", inputs=[example], enabled_precisions={dtype})
    except Exception as exc:
        raise BackendError(f"`backend` tensorrt: building the engine failed ({type(exc).__name__}: {exc})",
                           option="backend") from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Two runs building the same engine at once each write their own temporary file.
        with atomic_write(path) as tmp:
            try:
                torch_tensorrt.save(engine, str(tmp), arg_inputs=[example])
            except TypeError:
                torch_tensorrt.save(engine, str(tmp), inputs=[example])
    except Exception as exc:  # the engine still runs; only the cache is lost
        log.warning("could not cache the TensorRT engine at %s (%s)", path, exc)
    return engine
