"""Still images: read to RGB (+ alpha) with Pillow, written atomically in the format the
extension names, keeping the colour profile, resolution and EXIF."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.atomic import atomic_write
from vsr.errors import InputError, OutputError
from vsr.media.colour import composite
from vsr.media.frames import Frame, Item, RgbFrame, SinkReport, SourceBase
from vsr.media.kinds import IMAGE_FORMATS, IMAGE_SUFFIXES

_CARRIED = ("icc_profile", "dpi", "exif")  # what an upscaled image keeps from its source
DEFAULT_QUALITY = 95  # JPEG and lossy WebP


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int
    height: int
    has_alpha: bool
    carry: Mapping[str, Any] = field(default_factory=dict)  # ICC profile, DPI, EXIF
    background: tuple[int, int, int] | None = None  # the file's own background colour (PNG bKGD), if any

    @property
    def frames(self) -> int:
        return 1

    @property
    def estimated_frames(self) -> int:
        return 1


def open_image(path: Path) -> Image.Image:
    """The file opened by Pillow (header only), or the one-line reason it cannot be."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return Image.open(path)
    except PermissionError as exc:
        raise InputError(f"{path}: cannot be read (permission denied)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from exc


def probe_image(path: Path) -> ImageInfo:
    """Size, transparency and what to carry over; the image is decoded once here, so that a
    damaged file is refused before any work."""
    try:
        with open_image(path) as im:
            im.load()
            bg = im.info.get("background")
            background = (int(bg[0]), int(bg[1]), int(bg[2])) if isinstance(bg, tuple) and len(bg) >= 3 else None
            return ImageInfo(path, im.width, im.height, _has_alpha(im),
                             {k: im.info[k] for k in _CARRIED if k in im.info}, background)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from exc


def read_image(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """HWC uint8 RGB and the alpha plane if there is one."""
    try:
        with open_image(path) as im:
            im.load()
            rgba = im.convert("RGBA" if _has_alpha(im) else "RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from exc
    arr = np.asarray(rgba)
    return arr[..., :3].copy(), (arr[..., 3].copy() if arr.shape[2] == 4 else None)


class ImageSource(SourceBase):
    """A still image as a source of one frame."""

    def __init__(self, info: ImageInfo) -> None:
        self.info, self.path = info, info.path

    def __iter__(self) -> Iterator[Item]:
        rgb, alpha = read_image(self.path)
        yield RgbFrame(rgb=rgb, alpha=alpha, pts=0, time_base=Fraction(1))


@dataclass(frozen=True)
class ImageSinkSpec:
    quality: int = DEFAULT_QUALITY
    carry: Mapping[str, Any] = field(default_factory=dict)
    background: tuple[int, int, int] = (0, 0, 0)  # under transparency, for formats without alpha


_NO_ALPHA = ("JPEG", "BMP")


def holds_alpha(path: Path) -> bool:
    return IMAGE_FORMATS.get(path.suffix.lower()) not in _NO_ALPHA


class ImageSink:
    """One frame in, an image file out, written at `finish`."""

    def __init__(self, path: Path, spec: ImageSinkSpec, *, replace: bool = True) -> None:
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            raise OutputError(f"{path}: unknown image format {path.suffix or '(none)'}; "
                              f"use one of {', '.join(IMAGE_FORMATS)}")
        self.path, self.spec, self.replace = path, spec, replace
        self._frame: RgbFrame | None = None

    def write(self, frame: Frame) -> None:
        if not isinstance(frame, RgbFrame) or self._frame is not None:
            raise ValueError("an image sink takes one RGB frame")
        self._frame = frame

    def mux(self, packet: av.Packet) -> None:
        """Images hold no other streams."""

    def finish(self) -> SinkReport:
        if self._frame is None:
            raise ValueError("no frame was written")
        rgb, alpha = self._frame.rgb, self._frame.alpha
        if alpha is not None and not holds_alpha(self.path):
            rgb, alpha = composite(rgb, alpha, self.spec.background), None
        write_image(self.path, rgb, alpha, self.spec.carry, quality=self.spec.quality, replace=self.replace)
        return SinkReport(self.path, 1, self.path.stat().st_size)

    def abort(self) -> None:
        self._frame = None


def write_image(path: Path, rgb: np.ndarray, alpha: np.ndarray | None, carry: Mapping[str, Any], *,
                quality: int = DEFAULT_QUALITY, replace: bool = True) -> None:
    fmt = IMAGE_FORMATS[path.suffix.lower()]
    im = Image.fromarray(rgb)
    if alpha is not None and fmt not in _NO_ALPHA:
        im.putalpha(Image.fromarray(alpha))
    options = dict(carry)
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    with atomic_write(path, replace=replace) as tmp:
        im.save(tmp, format=fmt, **options)
