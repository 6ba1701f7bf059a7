"""The model descriptor every other part of vsr uses: a built network plus what it is."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from vsr import zoo
from vsr.errors import ModelError


@dataclass
class Model:
    """`model(x)` upscales float NCHW RGB in [0, 1] by `scale` and clamps to [0, 1].

    Any input size works: where the architecture needs multiples (pixel-unshuffled RRDB ×2/×1),
    the input is padded by edge replication and the output cropped back.
    """

    model: nn.Module
    name: str
    arch: str
    scale: int
    hyperparameters: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    pad_multiple: int = 1
    # What runs the network (a compiled or TensorRT version of `model`); None: `model` itself.
    runner: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, repr=False)

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
        self.model.to(device=device, dtype=dtype)
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        m = self.pad_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        with torch.inference_mode():
            inp = x.to(device=self.device, dtype=self.dtype)
            if pad_h or pad_w:
                inp = F.pad(inp, (0, pad_w, 0, pad_h), mode="replicate")
            out = (self.runner or self.model)(inp)[..., : h * self.scale, : w * self.scale]
            return out.clamp_(0, 1).to(x.dtype)


def _hints(metadata: dict[str, str]) -> dict[str, Any]:
    try:
        hints = json.loads(metadata.get("hyperparameters", "{}"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"model metadata 'hyperparameters' is not JSON: {exc}") from exc
    return hints if isinstance(hints, dict) else {}


def model_from_weights(weights: Any, metadata: dict[str, str], *, name: str) -> Model:
    """Detect, build and load a network from a checkpoint object and its file metadata."""
    sd = zoo.canonical_state_dict(weights)
    spec, hp = zoo.detect(sd, _hints(metadata))
    stated = metadata.get("arch")
    if stated and stated != spec.name:
        raise ModelError(f"model {name}: metadata says arch {stated!r} but the weights are {spec.name}")
    net = zoo.build(spec, hp, sd)
    return Model(
        model=net,
        name=name,
        arch=spec.name,
        scale=int(hp["scale"]),
        hyperparameters=hp,
        metadata=metadata,
        pad_multiple=spec.pad_multiple(hp),
    )


def load_model(name_or_path: str | Path, *, device: torch.device | str | None = None,
               dtype: torch.dtype | None = None) -> Model:
    """A built-in or imported model by name, or any supported model file by path."""
    from vsr.catalogue import resolve
    from vsr.modelfile import read_model_file

    path = resolve(name_or_path)
    weights, metadata = read_model_file(path)
    name = metadata.get("name") or path.stem
    model = model_from_weights(weights, metadata, name=name)
    # Weights may be stored in half precision; compute in fp32 unless asked otherwise.
    return model.to(device=device, dtype=dtype or torch.float32)
