"""The SRGAN discriminator (Ledig et al. 2017), for training only.

VGG-style: pairs of 3×3 convolutions, the second of each pair strided, doubling the features per
stage, LeakyReLU 0.2; normalised by BatchNorm as in the paper or by spectral norm (steadier GAN
training, as in Real-ESRGAN). An adaptive pool before the dense head lets it take any patch size.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Norm = Literal["batch", "spectral", "none"]


class SRGANDiscriminator(nn.Module):
    """Returns one logit per image; `features()` also returns each stage's activations, which
    training uses as a perceptual loss when no VGG weights are given."""

    def __init__(
        self,
        *,
        num_in_ch: int = 3,
        num_feat: int = 64,
        num_stages: int = 4,
        norm: Norm = "batch",
        dense_feat: int = 1024,
    ) -> None:
        super().__init__()
        if norm not in ("batch", "spectral", "none"):
            raise ValueError(f"unknown norm {norm!r}; expected batch, spectral or none")
        self.stages = nn.ModuleList()
        in_ch = num_in_ch
        for i in range(num_stages):
            out_ch = num_feat * 2**i
            # The paper leaves the very first convolution unnormalised.
            first = self._conv(in_ch, out_ch, stride=1, norm=norm, normalise=i > 0)
            second = self._conv(out_ch, out_ch, stride=2, norm=norm, normalise=True)
            self.stages.append(nn.Sequential(*first, *second))
            in_ch = out_ch
        self.pool = nn.AdaptiveAvgPool2d(4)
        dense1 = nn.Linear(in_ch * 16, dense_feat)
        dense2 = nn.Linear(dense_feat, 1)
        if norm == "spectral":
            dense1, dense2 = nn.utils.spectral_norm(dense1), nn.utils.spectral_norm(dense2)
        self.head = nn.Sequential(nn.Flatten(), dense1, nn.LeakyReLU(0.2, inplace=True), dense2)

    @staticmethod
    def _conv(in_ch: int, out_ch: int, *, stride: int, norm: Norm, normalise: bool) -> list[nn.Module]:
        conv = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=not (normalise and norm == "batch"))
        layers: list[nn.Module] = []
        if normalise and norm == "spectral":
            layers.append(nn.utils.spectral_norm(conv))
        else:
            layers.append(conv)
        if normalise and norm == "batch":
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return self.head(self.pool(x)), feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)[0]
