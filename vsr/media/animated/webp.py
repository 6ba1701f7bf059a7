"""Animated WebP output, one frame at a time.

Pillow (libwebp) encodes each frame as a still WebP, lossless or lossy; this module only wraps
those bitstreams in ANMF chunks. libwebp's animation encoder, which Pillow uses for animations,
merges a frame identical to its predecessor and drops 0 ms frames, which would lose frames.

Every frame covers the whole canvas and replaces it (no blending, no disposal), so what is
written is exactly what is shown. Delays are whole milliseconds, as WebP stores them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from PIL import Image

from vsr.media.animated.writer import AnimatedWriter, AnimationSinkSpec
from vsr.media.frames import RgbFrame

MAX_DELAY_MS = 2**24 - 1
_VP8X_ANIMATION, _VP8X_ALPHA = 0x02, 0x10
_NO_BLEND = 0x02
_FRAME_CHUNKS = {b"ALPH", b"VP8 ", b"VP8L"}


def riff_chunks(webp: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(fourcc, body) for each chunk of a WebP file."""
    pos = 12
    while pos + 8 <= len(webp):
        kind, (size,) = webp[pos: pos + 4], struct.unpack("<I", webp[pos + 4: pos + 8])
        yield kind, webp[pos + 8: pos + 8 + size]
        pos += 8 + size + (size & 1)


def riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


class WebpWriter(AnimatedWriter):
    def __init__(self, path: Path, spec: AnimationSinkSpec, *, replace: bool = True) -> None:
        super().__init__(path, spec, replace=replace)
        # Lossless unless a quality is asked for.
        self.options: dict[str, bool | int] = {"lossless": True} if spec.quality is None else {"quality": spec.quality}
        self.file.write(b"RIFF\0\0\0\0WEBP")
        flags = _VP8X_ANIMATION | (_VP8X_ALPHA if spec.has_alpha else 0)
        self.file.write(riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + _u24(spec.width - 1) + _u24(spec.height - 1)))
        # Background: transparent black (B, G, R, A); viewers may ignore it, as the format allows.
        self.file.write(riff_chunk(b"ANIM", bytes([0, 0, 0, 0]) + struct.pack("<H", min(spec.plays, 65535))))

    def emit(self, frame: RgbFrame, start: Fraction, end: Fraction) -> None:
        image = Image.fromarray(frame.rgb)
        if self.has_alpha and frame.alpha is not None:
            image.putalpha(Image.fromarray(frame.alpha))
        encoded = io.BytesIO()
        image.save(encoded, format="WEBP", **self.options)
        data = b"".join(riff_chunk(kind, body) for kind, body in riff_chunks(encoded.getvalue()) if kind in _FRAME_CHUNKS)
        delay = self.ticks(start, end, 1000)
        if delay > MAX_DELAY_MS:
            delay, self.clamped = MAX_DELAY_MS, self.clamped + 1
        header = _u24(0) + _u24(0) + _u24(self.width - 1) + _u24(self.height - 1) + _u24(delay) + bytes([_NO_BLEND])
        self.file.write(riff_chunk(b"ANMF", header + data))

    def end(self) -> None:
        size = self.file.tell() - 8
        self.file.seek(4)
        self.file.write(struct.pack("<I", size))
