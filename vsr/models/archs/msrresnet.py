"""MSRResNet: BasicSR's modified SRResNet (no BN, 3×3 head, LeakyReLU, conv_hr, a bilinear skip
from the input). Its parameter names are BasicSR's, so its checkpoints load with strict=True."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vsr.models.archs.blocks import ResidualBlockNoBN, upsample_stages


class MSRResNet(nn.Module):
    """BasicSR's MSRResNet (scales 2, 3, 4): the SRResNet of its SRGAN recipes."""

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
    ) -> None:
        super().__init__()
        if scale not in (2, 3, 4):
            raise ValueError(f"MSRResNet supports scales 2, 3 and 4, not {scale}")
        self.scale = scale
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(ResidualBlockNoBN(num_feat=num_feat) for _ in range(num_block)))
        factors = upsample_stages(scale)
        self.upconv1 = nn.Conv2d(num_feat, num_feat * factors[0] ** 2, 3, 1, 1)
        if len(factors) == 2:
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
        self.pixel_shuffle = nn.PixelShuffle(factors[0])
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.body(self.lrelu(self.conv_first(x)))
        feat = self.lrelu(self.pixel_shuffle(self.upconv1(feat)))
        if self.scale == 4:
            feat = self.lrelu(self.pixel_shuffle(self.upconv2(feat)))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
