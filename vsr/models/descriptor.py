"""The model descriptor every other layer uses: a built network plus what it is and what it needs.

The descriptor is immutable: what a model is (name, architecture, scale, hyperparameters) and
what running it requires (inputs padded to a multiple, how far an output pixel sees, whether half
precision is safe) never change after loading. The network itself is an `nn.Module`, moved between
devices and precisions in place as torch does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from vsr.errors import ModelError
from vsr.models import registry
from vsr.models.checkpoint import canonical_state_dict

Runner = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Model:
    """`model(x)` upscales float NCHW RGB in [0, 1] by `scale` and clamps to [0, 1].

    Any input size works: where the architecture needs multiples (pixel-unshuffled RRDB ×2/×1),
    the input is padded by edge replication and the output cropped back.
    """

    model: nn.Module
    name: str
    arch: str
    scale: int
    hyperparameters: Mapping[str, Any]
    metadata: Mapping[str, str] = field(default_factory=dict)
    pad_multiple: int = 1  # the network sees inputs padded to a multiple of this
    half_precision: bool = True  # whether fp16/bf16 inference is safe

    @cached_property
    def receptive_radius(self) -> int:
        """How far, in input pixels, an output pixel can see: at most the sum of every
        convolution's half-width (convolutions after upsampling see less). Tiles overlapping
        by this are exact."""
        return sum((max(m.kernel_size) // 2) * max(m.dilation) for m in self.model.modules() if isinstance(m, nn.Conv2d))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """The input size the network really sees, after padding to `pad_multiple`."""
        m = self.pad_multiple
        return height + (-height) % m, width + (-width) % m

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Model:
        """Move the network (in place, as `nn.Module.to` does) and return this descriptor."""
        self.model.to(device=device, dtype=dtype)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)

    def run(self, x: torch.Tensor, runner: Runner | None = None) -> torch.Tensor:
        """`x` through `runner` (a compiled or TensorRT version of the network; default the
        network itself), padded to what the network needs, cropped back and clamped."""
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.pad_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        with torch.inference_mode():
            inp = x.to(device=self.device, dtype=self.dtype)
            if pad_h or pad_w:
                inp = F.pad(inp, (0, pad_w, 0, pad_h), mode="replicate")
            out = (runner or self.model)(inp)[..., : h * self.scale, : w * self.scale]
            return out.clamp_(0, 1).to(x.dtype)


def describe_network(net: nn.Module, spec: registry.ArchSpec, hyperparameters: Mapping[str, Any], *, name: str,
                     metadata: Mapping[str, str] | None = None) -> Model:
    """The descriptor of a network built from `spec` with `hyperparameters`."""
    return Model(model=net, name=name, arch=spec.name, scale=int(hyperparameters["scale"]),
                 hyperparameters=dict(hyperparameters), metadata=dict(metadata or {}),
                 pad_multiple=spec.pad_multiple(dict(hyperparameters)), half_precision=spec.half_precision)


def _hints(metadata: Mapping[str, str]) -> dict[str, Any]:
    try:
        hints = json.loads(metadata.get("hyperparameters", "{}"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"model metadata 'hyperparameters' is not JSON: {exc}") from exc
    return hints if isinstance(hints, dict) else {}


def model_from_weights(weights: Any, metadata: Mapping[str, str], *, name: str) -> Model:
    """Detect, build and load a network from a checkpoint object and its file metadata."""
    sd = canonical_state_dict(weights)
    # A NaN weight makes every output pixel NaN (an all-black video), which would look like a
    # half-precision overflow at run time; say what it is at load instead.
    broken = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if broken:
        raise ModelError(f"model {name}: the weights hold NaN or infinite values ({', '.join(broken[:3])}"
                         f"{', …' if len(broken) > 3 else ''}); the file is damaged, or its training diverged")
    spec, hp = registry.detect(sd, _hints(metadata))
    stated = metadata.get("arch")
    if stated and stated != spec.name:
        raise ModelError(f"model {name}: metadata says arch {stated!r} but the weights are {spec.name}")
    return describe_network(registry.build(spec, hp, sd), spec, hp, name=name, metadata=metadata)
