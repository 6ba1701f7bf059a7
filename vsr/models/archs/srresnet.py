"""SRResNet, the SRGAN generator (Ledig et al. 2017).

The paper's network: 9×9 head, residual blocks conv–BN–PReLU–conv–BN, a conv–BN after the blocks
with a long skip from the head, PReLU pixel-shuffle ×2 stages, 9×9 tail.

`base="bicubic"` adds the bicubic upscale of the input to the output (see blocks.start_from_bicubic);
`vsr train` builds this form. It has no weights of its own, so the file's metadata says which a
model is; a state dict alone is the paper's.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vsr.models.archs.blocks import add_base, start_from_bicubic, upsample_stages


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
        base: str = "none",
    ) -> None:
        super().__init__()
        self.scale, self.base = scale, base
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
        start_from_bicubic(base, self.conv_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = self.act_first(self.conv_first(x))
        feat = head + self.bn_body(self.conv_body(self.body(head)))
        for i, factor in enumerate(self.factors, start=1):
            conv, act = getattr(self, f"upconv{i}"), getattr(self, f"act_up{i}")
            feat = act(F.pixel_shuffle(conv(feat), factor))
        return add_base(self.conv_last(feat), x, self.base, self.scale)
