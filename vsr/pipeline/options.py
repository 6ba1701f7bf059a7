"""What `vsr upscale` can be asked, as frozen, validated option records: how the model runs
(`RuntimeOptions`), how video is encoded (`VideoEncoding`), how animated and still images are
written (`ImageEncoding`), and `UpscaleOptions` holding them.

Every record is checked when it is made, so a bad value is a one-line usage error before any
file is opened. The closed sets of choices come from the layers that own them (vsr.runtime,
vsr.media.animated); the CLI offers the same ones. Importing this module loads nothing heavy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from vsr.errors import InputError
from vsr.media.animated import DEFAULT_DITHER, DITHERS, GIF_PALETTES, Dither, GifPalette
from vsr.media.limits import DEFAULT_MAX_PIXELS
from vsr.models import DEFAULT_MODEL
from vsr.runtime import (
    COLOUR_CONVERSIONS,
    DEVICE_HELP,
    PRECISIONS,
    Backend,
    ColourConversion,
    Precision,
    backend_specs,
    is_device_name,
)


def _invalid(option: str, value: object, why: str) -> InputError:
    """A bad value, said with the parameter's name (the CLI says its flag instead)."""
    return InputError(f"invalid `{option}` {value}: {why}", option=option)


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _invalid(option, repr(value), f"use {', '.join(choices)}")


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model runs, where and how."""

    model: str = DEFAULT_MODEL
    """A name in the catalogue, or a model file."""
    device: str = "auto"
    """auto, cpu, cuda, cuda:N, a comma-separated list (a worker on each) or cuda:all."""
    precision: Precision = "auto"
    """auto: fp16 on CUDA; on a CPU bf16 where it measures faster, else fp32 (and int8 where a
    quantised backend pays)."""
    backend: Backend = "auto"
    """How the network runs; auto: the fastest installed here whose build pays for the input's length."""
    batch_size: int | None = None
    """Frames per model call; None: 4 on a GPU, 1 on a CPU."""
    tile: int = 0
    """Tile size in pixels; 0: whole frames (tiles engage by themselves on out-of-memory)."""
    colour_conversion: ColourConversion = "auto"
    """Where YUV ↔ RGB happens: auto (on a GPU the model's device, else swscale), device or swscale."""
    quantise: bool | None = None
    """Whether backend auto may quantise to int8; None: where `precision` is auto. Segments pin
    the precision the first run resolved, and keep this from the user's `auto`."""

    @property
    def may_quantise(self) -> bool:
        return self.precision == "auto" if self.quantise is None else self.quantise

    def __post_init__(self) -> None:
        if not is_device_name(self.device):
            raise _invalid("device", repr(self.device), f"use {DEVICE_HELP}")
        _choice("precision", self.precision, PRECISIONS)
        _choice("backend", self.backend, backend_specs.choices())
        _choice("colour_conversion", self.colour_conversion, COLOUR_CONVERSIONS)
        if self.batch_size is not None and self.batch_size < 1:
            raise _invalid("batch_size", self.batch_size, "must be at least 1")
        if self.tile < 0:
            raise _invalid("tile", self.tile, "0 (off) or a size in pixels")


@dataclass(frozen=True)
class VideoEncoding:
    """How a video output is encoded. None: the container's default codec, the encoder's own
    CRF and preset, the input's pixel format where the encoder takes it."""

    codec: str | None = None
    """Any encoder FFmpeg has (libx264, libx265, libvpx-vp9, ffv1, h264_nvenc…)."""
    crf: int | None = None
    """The encoder's constant rate factor (lower is better quality)."""
    preset: str | None = None
    """The encoder's preset (libx264: ultrafast … veryslow)."""
    pix_fmt: str | None = None
    """The output's pixel format (yuv420p, yuv420p10le, yuv444p…)."""
    audio: bool = True
    """Copy the audio tracks."""

    def __post_init__(self) -> None:
        # What the chosen encoder accepts is checked by opening it, when the output is planned.
        if self.crf is not None and self.crf < 0:
            raise _invalid("crf", self.crf, "0 or more")
        for option, value in (("codec", self.codec), ("preset", self.preset), ("pix_fmt", self.pix_fmt)):
            if value is not None and not value.strip():
                raise _invalid(option, repr(value), "empty")


