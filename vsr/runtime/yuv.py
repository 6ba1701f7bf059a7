"""YUV ↔ RGB on the model's device, for the GPU path.

Uploading the YUV planes (4:2:0: half the bytes of RGB) and converting on the GPU takes the
colour conversion off the CPU, which on a fast GPU is otherwise the slowest stage. The maths
follows what swscale does on the CPU path: the stream's matrix (BT.601/709/2020 …) and range,
chroma sited as H.264/HEVC default ("left": co-sited horizontally, between rows vertically),
upsampled linearly and downsampled with the matching [1 2 1] / [1 1] filters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

# AVColorSpace → (Kr, Kb)
_KR_KB = {
    1: (0.2126, 0.0722),  # BT.709
    4: (0.30, 0.11),  # FCC
    5: (0.299, 0.114),  # BT.470BG (BT.601 625)
    6: (0.299, 0.114),  # SMPTE 170M (BT.601 525)
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
    10: (0.2627, 0.0593),  # BT.2020 constant luminance: nearest we do, as swscale
}

# Planar formats the device path handles: (chroma subsampling x, y), bits.
FORMATS = {
    "yuv420p": (2, 2, 8), "yuvj420p": (2, 2, 8), "yuv422p": (2, 1, 8), "yuvj422p": (2, 1, 8),
    "yuv444p": (1, 1, 8), "yuvj444p": (1, 1, 8),
    "yuv420p10le": (2, 2, 10), "yuv422p10le": (2, 1, 10), "yuv444p10le": (1, 1, 10),
}


@dataclass(frozen=True)
class YuvFormat:
    pix_fmt: str
    space: int  # AVColorSpace
    full_range: bool

    @property
    def subsampling(self) -> tuple[int, int]:
        sx, sy, _ = FORMATS[self.pix_fmt]
        return sx, sy

    @property
    def bits(self) -> int:
        return FORMATS[self.pix_fmt][2]

    def levels(self) -> tuple[float, float, float, float]:
        """(luma offset, luma span, chroma centre, chroma span) in code values."""
        scale = 2 ** (self.bits - 8)
        if self.full_range:
            peak = 2**self.bits - 1
            return 0.0, float(peak), 128.0 * scale, float(peak)
        return 16.0 * scale, 219.0 * scale, 128.0 * scale, 224.0 * scale

    def coefficients(self) -> tuple[float, float]:
        """(Kr, Kb) of the matrix."""
        return _KR_KB.get(self.space, _KR_KB[5])


def supported(pix_fmt: str) -> bool:
    return pix_fmt in FORMATS


def to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, fmt: YuvFormat) -> torch.Tensor:
    """Planes (N×H×W, N×h×w, N×h×w, integer code values) → NCHW float RGB in [0, 1]."""
    y0, ys, c0, cs = fmt.levels()
    kr, kb = fmt.coefficients()
    kg = 1.0 - kr - kb
    luma = (y.float() - y0) / ys
    sx, sy = fmt.subsampling
    cb = _upsample((u.float() - c0) / cs, sx, sy, y.shape[-2:])
    cr = _upsample((v.float() - c0) / cs, sx, sy, y.shape[-2:])
    r = luma + 2 * (1 - kr) * cr
    b = luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / kg
    return torch.stack([r, g, b], dim=1).clamp_(0, 1)


def from_rgb(rgb: torch.Tensor, fmt: YuvFormat) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NCHW float RGB in [0, 1] → planes of integer code values (uint8, or int32 for 10-bit),
    chroma at the format's size. H and W must be multiples of the subsampling."""
    y0, ys, c0, cs = fmt.levels()
    kr, kb = fmt.coefficients()
    r, g, b = rgb.float().unbind(1)
    luma = kr * r + (1 - kr - kb) * g + kb * b
    cb = (b - luma) / (2 * (1 - kb))
    cr = (r - luma) / (2 * (1 - kr))
    sx, sy = fmt.subsampling
    peak = 2**fmt.bits - 1
    dtype = torch.uint8 if fmt.bits == 8 else torch.int32

    def code(plane: torch.Tensor, offset: float, span: float) -> torch.Tensor:
        return (plane * span + offset).round_().clamp_(0, peak).to(dtype)

    return code(luma, y0, ys), code(_downsample(cb, sx, sy), c0, cs), code(_downsample(cr, sx, sy), c0, cs)


def _upsample(c: torch.Tensor, sx: int, sy: int, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    x = c.unsqueeze(1)
    if sy == 2:  # chroma rows sit between luma rows: centred linear interpolation
        x = F.interpolate(x, scale_factor=(2, 1), mode="bilinear", align_corners=False)
    if sx == 2:  # chroma columns sit on the even luma columns: copy, and average for the odd ones
        right = torch.cat([x[..., 1:], x[..., -1:]], dim=-1)
        x = torch.stack([x, (x + right) / 2], dim=-1).flatten(-2)
    return x[..., : size[0], : size[1]].squeeze(1)


def _downsample(c: torch.Tensor, sx: int, sy: int) -> torch.Tensor:
    x = c.unsqueeze(1)
    if sx == 2:  # [1 2 1]/4 centred on the even columns, the edge replicated
        left = torch.cat([x[..., :1], x[..., :-1]], dim=-1)
        right = torch.cat([x[..., 1:], x[..., -1:]], dim=-1)
        x = ((left + 2 * x + right) / 4)[..., 0::2]
    if sy == 2:  # the two rows a chroma row sits between
        x = (x[..., 0::2, :] + x[..., 1::2, :]) / 2
    return x.squeeze(1)
