"""Building blocks more than one network uses."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# What a network may add to its output: nothing (the published forms), or the bicubic upscale of
# its input, so that it learns the residual over bicubic (VDSR's global residual learning).
BASES = ("none", "bicubic")


def upsample_stages(scale: int) -> list[int]:
    """The pixel-shuffle factors that make up `scale`: ×3 in one stage, powers of two in ×2 stages."""
    if scale == 3:
        return [3]
    if scale in (2, 4, 8):
        return [2] * (scale.bit_length() - 1)
    raise ValueError(f"supported scales are 2, 3, 4 and 8, not {scale}")


class ResidualBlockNoBN(nn.Module):
    """BasicSR's ResidualBlockNoBN: conv–ReLU–conv with an identity skip."""

    def __init__(self, *, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.conv2(self.relu(self.conv1(x)))
        return out


def start_from_bicubic(base: str, conv_last: nn.Conv2d) -> None:
    """Check `base`; with "bicubic", zero the last convolution, so a new network's output is the
    bicubic upscale exactly and training refines it from the first step. From scratch, the
    published SRResNet was still 1.5 dB below bicubic after 500 steps on real footage."""
    if base not in BASES:
        raise ValueError(f"base: {base!r}; expected one of {', '.join(BASES)}")
    if base == "bicubic":
        nn.init.zeros_(conv_last.weight)
        if conv_last.bias is not None:
            nn.init.zeros_(conv_last.bias)


def add_base(out: torch.Tensor, x: torch.Tensor, base: str, scale: int) -> torch.Tensor:
    if base == "bicubic":
        return out + F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    return out
