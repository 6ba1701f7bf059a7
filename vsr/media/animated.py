"""Animated images (GIF, WebP, APNG): frames composed the way a browser shows them, with their
delays, loop count, background and transparency.

Pillow does the composing (GIF disposal none/background/previous, partial frames with offsets,
global and local palettes, the transparency index; APNG dispose and blend ops; WebP through
libwebp's demuxer) and decodes one frame at a time, so memory does not grow with the length.

Loop counts are held as *plays* (0 = forever, else how many times the animation is shown).
A GIF's NETSCAPE value N means N repeats after the first play, and no NETSCAPE block means one
play; WebP and APNG store plays directly. Converting through plays keeps every format's meaning.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from vsr.errors import InputError, OutputError
from vsr.media.reader import DecodedFrame

log = logging.getLogger(__name__)

ANIMATED_SUFFIXES = {".gif", ".webp", ".png", ".apng"}
MS = Fraction(1, 1000)  # Pillow reports delays in milliseconds


@dataclass
class AnimationInfo:
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
    warnings: list[str] = field(default_factory=list)

    @property
    def gif_loop(self) -> int | None:
        """The NETSCAPE loop value that gives `plays`, or None for no NETSCAPE block (one play)."""
        return None if self.plays == 1 else max(0, self.plays - 1)


def open_image(path: Path) -> Image.Image:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return Image.open(path)
    except PermissionError as exc:
        raise InputError(f"{path}: cannot be read (permission denied)") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{path}: not an image Pillow can read ({exc})") from exc


def is_animated(path: Path) -> bool:
    """True for an image file with more than one frame (cheap: looks for a second frame only)."""
    if path.suffix.lower() not in ANIMATED_SUFFIXES or not path.is_file():
        return False
    try:
        with Image.open(path) as im:
            return bool(getattr(im, "is_animated", False))
    except (UnidentifiedImageError, OSError):
        return False


def probe(path: Path) -> AnimationInfo:
    """One pass over the frames (decoding only, no model): how many, whether any is transparent,
    how many colours in all, and how long. Writers need these before the first frame."""
    with open_image(path) as im:
        info = AnimationInfo(path=path, format=im.format or "", width=im.width, height=im.height, frames=0,
                             plays=_plays(im), background=_background(im), has_alpha=False, colours=0,
                             duration_ms=0)
        seen: set[int] = set()
        for frame in _frames(im, info):
            if frame.alpha is not None and not info.has_alpha and (frame.alpha < 255).any():
                info.has_alpha = True
            if len(seen) <= 256:
                seen.update(np.unique(_pack(frame.rgb)).tolist())
            info.frames += 1
            info.duration_ms = frame.pts + frame.duration
        info.colours = min(len(seen), 257)
    if info.frames == 0:
        raise InputError(f"{path}: no frame could be decoded")
    return info


def read(info: AnimationInfo) -> Iterator[DecodedFrame]:
    """The composed frames, RGB plus alpha when the animation has any, timestamps in ms."""
    with open_image(info.path) as im:
        for frame in _frames(im, AnimationInfo(**{**info.__dict__, "warnings": []})):
            if not info.has_alpha:
                frame.alpha = None
            yield frame


def _frames(im: Image.Image, info: AnimationInfo) -> Iterator[DecodedFrame]:
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
        except (OSError, ValueError, SyntaxError) as exc:
            if index == 0:
                raise InputError(f"{info.path}: cannot decode its first frame ({exc})") from exc
            info.warnings.append(f"{info.path}: the file ends early ({exc}); kept the {index} frame(s) that decoded")
            return
        # APNG delays are fractions of a second: round the running time, not each delay, so
        # rounding never accumulates.
        elapsed += Fraction(im.info.get("duration") or 0).limit_denominator(1_000_000)
        end = round(elapsed)
        yield DecodedFrame(rgb=rgba[..., :3].copy(), alpha=rgba[..., 3].copy(), pts=pts, time_base=MS,
                           duration=end - pts)
        pts = end
        index += 1


def _plays(im: Image.Image) -> int:
    loop = im.info.get("loop")
    if im.format == "GIF":
        return 1 if loop is None else (0 if loop == 0 else loop + 1)
    return 0 if loop is None else int(loop)  # APNG num_plays and WebP loop count are plays


def _background(im: Image.Image) -> tuple[int, int, int] | None:
    bg = im.info.get("background")
    if isinstance(bg, tuple) and len(bg) >= 3:  # WebP: an RGBA tuple
        return tuple(int(v) for v in bg[:3])
    if isinstance(bg, int) and im.format == "GIF":  # an index into the global colour table
        palette = im.global_palette.palette if getattr(im, "global_palette", None) else None
        if palette is None and im.mode == "P":
            palette = bytes(im.getpalette() or [])
        if palette and len(palette) >= 3 * (bg + 1):
            return tuple(palette[3 * bg: 3 * bg + 3])
    return None


def _pack(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.uint32) << 16) | (rgb[..., 1].astype(np.uint32) << 8) | rgb[..., 2]


class AnimatedWriter:
    """Frames in, an animated image out, written to a temporary file that `finish` publishes.

    Each frame's delay is the gap to the next frame's timestamp, so equal timestamps give a 0 ms
    delay and irregular ones stay irregular; the last frame keeps its own duration. Subclasses
    write one frame at a time (`_emit`) and close the file (`_close`); memory stays flat.
    """

    fallback_delay = Fraction(1, 10)  # for a last frame whose source names no duration

    def __init__(self, path: Path, *, width: int, height: int, plays: int, has_alpha: bool) -> None:
        from vsr.atomic import temporary_beside

        self.path, self.width, self.height, self.plays, self.has_alpha = path, width, height, plays, has_alpha
        self.tmp = temporary_beside(path)
        self.file = open(self.tmp, "wb")
        self.finished = False
        self.frames = 0
        self.elapsed = Fraction(0)  # seconds written so far
        self._pending: DecodedFrame | None = None

    def write(self, frame: DecodedFrame) -> None:
        if self._pending is not None:
            if frame.pts is not None and self._pending.pts is not None:
                delay = (frame.pts - self._pending.pts) * self._pending.time_base
            else:
                delay = self._duration(self._pending)
            self._send(self._pending, max(Fraction(0), delay))
        self._pending = frame

    def mux(self, packet) -> None:
        """Animated images hold no audio or subtitles."""

    def finish(self) -> None:
        from vsr.atomic import publish

        try:
            if self._pending is not None:
                self._send(self._pending, self._duration(self._pending))
                self._pending = None
            self._close()
            self.file.close()
            publish(self.tmp, self.path)
            self.finished = True
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)

    def _duration(self, frame: DecodedFrame) -> Fraction:
        return frame.duration * frame.time_base if frame.duration else self.fallback_delay

    def _send(self, frame: DecodedFrame, delay: Fraction) -> None:
        start = self.elapsed
        self.elapsed += delay
        self._emit(frame, start, self.elapsed)
        self.frames += 1

    @staticmethod
    def ticks(start: Fraction, end: Fraction, per_second: int) -> int:
        """A delay in the format's unit, rounded at the frame boundaries so it never drifts."""
        return round(end * per_second) - round(start * per_second)

    def _emit(self, frame: DecodedFrame, start: Fraction, end: Fraction) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


