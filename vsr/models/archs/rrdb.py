"""RRDBNet: the ESRGAN / Real-ESRGAN generator (Wang et al. 2018).

Parameter names follow BasicSR (`conv_first`, `body.N.rdb1.conv1`, `conv_body`, `conv_up1` …), so
published Real-ESRGAN and BasicSR checkpoints load with strict=True. The old ESRGAN layout is
remapped at load time by vsr.models.checkpoint, not here. `base="bicubic"` (what `vsr train`
builds) adds the bicubic upscale of the input to the output: see blocks.start_from_bicubic.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vsr.models.archs.blocks import add_base, start_from_bicubic

# Residual scaling keeps the very deep stack stable; it is part of the published weights' contract.
_RESIDUAL_SCALE = 0.2


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convolutions; each sees the block input and every earlier output."""

    def __init__(self, *, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * _RESIDUAL_SCALE + x


class RRDB(nn.Module):
    """Residual-in-residual dense block: three dense blocks under one scaled skip."""

    def __init__(self, *, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat=num_feat, num_grow_ch=num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat=num_feat, num_grow_ch=num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * _RESIDUAL_SCALE + x


# ×2 and ×1 models see a pixel-unshuffled input so the body always works at a quarter of the
# output's linear size, as in Real-ESRGAN; this maps scale to the unshuffle factor.
UNSHUFFLE_FACTOR = {4: 1, 2: 2, 1: 4}


class RRDBNet(nn.Module):
    """conv_first → RRDB × num_block → conv_body (long skip) → 2 × (nearest ×2, conv) → conv_hr → conv_last."""

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        scale: int = 4,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
        base: str = "none",
    ) -> None:
        super().__init__()
        if scale not in UNSHUFFLE_FACTOR:
            raise ValueError(f"RRDBNet supports scales {sorted(UNSHUFFLE_FACTOR)}, not {scale}")
        self.scale, self.base = scale, base
        self.unshuffle = UNSHUFFLE_FACTOR[scale]
        self.conv_first = nn.Conv2d(num_in_ch * self.unshuffle**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat=num_feat, num_grow_ch=num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        start_from_bicubic(base, self.conv_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        feat = self.conv_first(feat)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return add_base(self.conv_last(self.lrelu(self.conv_hr(feat))), x, self.base, self.scale)
