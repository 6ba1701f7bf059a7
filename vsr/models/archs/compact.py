"""SRVGGNetCompact: Real-ESRGAN's compact network for video (realesr-animevideov3 and kin).

Parameter names follow Real-ESRGAN (`body.N`), so its published checkpoints load with strict=True.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

Activation = Literal["prelu", "relu", "leakyrelu"]


def _activation(kind: Activation, num_feat: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope=0.1, inplace=True)
    raise ValueError(f"unknown activation {kind!r}; expected prelu, relu or leakyrelu")


class SRVGGNetCompact(nn.Module):
    """A plain stack of 3×3 convolutions at low resolution, a pixel shuffle, and the
    nearest-upsampled input added back, so the network only learns the residual."""

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        scale: int = 4,
        activation: Activation = "prelu",
    ) -> None:
        super().__init__()
        if num_in_ch != num_out_ch:
            raise ValueError("SRVGGNetCompact adds its input back, so num_in_ch must equal num_out_ch")
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _activation(activation, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _activation(activation, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        return out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
