"""Animated PNG output, one frame at a time.

Pillow encodes each frame as a PNG (filtering and zlib); this module only re-frames its image
data as APNG chunks. Pillow's own APNG writer keeps every frame in memory and merges a frame
identical to its predecessor, which would lose frames and their delays.

Every frame covers the whole canvas and replaces it (dispose none, blend source), so what is
written is exactly what is shown. Delays are stored as fractions of a second, exactly.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from PIL import Image

from vsr.media.animated.writer import AnimatedWriter, AnimationSinkSpec
from vsr.media.frames import RgbFrame

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DISPOSE_NONE, _BLEND_SOURCE = 0, 0


def chunks(png: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) for each chunk of a PNG file."""
    pos = len(_SIGNATURE)
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos: pos + 4])
        yield png[pos + 4: pos + 8], png[pos + 8: pos + 8 + length]
        pos += 12 + length


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def delay_fraction(seconds: Fraction) -> tuple[int, int]:
    """The delay as APNG's 16-bit numerator and denominator, exact whenever they can hold it."""
    exact = seconds.limit_denominator(65535)
    if exact.numerator <= 65535:
        return exact.numerator, exact.denominator
    return min(65535, round(seconds)), 1


class ApngWriter(AnimatedWriter):
    def __init__(self, path: Path, spec: AnimationSinkSpec, *, replace: bool = True) -> None:
        super().__init__(path, spec, replace=replace)
        self._sequence = 0
        self._actl_at = 0

    def emit(self, frame: RgbFrame, start: Fraction, end: Fraction) -> None:
        image = Image.fromarray(frame.rgb)
        if self.has_alpha and frame.alpha is not None:
            image.putalpha(Image.fromarray(frame.alpha))
        encoded = io.BytesIO()
        image.save(encoded, format="PNG")
        parts = list(chunks(encoded.getvalue()))
        if self.frames == 0:
            self.file.write(_SIGNATURE)
            self.file.write(chunk(b"IHDR", dict(parts)[b"IHDR"]))
            self._actl_at = self.file.tell()
            self.file.write(chunk(b"acTL", struct.pack(">II", 1, self.plays)))  # frame count patched at the end
        num, den = delay_fraction(end - start)
        self.file.write(chunk(b"fcTL", struct.pack(">IIIIIHHBB", self._next(), self.width, self.height, 0, 0,
                                                   num, den, _DISPOSE_NONE, _BLEND_SOURCE)))
        for kind, body in parts:
            if kind != b"IDAT":
                continue
            if self.frames == 0:  # the first frame is also the still image non-APNG viewers show
                self.file.write(chunk(b"IDAT", body))
            else:
                self.file.write(chunk(b"fdAT", struct.pack(">I", self._next()) + body))

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence - 1

    def end(self) -> None:
        self.file.write(chunk(b"IEND", b""))
        self.file.seek(self._actl_at)
        self.file.write(chunk(b"acTL", struct.pack(">II", self.frames, self.plays)))
