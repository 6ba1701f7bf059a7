"""Building blocks more than one network uses."""

from __future__ import annotations

import torch
from torch import nn


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