@dataclass(frozen=True)
class ImageEncoding:
    """How animated and still image outputs are written."""

    gif_palette: GifPalette = "auto"
    """GIF output: one palette for all frames (global), one per frame, or auto (global where the
    source's colours fit one palette)."""
    dither: Dither = DEFAULT_DITHER
    """GIF output: dithering when reducing to 256 colours."""
    quality: int | None = None
    """WebP and JPEG, 0-100; None: lossless WebP, JPEG 95."""
    background: str | None = None
    """A colour name or #rrggbb under transparency, for outputs without alpha; None: the file's
    own background colour, else black."""

    def __post_init__(self) -> None:
        _choice("gif_palette", self.gif_palette, GIF_PALETTES)
        _choice("dither", self.dither, DITHERS)
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise _invalid("quality", self.quality, "0 to 100")
        if self.background is not None:
            parse_colour(self.background)  # a bad colour is a usage error whatever the output

    @property
    def background_rgb(self) -> tuple[int, int, int] | None:
        return None if self.background is None else parse_colour(self.background)


def parse_colour(value: str) -> tuple[int, int, int]:
    """A colour name or #rrggbb as RGB."""
    from PIL import ImageColor

    try:
        rgb = ImageColor.getrgb(value)
    except ValueError as exc:
        raise _invalid("background", repr(value), "a colour name or #rrggbb") from exc
    return rgb[0], rgb[1], rgb[2]


# Where segments run: worker processes on this machine, or a Ray cluster.
ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)
DEFAULT_SEGMENT_SECONDS = 120.0


@dataclass(frozen=True)
class ExecutionOptions:
    """How a long video is split and where its pieces run; none of it changes the output but
    `segment_seconds`, which only moves the segment boundaries."""

    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    """A video longer than this is cut into segments at the first keyframe at or after every
    `segment_seconds`: each is upscaled and encoded alone, kept for resume, and joined by a
    remux. 0: one stream."""
    workers: int | None = None
    """Segment workers; None: one per device named by `RuntimeOptions.device`."""
    executor: ExecutorName = "local"
    """local (processes on this machine) or ray (a Ray cluster)."""
    ray_address: str | None = None
    """The Ray cluster; None: RAY_ADDRESS, else a local Ray for the run."""
    work_dir: Path | None = None
    """Where segments are kept until the output is whole; None: a hidden folder beside the output."""
    resume: bool = True
    """Reuse the finished segments of an interrupted run of the same job."""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.segment_seconds) and self.segment_seconds >= 0):
            raise _invalid("segment_seconds", f"{self.segment_seconds:g}", "0 (one stream) or more")
        if self.workers is not None and self.workers < 1:
            raise _invalid("workers", self.workers, "at least 1")
        _choice("executor", self.executor, EXECUTORS)
        if self.ray_address is not None and self.executor != "ray":
            raise InputError("`ray_address` is for `executor` ray", option=("ray_address", "executor"))


@dataclass(frozen=True)
class UpscaleOptions:
    """Everything that decides what `vsr.upscale` writes, and how the work is spread."""

    scale: float | None = None
    """The output's scale; None: the model's own. At most the model's."""
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    video: VideoEncoding = field(default_factory=VideoEncoding)
    image: ImageEncoding = field(default_factory=ImageEncoding)
    temporal_blend: float = 0.0
    """0: off; up to 0.9: blend each frame with the previous output where the source did not change."""
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS
    """The largest frame, input or output, in pixels; larger files are refused from their header."""

    def __post_init__(self) -> None:
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise _invalid("scale", f"{self.scale:g}", "must be positive and finite")
        if self.max_pixels < 1:
            raise _invalid("max_pixels", self.max_pixels, "must be at least 1")
        if not 0 <= self.temporal_blend < 1:
            raise _invalid("temporal_blend", f"{self.temporal_blend:g}", "0 (off) up to, not including, 1")
