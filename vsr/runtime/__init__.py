"""Runtime: running a model on frames. Device and precision (`device`), the `Engine` with its
public stages upload → infer → download, backends (eager, torch.compile, TensorRT, OpenVINO; one
`BackendSpec` each in `backend_specs`), tiling, YUV ↔ RGB on the device, alpha handling and
temporal blending.

Importing this package loads nothing heavy: the choices below are read by the CLI and by the
option types of vsr.pipeline before torch is needed.
"""

import os
import re
from pathlib import Path
from typing import Literal, get_args

# Inference precision: auto (fp16 on CUDA; on a CPU bf16 where it measures faster, else fp32).
Precision = Literal["auto", "fp32", "fp16", "bf16"]
PRECISIONS: tuple[Precision, ...] = get_args(Precision)
# How the network runs: auto (the fastest installed here whose build pays), eager PyTorch,
# torch.compile, TensorRT (CUDA), OpenVINO (CPU), OpenVINO with the network quantised to int8
# on the video's first frames (CPU). Each is described by its entry in
# vsr.runtime.backend_specs, which the runtime reads; the names are spelt here too because the
# CLI's choices and the type checker need them before anything is imported (a test keeps the
# two equal).
Backend = Literal["auto", "eager", "compile", "tensorrt", "openvino", "openvino-int8"]
BACKENDS: tuple[Backend, ...] = get_args(Backend)
# Where YUV ↔ RGB happens: auto (on the model's device when that is a GPU, else swscale on the
# CPU), always on the model's device, or always swscale.
ColourConversion = Literal["auto", "device", "swscale"]
COLOUR_CONVERSIONS: tuple[ColourConversion, ...] = get_args(ColourConversion)

_DEVICE = re.compile(r"auto|(cpu|cuda)(:\d+)?")
ALL_GPUS = "cuda:all"
DEVICE_HELP = "auto, cpu, cuda, cuda:N, a comma-separated list (one worker each) or cuda:all"


def is_device_name(name: str) -> bool:
    """Whether `name` names devices vsr accepts: auto, cpu, cuda, cuda:N, a comma-separated list
    of those (cuda:0,cuda:1: a worker on each) or cuda:all (a worker on every GPU). Whether they
    are present is checked when the engine is built."""
    return name == ALL_GPUS or all(_DEVICE.fullmatch(part) is not None for part in name.split(","))


def cache_folder(name: str) -> Path:
    """Where a backend keeps what it built or measured: $VSR_HOME/cache/<name>, else the user's
    cache folder (~/.cache/vsr/<name> on Linux). Created by whoever writes there."""
    root = os.environ.get("VSR_HOME")
    if root:
        return Path(root).expanduser() / "cache" / name
    from platformdirs import user_cache_path

    return user_cache_path("vsr") / name
