"""Running a model over overlapping tiles: how the engine fits large frames in a GPU's memory
after an out-of-memory error, and in a CPU's cache."""

from __future__ import annotations

import torch

from vsr.models.descriptor import Model, Runner
from vsr.runtime import backend_specs

TILE_OVERLAP = 16  # for tiles forced by memory: enough for these networks' seams not to show
MIN_TILE = 32
# On the CPU a frame larger than this runs as tiles whose activations stay in cache: measured on
# the compact model (2-core AVX-512), the cost per pixel rose 1.7× from 640×360 to 960×540.
CPU_TILE = 480  # 480×480 ≈ 640×360 pixels
MAX_EXACT_OVERLAP = 32  # tiles overlap by the receptive radius, so they are exact; beyond this not worth it
# OpenVINO (whose spec's `cpu_tiles` is "whole-frames") plans its own cache blocking: whole frames
# ran faster per pixel than tiles (int8 on a 2-core Zen 3: 3.7 µs a pixel at 1920×1080 whole,
# 12.2 s a frame as 480-pixel tiles against 7.7 s whole). Above 1080p, tiles only bound memory
# (64 channels × 4 bytes a pixel per activation).
OPENVINO_WHOLE = 1920 * 1088
OPENVINO_TILE = 1024


def cpu_tile(model: Model, height: int, width: int, backend: str = "eager") -> int | None:
    """The tile size for a frame on the CPU, or None to run it whole: large frames as exact
    tiles (cache-sized for PyTorch, memory-sized for OpenVINO: the backend's `cpu_tiles`), where
    the model's receptive radius keeps the overlap affordable."""
    if model.receptive_radius > MAX_EXACT_OVERLAP:
        return None
    if backend_specs.named(backend).cpu_tiles == "whole-frames":
        return OPENVINO_TILE if height * width > OPENVINO_WHOLE else None
    return CPU_TILE if height * width > CPU_TILE * CPU_TILE else None


def tiled(model: Model, x: torch.Tensor, tile: int, *, overlap: int = TILE_OVERLAP,
          runner: Runner | None = None) -> torch.Tensor:
    """Run the model over overlapping tiles and keep each tile's centre, so seams never show."""
    n, c, h, w = x.shape
    s = model.scale
    out = x.new_empty(n, c, h * s, w * s)
    for top in range(0, h, tile):
        for left in range(0, w, tile):
            t0, l0 = max(0, top - overlap), max(0, left - overlap)
            t1, l1 = min(h, top + tile + overlap), min(w, left + tile + overlap)
            piece = model.run(x[:, :, t0:t1, l0:l1].contiguous(memory_format=torch.channels_last), runner)
            bottom, right = min(h, top + tile), min(w, left + tile)
            out[:, :, top * s : bottom * s, left * s : right * s] = piece[
                :, :, (top - t0) * s : (bottom - t0) * s, (left - l0) * s : (right - l0) * s]
    return out
