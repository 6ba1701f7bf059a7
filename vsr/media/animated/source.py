"""Animated images in (GIF, WebP, APNG): frames composed the way a browser shows them, with their
delays, loop count, background and transparency.

Pillow does the composing (GIF disposal none/background/previous, partial frames with offsets,
global and local palettes, the transparency index; APNG dispose and blend ops; WebP through
libwebp's demuxer) and decodes one frame at a time, so memory does not grow with the length.

Loop counts are held as *plays* (0 = forever, else how many times the animation is shown).
A GIF's NETSCAPE value N means N repeats after the first play, and no NETSCAPE block means one
play; WebP and APNG store plays directly. Converting through plays keeps every format's meaning.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.errors import InputError
from vsr.media.frames import Item, RgbFrame, SourceBase
from vsr.media.image import open_image
from vsr.media.kinds import ANIMATED_SUFFIXES

MS = Fraction(1, 1000)  # Pillow reports delays in milliseconds


@dataclass(frozen=True)
class AnimationInfo:
    """What one decoding pass over an animation found; writers need it before the first frame."""

    path: Path
    format: str  # Pillow's: GIF, WEBP, PNG
    width: int
    height: int
    frames: int
    plays: int  # 0 = forever
    background: tuple[int, int, int] | None  # the file's own background colour, if it names one
    has_alpha: bool  # some frame has a pixel that is not fully opaque
    colours: int  # distinct colours over all frames, counted up to 257 (over 256: no one GIF palette holds them)
    duration_ms: int

    @property
    def estimated_frames(self) -> int:
        """Exact: the probe counted them."""
        return self.frames


# What Pillow raises on damaged frames: IndexError and struct.error come from truncated GIFs.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, IndexError, struct.error)


def is_animated(path: Path) -> bool:
    """True for an image file with more than one frame (cheap: looks for a second frame only)."""
    if path.suffix.lower() not in ANIMATED_SUFFIXES or not path.is_file():
        return False
    try:
        im = Image.open(path)
    except (UnidentifiedImageError, OSError):
        return False
    with im:
        try:
            return bool(getattr(im, "is_animated", False))
        except _DECODE_ERRORS:  # something after the first frame, damaged: an animation cut short
            return True


def probe(path: Path) -> AnimationInfo:
    """One pass over the frames (decoding only, no model): how many, whether any is transparent,
    how many colours in all, and how long."""
    with open_image(path) as im:
        frames = duration = 0
        has_alpha = False
        seen: set[int] = set()
        for frame in _frames(im, path, []):
            assert frame.alpha is not None
            if not has_alpha and (frame.alpha < 255).any():
                has_alpha = True
            if len(seen) <= 256:
                seen.update(np.unique(_pack(frame.rgb)).tolist())
            frames += 1
            duration = (frame.pts or 0) + (frame.duration or 0)
        if frames == 0:
            raise InputError(f"{path}: no frame could be decoded")
        return AnimationInfo(path=path, format=im.format or "", width=im.width, height=im.height, frames=frames,
                             plays=_plays(im), background=_background(im), has_alpha=has_alpha,
                             colours=min(len(seen), 257), duration_ms=duration)


class AnimatedSource(SourceBase):
    """The composed frames, RGB plus alpha when the animation has any, timestamps in ms."""

    def __init__(self, info: AnimationInfo) -> None:
        self.info, self.path = info, info.path
        self._warnings: list[str] = []
        self._image: Image.Image | None = None

    def __iter__(self) -> Iterator[Item]:
        self.close()
        self._image = open_image(self.path)
        for frame in _frames(self._image, self.path, self._warnings):
            yield frame if self.info.has_alpha else RgbFrame(frame.rgb, frame.pts, frame.time_base, frame.duration)

    def warnings(self) -> list[str]:
        return list(self._warnings)

    def close(self) -> None:
        if self._image is not None:
            self._image.close()
            self._image = None


def _frames(im: Image.Image, path: Path, warnings: list[str]) -> Iterator[RgbFrame]:
    elapsed = Fraction(0)
    pts = 0
    index = 0
    while True:
        try:
            im.seek(index)
            im.load()
            rgba = np.asarray(im.convert("RGBA"))
        except EOFError:
            return
        except _DECODE_ERRORS as exc:
            if index == 0:
                raise InputError(f"{path}: cannot decode its first frame ({exc})") from exc
            warnings.append(f"{path}: the file ends early ({exc}); kept the {index} frame(s) that decoded")
            return
        # APNG delays are fractions of a second: round the running time, not each delay, so
        # rounding never accumulates.
        elapsed += Fraction(im.info.get("duration") or 0).limit_denominator(1_000_000)
        end = round(elapsed)
        yield RgbFrame(rgb=rgba[..., :3].copy(), alpha=rgba[..., 3].copy(), pts=pts, time_base=MS, duration=end - pts)
        pts = end
        index += 1


def _plays(im: Image.Image) -> int:
    loop = im.info.get("loop")
    if im.format == "GIF":
        return 1 if loop is None else (0 if loop == 0 else int(loop) + 1)
    return 0 if loop is None else int(loop)  # APNG num_plays and WebP loop count are plays


def _background(im: Image.Image) -> tuple[int, int, int] | None:
    bg = im.info.get("background")
    if isinstance(bg, tuple) and len(bg) >= 3:  # WebP: an RGBA tuple
        return int(bg[0]), int(bg[1]), int(bg[2])
    if isinstance(bg, int) and im.format == "GIF":  # an index into the global colour table
        global_palette = getattr(im, "global_palette", None)
        palette = global_palette.palette if global_palette is not None else None
        if palette is None and im.mode == "P":
            palette = bytes(im.getpalette() or [])
        if palette and len(palette) >= 3 * (bg + 1):
            return palette[3 * bg], palette[3 * bg + 1], palette[3 * bg + 2]
    return None


def _pack(rgb: np.ndarray) -> np.ndarray:
    packed: np.ndarray = (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]
    return packed
