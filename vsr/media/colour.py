"""Colour: which YUV matrix and range a stream uses, and exact YUV ↔ RGB through swscale.

Players treat untagged video as BT.601 below 720 lines and BT.709 from 720 up; so do we. The
output is converted back with the same matrix and range and tagged with the input's matrix,
primaries, transfer and range, so the upscaled file looks like the source in every player.
"""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# AVColorSpace (what a frame is tagged with) → swscale's matrix (what reformat converts with).
_MATRIX_BY_TAG = {
    1: Colorspace.ITU709,  # BT709
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT470BG
    6: Colorspace.SMPTE170M,  # BT.601 525-line
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # BT2020_NCL
    10: Colorspace.BT2020,  # BT2020_CL, nearest swscale can do
}
_BT709, _BT470BG = 1, 5  # AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic
_SRGB_TRANSFER = 13  # AVCOL_TRC_IEC61966_2_1
RANGE_LIMITED, RANGE_FULL = 1, 2  # AVColorRange: MPEG (16-235) and JPEG (0-255)
# Accurate rounding keeps a YUV → RGB → YUV round trip within one code value.
_INTERPOLATION = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class ColourInfo:
    """The colour description of a video stream: AVColor* integers for the matrix, primaries and
    transfer, and whether the YUV range is full (0-255) or limited (16-235)."""

    space: int  # AVColorSpace: the YUV matrix
    full_range: bool
    primaries: int
    trc: int
    tagged: bool  # False when the matrix was inferred from the frame height

    @property
    def range(self) -> int:
        """As AVColorRange, for tagging frames and streams."""
        return RANGE_FULL if self.full_range else RANGE_LIMITED

    @property
    def matrix(self) -> Colorspace:
        return _MATRIX_BY_TAG.get(self.space, Colorspace.ITU601)

    @property
    def swscale_range(self) -> ColorRange:
        return ColorRange.JPEG if self.full_range else ColorRange.MPEG


# RGB sources (GIF, WebP, PNG) are sRGB: written to video as BT.709 limited range, tagged so,
# with the sRGB transfer.
RGB_SOURCE = ColourInfo(space=_BT709, full_range=False, primaries=_BT709, trc=_SRGB_TRANSFER, tagged=True)


def describe(frame: av.VideoFrame) -> ColourInfo:
    """The colour description of a decoded frame, with untagged values filled in as players do."""
    space = int(frame.colorspace)
    tagged = space in _MATRIX_BY_TAG
    if not tagged:
        space = _BT709 if frame.height >= 720 else _BT470BG
    full = int(frame.color_range) == RANGE_FULL or frame.format.name.startswith("yuvj")
    return ColourInfo(space=space, full_range=full, primaries=int(frame.color_primaries), trc=int(frame.color_trc),
                      tagged=tagged)


def is_high_depth(format_name: str) -> bool:
    """More than 8 bits per component (10-bit video), so RGB must be 16-bit to keep it."""
    fmt = av.VideoFormat(format_name)
    return any(c.bits > 8 for c in fmt.components)


def to_rgb(frame: av.VideoFrame, info: ColourInfo, *, high_depth: bool) -> np.ndarray:
    """HWC RGB, uint8 or (high_depth) uint16, converted with the stream's own matrix and range."""
    if frame.format.name.startswith(("rgb", "bgr", "gbr")):
        return frame.to_ndarray(format="rgb48le" if high_depth else "rgb24")
    rgb = frame.reformat(format="rgb48le" if high_depth else "rgb24", src_colorspace=info.matrix,
                         dst_colorspace=info.matrix, src_color_range=info.swscale_range,
                         dst_color_range=ColorRange.JPEG, interpolation=_INTERPOLATION)
    return rgb.to_ndarray()


def from_rgb(rgb: np.ndarray, info: ColourInfo, pix_fmt: str) -> av.VideoFrame:
    """A frame in the encoder's pixel format from HWC RGB (uint8 or uint16), with the same matrix
    and range the input used, tagged accordingly."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
    if pix_fmt.startswith(("rgb", "bgr", "gbr")):
        return frame.reformat(format=pix_fmt)
    out = frame.reformat(format=pix_fmt, src_colorspace=info.matrix, dst_colorspace=info.matrix,
                         src_color_range=ColorRange.JPEG, dst_color_range=info.swscale_range,
                         interpolation=_INTERPOLATION)
    out.colorspace = info.space
    out.color_range = info.range
    return out


def composite(rgb: np.ndarray, alpha: np.ndarray, background: tuple[int, int, int]) -> np.ndarray:
    """8-bit RGB over a solid background, for outputs that cannot hold alpha."""
    a = alpha[..., None].astype(np.float32) / 255.0
    under = np.asarray(background, np.float32)
    return np.rint(rgb * a + under * (1.0 - a)).astype(np.uint8)


def tag_stream(codec_context: av.video.codeccontext.VideoCodecContext, info: ColourInfo) -> None:
    """Write the colour tags into the output stream's header.

    The matrix is always written, even when the input's was inferred: the output is taller than
    the input, and a player guessing from its height could pick a different matrix than we used.
    Primaries and transfer are copied as they are (unspecified stays unspecified).
    """
    codec_context.colorspace = info.space
    codec_context.color_range = info.range
    codec_context.color_primaries = info.primaries
    codec_context.color_trc = info.trc


def planes_of(frame: av.VideoFrame) -> tuple[np.ndarray, ...]:
    """The frame's Y, U, V planes as arrays (uint8, or uint16 above 8 bits), line padding removed."""
    dtype = np.uint16 if is_high_depth(frame.format.name) else np.uint8
    out = []
    for plane in frame.planes:
        rows = np.frombuffer(memoryview(plane), dtype=dtype).reshape(plane.height, plane.line_size // np.dtype(dtype).itemsize)
        out.append(rows[:, : plane.width].copy())
    return tuple(out)


def frame_from_planes(planes: tuple[np.ndarray, ...], pix_fmt: str, info: ColourInfo) -> av.VideoFrame:
    """A frame in `pix_fmt` holding the given Y, U, V planes, tagged with the matrix and range."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, data in zip(frame.planes, planes):
        dtype = data.dtype
        rows = np.frombuffer(memoryview(plane).cast("B"), dtype=dtype).reshape(
            plane.height, plane.line_size // dtype.itemsize)
        rows[:, : data.shape[1]] = data
    frame.colorspace = info.space
    frame.color_range = info.range
    return frame
