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
    BACKENDS,
    COLOUR_CONVERSIONS,
    DEVICE_HELP,
    PRECISIONS,
    Backend,
    ColourConversion,
    Precision,
    is_device_name,
)


def _choice(option: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"invalid {option} {value!r}: use {', '.join(choices)}")


@dataclass(frozen=True)
class RuntimeOptions:
    """Which model runs, where and how."""

    model: str = DEFAULT_MODEL  # a name in the catalogue or a model file
    device: str = "auto"  # auto, cpu, cuda or cuda:N
    precision: Precision = "auto"
    backend: Backend = "auto"
    batch_size: int | None = None  # frames per model call; None: 4 on a GPU, 1 on a CPU
    tile: int = 0  # tile size in pixels; 0: whole frames (tiles engage by themselves on out-of-memory)
    colour_conversion: ColourConversion = "auto"
    # Whether --backend auto may quantise to int8; None: where `precision` is auto. Segments
    # pin the precision the first run resolved, and keep this from the user's `auto`.
    quantise: bool | None = None

    @property
    def may_quantise(self) -> bool:
        return self.precision == "auto" if self.quantise is None else self.quantise

    def __post_init__(self) -> None:
        if not is_device_name(self.device):
            raise InputError(f"invalid --device {self.device!r}: use {DEVICE_HELP}")
        _choice("--precision", self.precision, PRECISIONS)
        _choice("--backend", self.backend, BACKENDS)
        _choice("colour conversion", self.colour_conversion, COLOUR_CONVERSIONS)
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"invalid --batch-size {self.batch_size}: must be at least 1")
        if self.tile < 0:
            raise InputError(f"invalid --tile {self.tile}: 0 (off) or a size in pixels")


@dataclass(frozen=True)
class VideoEncoding:
    """How a video output is encoded. None: the container's default codec, the encoder's own
    CRF and preset, the input's pixel format where the encoder takes it."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    pix_fmt: str | None = None
    audio: bool = True  # copy the audio tracks

    def __post_init__(self) -> None:
        # What the chosen encoder accepts is checked by opening it, when the output is planned.
        if self.crf is not None and self.crf < 0:
            raise InputError(f"invalid --crf {self.crf}: 0 or more")
        for option, value in (("--codec", self.codec), ("--preset", self.preset), ("--pix-fmt", self.pix_fmt)):
            if value is not None and not value.strip():
                raise InputError(f"invalid {option} {value!r}: empty")


@dataclass(frozen=True)
class ImageEncoding:
    """How animated and still image outputs are written."""

    gif_palette: GifPalette = "auto"
    dither: Dither = DEFAULT_DITHER
    quality: int | None = None  # WebP and JPEG, 0-100; None: lossless WebP, JPEG 95
    background: str | None = None  # a colour name or #rrggbb under transparency, for outputs without alpha

    def __post_init__(self) -> None:
        _choice("--gif-palette", self.gif_palette, GIF_PALETTES)
        _choice("--dither", self.dither, DITHERS)
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise InputError(f"invalid --quality {self.quality}: 0 to 100")
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
        raise InputError(f"invalid --background {value!r}: a colour name or #rrggbb") from exc
    return rgb[0], rgb[1], rgb[2]


# Where segments run: worker processes on this machine, or a Ray cluster.
ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)
DEFAULT_SEGMENT_SECONDS = 120.0


@dataclass(frozen=True)
class ExecutionOptions:
    """How a long video is split and where its pieces run; none of it changes the output but
    `segment_seconds`, which only moves the segment boundaries."""

    # A video longer than this is cut into segments at the first keyframe at or after every
    # `segment_seconds`: each is upscaled and encoded alone, kept for resume, and joined by a
    # remux. 0: one stream, as before.
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    workers: int | None = None  # segment workers; None: one per device named by --device
    executor: ExecutorName = "local"
    ray_address: str | None = None  # None: RAY_ADDRESS, else a local Ray for the run
    work_dir: Path | None = None  # None: a hidden folder beside the output
    resume: bool = True  # reuse the finished segments of an interrupted run of the same job

    def __post_init__(self) -> None:
        if not (math.isfinite(self.segment_seconds) and self.segment_seconds >= 0):
            raise InputError(f"invalid --segment-seconds {self.segment_seconds:g}: 0 (one stream) or more")
        if self.workers is not None and self.workers < 1:
            raise InputError(f"invalid --workers {self.workers}: at least 1")
        _choice("--executor", self.executor, EXECUTORS)
        if self.ray_address is not None and self.executor != "ray":
            raise InputError("--ray-address is for --executor ray")


@dataclass(frozen=True)
class UpscaleOptions:
    """Everything that decides what `vsr.upscale` writes, and how the work is spread."""

    scale: float | None = None  # None: the model's own; at most the model's
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    video: VideoEncoding = field(default_factory=VideoEncoding)
    image: ImageEncoding = field(default_factory=ImageEncoding)
    temporal_blend: float = 0.0  # 0 = off; up to 0.9: blend with the previous output where nothing moved
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS  # per frame, input or output; larger files are refused from the header

    def __post_init__(self) -> None:
        if self.scale is not None and not (math.isfinite(self.scale) and self.scale > 0):
            raise InputError(f"invalid --scale {self.scale:g}: must be positive and finite")
        if self.max_pixels < 1:
            raise InputError(f"invalid --max-pixels {self.max_pixels}: must be at least 1")
        if not 0 <= self.temporal_blend < 1:
            raise InputError(f"invalid --temporal-blend {self.temporal_blend:g}: 0 (off) up to, not including, 1")
