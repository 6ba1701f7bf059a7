"""Device and precision: what `--device` and `--precision` mean on this machine."""

from __future__ import annotations

import copy
import json
import logging
import time

import torch

from vsr.errors import BackendError, InputError
from vsr.models.descriptor import Model
from vsr.runtime import ALL_GPUS, DEVICE_HELP, PRECISIONS, ColourConversion, Precision, is_device_name

log = logging.getLogger(__name__)

DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def precision_name(dtype: torch.dtype) -> str:
    """fp32, fp16 or bf16: how summaries and checkpoints name a precision."""
    for name, known in DTYPES.items():
        if known == dtype:
            return name
    return str(dtype).removeprefix("torch.")


def colour_on_device(conversion: ColourConversion, device: torch.device) -> bool:
    """Where YUV ↔ RGB happens: on the model's device where asked, and by default on a GPU,
    where swscale on the CPU would otherwise be the slowest stage."""
    return conversion == "device" or (conversion == "auto" and device.type == "cuda")


def resolve_devices(device: str) -> list[torch.device]:
    """Every device `device` names, present here (see vsr.runtime.is_device_name)."""
    if not is_device_name(device):
        raise InputError(f"invalid `device` {device!r}: use {DEVICE_HELP}", option="device")
    if device == ALL_GPUS:
        if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
            raise BackendError(f"`device` {ALL_GPUS}: no CUDA GPU is available here; use `device` cpu", option="device")
        return [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    devices = []
    for name in device.split(","):
        if name == "auto":
            devices.append(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
            continue
        dev = torch.device(name)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BackendError(f"`device` {name}: CUDA is not available here (torch {torch.__version__}); "
                               "use `device` cpu", option="device")
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BackendError(f"`device` {name}: there are {torch.cuda.device_count()} GPU(s) here", option="device")
        devices.append(dev)
    return devices


def resolve_device(device: str) -> torch.device:
    """The device to run one stream on: the first `device` names."""
    return resolve_devices(device)[0]


def resolve_precision(precision: Precision, device: torch.device, model: Model | None = None) -> torch.dtype:
    """Inference precision. auto: fp16 on CUDA; on the CPU bf16 where it measures faster than
    fp32 (CPUs with native bf16 dot products, such as AVX512-BF16 or AMX: about 2× on the
    compact model, output within 55 dB of fp32), else fp32. A model that is not safe in half
    precision runs in fp32 whatever is asked (the engine says so)."""
    if precision == "auto":
        if model is not None and not model.half_precision:
            return torch.float32
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if model is not None and bf16_pays_on_cpu(model) else torch.float32
    if precision not in PRECISIONS:
        raise InputError(f"invalid `precision` {precision!r}: use {', '.join(PRECISIONS)}", option="precision")
    return DTYPES[precision]


_BF16_SPEEDUP = 1.3  # below this, bf16's lost precision is not worth it
_BF16_VERDICTS: dict[tuple[str, str], bool] = {}


def bf16_pays_on_cpu(model: Model) -> bool:
    """Time the model on a small input in fp32 and bf16 (CPUs without native bf16 emulate it,
    slower than fp32); the answer is kept per architecture for the life of the process."""
    key = (model.arch, json.dumps(dict(model.hyperparameters), sort_keys=True, default=str))
    if key not in _BF16_VERDICTS:
        net = copy.deepcopy(model.model).to("cpu").to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # torch's stubs lack memory_format
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
