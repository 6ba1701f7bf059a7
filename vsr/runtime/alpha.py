"""Transparency around the model: the model sees only RGB, and alpha is resized on its own.

Two things keep edges clean. Before the model, the colour under fully transparent pixels (often
an arbitrary palette entry: black, white, magenta) is replaced by the colour of the nearest
opaque pixels, so the model does not paint a fringe of that colour onto the visible edge. After
it, alpha is resampled with a sharp kernel and held within the range of its 3×3 source
neighbourhood: no ringing, a fully transparent area stays exactly 0, a solid one exactly 255.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

BLEED_STEPS = 8  # pixels of opaque colour pushed outward; beyond the model's reach at the edge


def bleed(rgb: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """NHWC uint8 RGB with the colour of transparent pixels filled in from opaque neighbours.

    `alpha` is NHW uint8. Opaque colour spreads outward one pixel per step, each new pixel taking
    the mean of its already-filled 3×3 neighbours; pixels no colour reaches keep their own.
    """
    known = (alpha > 0).unsqueeze(1).float()
    if bool(known.all()) or not bool(known.any()):
        return rgb
    colour = rgb.permute(0, 3, 1, 2).float() * known
    for _ in range(BLEED_STEPS):
        total = F.avg_pool2d(colour, 3, stride=1, padding=1, count_include_pad=False)
        weight = F.avg_pool2d(known, 3, stride=1, padding=1, count_include_pad=False)
        grow = (known == 0) & (weight > 0)
        colour = torch.where(grow, total / weight.clamp_min(1e-6), colour)
        known = torch.where(grow, torch.ones_like(known), known)
    original = rgb.permute(0, 3, 1, 2).float()
    filled = torch.where(known > 0, colour, original)
    # Pixels with any opacity keep their own colour exactly.
    filled = torch.where(alpha.unsqueeze(1) > 0, original, filled)
    return filled.round().to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def resize_alpha(alpha: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """NHW uint8 alpha → NHW uint8 at `size` (height, width): bicubic, clamped to each output
    pixel's 3×3 source neighbourhood range."""
    a = alpha.unsqueeze(1).float()
    up = F.interpolate(a, size=size, mode="bicubic", align_corners=False, antialias=True)
    low = F.interpolate(-F.max_pool2d(-a, 3, stride=1, padding=1), size=size, mode="nearest-exact")
    high = F.interpolate(F.max_pool2d(a, 3, stride=1, padding=1), size=size, mode="nearest-exact")
    return torch.minimum(torch.maximum(up, low), high).round().clamp(0, 255).to(torch.uint8).squeeze(1)
