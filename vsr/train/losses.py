"""Training losses: pixel (L1, MSE, Charbonnier), perceptual (VGG19 features from a user's weights
file, or the discriminator's own feature maps), adversarial (vanilla GAN, or ESRGAN's
relativistic average GAN) with one-sided label smoothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from vsr.errors import InputError, ModelError

PIXEL_LOSSES = ("l1", "mse", "charbonnier")
ADVERSARIAL_LOSSES = ("vanilla", "ragan")
CHARBONNIER_EPS = 1e-3


def pixel_loss(kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if kind == "l1":
        return F.l1_loss
    if kind == "mse":
        return F.mse_loss
    if kind == "charbonnier":  # a differentiable L1: smooth at zero, robust to outliers
        return lambda sr, hr: torch.sqrt((sr - hr) ** 2 + CHARBONNIER_EPS**2).mean()
    raise InputError(f"`pixel_loss`: {kind!r}; expected one of {', '.join(PIXEL_LOSSES)}", option="pixel_loss")


# The temporal loss's scale, so that --temporal-weight 1 is the recommended strength: the most
# flicker taken off while validation PSNR stays within 0.15 dB of plain fine-tuning (carphone,
# 300 steps, CRF 26: twice the plain criterion; at four times PSNR fell 0.15-0.19 dB). The curve
# over the weight is in benchmarks/README.md (benchmarks/temporal.py).
TEMPORAL_SCALE = 2.0


def temporal_loss(criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], sr: torch.Tensor,
                  hr: torch.Tensor, pairs: int) -> torch.Tensor:
    """How differently the output changes from one frame to the next than the truth does: the
    pixel criterion on ΔSR against ΔHR over neighbour pairs (frames 2k, 2k+1 for k < `pairs`).
    Compression artefacts that move from frame to frame change the output where the truth is
    still; this is what `vsr eval` measures as flicker, on Y, with L1."""
    first, second = slice(0, 2 * pairs, 2), slice(1, 2 * pairs, 2)
    return TEMPORAL_SCALE * criterion(sr[second] - sr[first], hr[second] - hr[first])


# VGG19's convolution widths per block; the layer names follow the paper (conv5_4: block 5, conv 4).
_VGG19_BLOCKS = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512))
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layers() -> list[str]:
    return [f"conv{b}_{c}" for b, widths in enumerate(_VGG19_BLOCKS, 1) for c in range(1, len(widths) + 1)]


class VGGFeatures(nn.Module):
    """VGG19's feature stack up to one convolution, before its ReLU (ESRGAN uses conv5_4 there:
    sharper textures than after the ReLU). Weights come from the user's file, with torchvision's
    key names (`features.N.weight`) or without the `features.` prefix; nothing is downloaded."""

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, weights: Path, layer: str = "conv5_4") -> None:
        super().__init__()
        if layer not in vgg19_layers():
            raise InputError(f"`vgg_layer`: {layer!r}; expected one of {', '.join(vgg19_layers())}", option="vgg_layer")
        layers: list[nn.Module] = []
        in_ch = 3
        for b, widths in enumerate(_VGG19_BLOCKS, 1):
            for c, width in enumerate(widths, 1):
                layers.append(nn.Conv2d(in_ch, width, 3, 1, 1))
                in_ch = width
                if f"conv{b}_{c}" == layer:
                    break
                layers.append(nn.ReLU(inplace=True))
            else:
                layers.append(nn.MaxPool2d(2))
                continue
            break
        self.features = nn.Sequential(*layers)
        self._load(weights)
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def _load(self, path: Path) -> None:
        from vsr.models.files import read_model_file

        weights, _ = read_model_file(path)
        if not isinstance(weights, dict):
            raise ModelError(f"{path}: not a VGG19 state dict")
        weights = {k.removeprefix("module.").removeprefix("features."): v for k, v in weights.items()}
        needed = self.features.state_dict()
        missing = [k for k in needed if k not in weights or weights[k].shape != needed[k].shape]
        if missing:
            raise ModelError(f"{path}: not VGG19 weights (missing or misshapen: {', '.join(missing[:4])}); "
                             "give torchvision's vgg19 state dict as .safetensors or .pth")
        self.features.load_state_dict({k: weights[k].float() for k in needed})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.features((x - self.mean) / self.std)
        return out


def perceptual_loss(extract: Callable[[torch.Tensor], list[torch.Tensor]], sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean L1 between the feature maps of the output and of the truth (the truth's not trained)."""
    with torch.no_grad():
        targets = extract(hr)
    outputs = extract(sr)
    return torch.stack([F.l1_loss(o, t.detach()) for o, t in zip(outputs, targets)]).mean()


def discriminator_loss(kind: str, real: torch.Tensor, fake: torch.Tensor, smoothing: float) -> torch.Tensor:
    """The discriminator's loss on logits for real and (detached) generated patches. One-sided
    label smoothing: real targets are 1 − smoothing, fake targets stay 0."""
    if kind == "ragan":
        real, fake = real - fake.mean(), fake - real.mean()
    return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 1.0 - smoothing))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))) / 2


def generator_adversarial_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """The generator's adversarial loss. Relativistic: make generated patches look *more real than
    the real ones* on average, and the real ones less (ESRGAN); `real` is detached."""
    if kind == "vanilla":
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))
    if kind == "ragan":
        real = real.detach()
        return (F.binary_cross_entropy_with_logits(real - fake.mean(), torch.zeros_like(real))
                + F.binary_cross_entropy_with_logits(fake - real.mean(), torch.ones_like(fake))) / 2
    raise InputError(f"`adversarial`: {kind!r}; expected one of {', '.join(ADVERSARIAL_LOSSES)}", option="adversarial")