ANIMATED_OUTPUTS = {".gif", ".webp", ".png", ".apng"}
_MAX_SIDE = {".gif": 65535, ".webp": 16383}  # what each format's header can hold


def check_size(path: Path, width: int, height: int) -> None:
    """Refuse, before any work, a frame size the format cannot store."""
    limit = _MAX_SIDE.get(path.suffix.lower())
    if limit and max(width, height) > limit:
        raise OutputError(f"{path}: {width}x{height} is larger than {path.suffix} allows ({limit} pixels a side); "
                          "use a smaller --scale or a video output")


def open_writer(path: Path, *, width: int, height: int, plays: int, has_alpha: bool, gif_palette: str,
                dither: str, quality: int | None) -> AnimatedWriter:
    """The writer the extension names: .gif, .webp, or .png/.apng (animated PNG)."""
    check_size(path, width, height)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from vsr.media.gif import GifWriter

        return GifWriter(path, width=width, height=height, plays=plays, has_alpha=has_alpha,
                         global_palette=gif_palette == "global", dither=dither)
    if suffix == ".webp":
        from vsr.media.webp import WebpWriter

        return WebpWriter(path, width=width, height=height, plays=plays, has_alpha=has_alpha, quality=quality)
    if suffix in (".png", ".apng"):
        from vsr.media.apng import ApngWriter

        return ApngWriter(path, width=width, height=height, plays=plays, has_alpha=has_alpha)
    raise ValueError(f"not an animated image format: {path.suffix}")
