"""GIF output, one frame at a time.

Pillow's own animated GIF writer keeps every frame in memory and merges a frame identical to its
predecessor into it (adding the delays), which would lose frames. So the file is assembled here
from Pillow's public GIF building blocks (`getheader` for the header and loop block, `getdata`
for each frame's control block, colour table and LZW data), with FFmpeg doing the quantisation.

Opaque animations write only the rectangle that changed, over the previous frame (disposal 1);
an unchanged frame becomes a 1×1 patch, so it stays a frame with its own delay. Animations with
transparency write whole frames that clear to transparent when done (disposal 2), because an
opaque pixel can only become transparent again by being cleared.

A global palette needs every frame's colours before the first frame can be written: the frames
are spooled to a temporary file (zlib, beside the output) while palettegen gathers statistics,
then quantised with the one palette on a second pass. Memory stays flat; disk holds the spool.
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import GifImagePlugin, Image

from vsr.atomic import temporary_beside
from vsr.media.animated.palette import GlobalPalette, PerFramePalette, Quantized
from vsr.media.animated.writer import AnimatedWriter, AnimationSinkSpec
from vsr.media.frames import RgbFrame

MAX_DELAY_CS = 65535  # GIF stores delays in 16 bits of centiseconds
_KEEP, _CLEAR = 1, 2  # GIF disposal methods: leave the frame in place; restore to transparent


class GifWriter(AnimatedWriter):
    def __init__(self, path: Path, spec: AnimationSinkSpec, *, replace: bool = True) -> None:
        super().__init__(path, spec, replace=replace)
        self._canvas: np.ndarray | None = None  # what a viewer shows after the last frame written
        self._written = 0
        self._global: GlobalPalette | None = None
        self._per_frame: PerFramePalette | None = None
        self._spool: BinaryIO | None = None
        self._delays: list[int] = []
        try:
            if spec.gif_palette == "global":
                self._global = GlobalPalette(spec.width, spec.height, with_alpha=spec.has_alpha, dither=spec.dither)
                self._spool_path = temporary_beside(path.with_suffix(".spool"))
                self._spool = open(self._spool_path, "wb")  # noqa: SIM115 (closed by end or abort)
            else:
                self._per_frame = PerFramePalette(spec.width, spec.height, with_alpha=spec.has_alpha,
                                                  dither=spec.dither)
        except BaseException:
            self.abort()
            raise

    def emit(self, frame: RgbFrame, start: Fraction, end: Fraction) -> None:
        delay = self.ticks(start, end, 100)
        if self._per_frame is not None:
            self._write(self._per_frame(frame.rgb, frame.alpha), delay, local_palette=self._written > 0)
            return
        assert self._global is not None and self._spool is not None
        self._global.add(frame.rgb, frame.alpha)
        rgba = frame.rgb if frame.alpha is None else np.concatenate([frame.rgb, frame.alpha[..., None]], axis=-1)
        data = zlib.compress(np.ascontiguousarray(rgba).tobytes(), 1)
        self._spool.write(struct.pack("<Q", len(data)) + data)
        self._delays.append(delay)

    def end(self) -> None:
        if self._global is not None and self._spool is not None:
            self._spool.close()
            self._global.palette()
            channels = 4 if self.has_alpha else 3
            with open(self._spool_path, "rb") as spool:
                for delay in self._delays:
                    (size,) = struct.unpack("<Q", spool.read(8))
                    rgba = np.frombuffer(zlib.decompress(spool.read(size)), np.uint8)
                    rgba = rgba.reshape(self.height, self.width, channels)
                    alpha = rgba[..., 3] if self.has_alpha else None
                    self._write(self._global.apply(rgba[..., :3], alpha), delay, local_palette=False)
            self._spool_path.unlink(missing_ok=True)
        self.file.write(b";")  # trailer

    def abort(self) -> None:
        super().abort()
        if self._spool is not None:
            self._spool.close()
            self._spool_path.unlink(missing_ok=True)

    def _write(self, q: Quantized, delay: int, *, local_palette: bool) -> None:
        if delay > MAX_DELAY_CS:
            delay, self.clamped = MAX_DELAY_CS, self.clamped + 1
        if self._written == 0:
            self._header(q)
        if self.has_alpha:
            box, disposal = (0, 0, self.width, self.height), _CLEAR
        else:
            box, disposal = self._changed(q.rgb()), _KEEP
        left, top, right, bottom = box
        patch = _image(q.indices[top:bottom, left:right], q.palette)
        params = {"duration": delay * 10, "disposal": disposal, "include_color_table": local_palette}
        if q.transparent is not None:
            params["transparency"] = q.transparent
        for chunk in GifImagePlugin.getdata(patch, offset=(left, top), **params):
            self.file.write(chunk)
        self._written += 1

    def _header(self, first: Quantized) -> None:
        im = _image(first.indices, first.palette)
        im.info["version"] = b"89a"  # graphic control blocks (delays, transparency) need GIF89a
        info = {"optimize": False, "background": first.transparent if first.transparent is not None else 0}
        if self.plays != 1:
            info["loop"] = max(0, self.plays - 1)  # no NETSCAPE block at all means "play once"
        header, _ = GifImagePlugin.getheader(im, info=info)
        for chunk in header:
            self.file.write(chunk)

    def _changed(self, rgb: np.ndarray) -> tuple[int, int, int, int]:
        """The rectangle that differs from what is on screen; the first frame is all of it."""
        first = self._canvas is None
        diff = np.ones(rgb.shape[:2], bool) if first else (rgb != self._canvas).any(axis=-1)
        self._canvas = rgb
        if not diff.any():
            return (0, 0, 1, 1)  # still a frame of its own, so its delay survives
        rows, cols = np.flatnonzero(diff.any(axis=1)), np.flatnonzero(diff.any(axis=0))
        return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)


def _image(indices: np.ndarray, palette: np.ndarray) -> Image.Image:
    height, width = indices.shape
    im = Image.frombytes("P", (width, height), np.ascontiguousarray(indices).tobytes())
    im.putpalette(palette.tobytes())
    return im
