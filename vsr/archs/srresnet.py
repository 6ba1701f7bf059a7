"""SRResNet, the SRGAN generator (Ledig et al. 2017), and BasicSR's MSRResNet variant.

`SRResNet` is the paper's network: 9×9 head, residual blocks conv–BN–PReLU–conv–BN, a conv–BN
after the blocks with a long skip from the head, PReLU pixel-shuffle ×2 stages, 9×9 tail.
`MSRResNet` is BasicSR's modified SRResNet (no BN, 3×3 head, LeakyReLU, conv_hr, a bilinear skip
from the input); its parameter names are BasicSR's so its checkpoints load with strict=True.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def upsample_stages(scale: int) -> list[int]:
    """The pixel-shuffle factors that make up `scale`: ×3 in one stage, powers of two in ×2 stages."""
    if scale == 3:
        return [3]
    if scale in (2, 4, 8):
        return [2] * (scale.bit_length() - 1)
    raise ValueError(f"SRResNet supports scales 2, 3, 4 and 8, not {scale}")


class ResidualBlock(nn.Module):
    """conv–BN–PReLU–conv–BN with an identity skip (BN left out when batch_norm is False)."""

    def __init__(self, *, num_feat: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn1 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.act = nn.PReLU(num_parameters=num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """The SRGAN generator. Upsampling stages are `upconvN` + pixel shuffle + PReLU `act_upN`."""

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 16,
        scale: int = 4,
        kernel_size: int = 9,
        batch_norm: bool = True,
    ) -> None:
        super().__init__()
        self.scale = scale
        pad = kernel_size // 2
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, kernel_size, 1, pad)
        self.act_first = nn.PReLU(num_parameters=num_feat)
        self.body = nn.Sequential(*(ResidualBlock(num_feat=num_feat, batch_norm=batch_norm) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.bn_body = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.factors = upsample_stages(scale)
        for i, factor in enumerate(self.factors, start=1):
            self.add_module(f"upconv{i}", nn.Conv2d(num_feat, num_feat * factor * factor, 3, 1, 1))
            self.add_module(f"act_up{i}", nn.PReLU(num_parameters=num_feat))
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, kernel_size, 1, pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.act_first(self.conv_first(x))
        feat = head + self.bn_body(self.conv_body(self.body(head)))
        for i, factor in enumerate(self.factors, start=1):
            conv, act = getattr(self, f"upconv{i}"), getattr(self, f"act_up{i}")
            feat = act(F.pixel_shuffle(conv(feat), factor))
        return self.conv_last(feat)


class _ResidualBlockNoBN(nn.Module):
    """BasicSR's ResidualBlockNoBN: conv–ReLU–conv with an identity skip."""

    def __init__(self, *, num_feat: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.relu(self.conv1(x)))


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
        self.body = nn.Sequential(*(_ResidualBlockNoBN(num_feat=num_feat) for _ in range(num_block)))
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
