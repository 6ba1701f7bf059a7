"""Network interpolation (ESRGAN, Wang et al. 2018, section 3.4): the weights of a PSNR-oriented
network and of the GAN-trained network that grew from it, blended as
(1 − alpha) · first + alpha · second.

A GAN phase trades PSNR for sharpness, and how much varies from run to run; interpolating
between the two ends picks the trade after training, continuously, at no cost at run time.
It is only meaningful between networks of one lineage (the second fine-tuned from the first),
which share architecture, hyperparameters and every tensor's shape: anything else is refused.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch

from vsr.errors import ModelError
from vsr.models.catalogue import load_model, write_model
from vsr.models.descriptor import Model


def interpolate(first: Model, second: Model, alpha: float, *, name: str | None = None) -> Model:
    """A new model whose floating-point weights are (1 − alpha) · first's + alpha · second's;
    integer buffers (counters) are first's. `alpha` 0 is `first`, 1 is `second`."""
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ModelError(f"invalid alpha {alpha}: use a number from 0 (the first model) to 1 (the second)")
    ours, theirs = (first.arch, first.scale, dict(first.hyperparameters)), (second.arch, second.scale,
                                                                          dict(second.hyperparameters))
    if ours != theirs:
        raise ModelError(f"{first.name} and {second.name} are different networks "
                         f"({_describe(*ours)} against {_describe(*theirs)}): interpolation needs one "
                         "network trained twice, e.g. a GAN phase and the pixel phase it started from")
    a, b = first.model.state_dict(), second.model.state_dict()
    mismatched = sorted(k for k in a.keys() | b.keys() if k not in a or k not in b or a[k].shape != b[k].shape)
    if mismatched:
        raise ModelError(f"{first.name} and {second.name} do not hold the same tensors "
                         f"({', '.join(mismatched[:3])}{' …' if len(mismatched) > 3 else ''})")
    blended = {k: torch.lerp(v.float(), b[k].to(v.device).float(), alpha).to(v.dtype) if v.is_floating_point() else v
               for k, v in a.items()}
    net = copy.deepcopy(first.model)
    net.load_state_dict(blended)
    licences = dict.fromkeys(m.metadata.get("licence") or "unknown" for m in (first, second))
    metadata = {"source": f"interpolation: {1 - alpha:g} × {first.name} + {alpha:g} × {second.name}",
                "licence": " and ".join(licences)}
    return Model(model=net, name=name or f"{first.name}+{second.name}@{alpha:g}", arch=first.arch, scale=first.scale,
                 hyperparameters=first.hyperparameters, metadata=metadata, pad_multiple=first.pad_multiple,
                 half_precision=first.half_precision and second.half_precision)


def interpolate_files(first: str | Path, second: str | Path, out: Path, alpha: float, *, name: str | None = None,
                      replace: bool = False) -> Model:
    """`interpolate` of two model files (or catalogue names), written to `out` as safetensors
    with its provenance and both licences."""
    model = interpolate(load_model(first, device="cpu"), load_model(second, device="cpu"), alpha,
                        name=name or out.stem)
    write_model(out, model, source=model.metadata["source"], licence=model.metadata["licence"], replace=replace)
    return model


def _describe(arch: str, scale: int, hyperparameters: dict) -> str:
    return f"{arch} ×{scale} {json.dumps(hyperparameters, sort_keys=True)}"
