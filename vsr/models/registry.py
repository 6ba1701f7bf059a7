"""The architecture registry: recognise a canonical state dict's architecture and hyperparameters
from its tensor shapes, and build the matching network.

One declarative `ArchSpec` per architecture in one ordered tuple, `ARCHITECTURES`; nothing is
registered at import time elsewhere. Checkpoint wrappers and legacy layouts are normalised before
this, by vsr.models.checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from vsr.errors import ModelError
from vsr.models.archs.compact import SRVGGNetCompact
from vsr.models.archs.msrresnet import MSRResNet
from vsr.models.archs.rrdb import UNSHUFFLE_FACTOR, RRDBNet
from vsr.models.archs.srresnet import SRResNet
from vsr.models.checkpoint import StateDict, indices

Hyperparameters = dict[str, Any]


@dataclass(frozen=True)
class ArchSpec:
    """How to recognise, build and feed one architecture.

    `detect` returns the hyperparameters when the state dict is of this architecture, else None.
    `hints` are hyperparameters a file's metadata states; detect uses them only for what shapes
    cannot tell (the weight-free activation of a compact net, say). `examples` are small
    hyperparameter sets: the test suite round-trips every one, so registering is being tested.
    """

    name: str
    title: str
    build: Callable[..., nn.Module]
    detect: Callable[[StateDict, Mapping[str, Any]], Hyperparameters | None]
    pad_multiple: Callable[[Hyperparameters], int] = lambda hp: 1
    examples: tuple[Hyperparameters, ...] = field(default_factory=tuple)
    # Whether inference may run in fp16/bf16. Every network here may; one whose activations
    # overflow half precision says False, and the engine then runs it in fp32.
    half_precision: bool = True


def _pixel_shuffle_factor(out_channels: int, channels: int, what: str) -> int:
    factor = round((out_channels / channels) ** 0.5)
    if factor < 1 or factor * factor * channels != out_channels:
        raise ModelError(f"{what} has {out_channels} output channels, not {channels}×(a square): unknown layout")
    return factor


def _detect_compact(sd: StateDict, hints: Mapping[str, Any]) -> Hyperparameters | None:
    if "body.0.weight" not in sd or not all(k.startswith("body.") for k in sd):
        return None
    convs = [i for i in indices(sd, r"body\.(\d+)\.weight") if sd[f"body.{i}.weight"].ndim == 4]
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)):
        return None
    first, last = sd["body.0.weight"], sd[f"body.{convs[-1]}.weight"]
    num_in_ch = first.shape[1]
    # PReLU is the only activation with weights; relu and leakyrelu leave none, so only the
    # file's metadata can tell them apart (Real-ESRGAN's published compact nets are all PReLU).
    activation = "prelu" if "body.1.weight" in sd else hints.get("activation", "relu")
    return {
        "num_in_ch": num_in_ch,
        "num_out_ch": num_in_ch,
        "num_feat": first.shape[0],
        "num_conv": len(convs) - 2,
        "scale": _pixel_shuffle_factor(last.shape[0], num_in_ch, f"body.{convs[-1]}"),
        "activation": activation,
    }


def _detect_rrdb(sd: StateDict, hints: Mapping[str, Any]) -> Hyperparameters | None:
    if not {"conv_first.weight", "body.0.rdb1.conv1.weight", "conv_up1.weight"} <= sd.keys():
        return None
    if "conv_up3.weight" in sd:
        raise ModelError("RRDBNet with conv_up3 (an ×8 ESRGAN variant) is not supported")
    num_out_ch = sd["conv_last.weight"].shape[0]
    in_total = sd["conv_first.weight"].shape[1]
    # ×2 and ×1 models take a pixel-unshuffled input, so conv_first sees 4 or 16 times the channels.
    by_channels = {num_out_ch * f * f: s for s, f in UNSHUFFLE_FACTOR.items()}
    if "scale" in hints and int(hints["scale"]) in UNSHUFFLE_FACTOR:
        scale = int(hints["scale"])
    elif in_total in by_channels:
        scale = by_channels[in_total]
    else:
        raise ModelError(f"RRDBNet conv_first takes {in_total} channels for {num_out_ch} out: scale unknown")
    return {
        "num_in_ch": in_total // UNSHUFFLE_FACTOR[scale] ** 2,
        "num_out_ch": num_out_ch,
        "scale": scale,
        "num_feat": sd["conv_first.weight"].shape[0],
        "num_block": len(indices(sd, r"body\.(\d+)\.rdb1\.conv1\.weight")),
        "num_grow_ch": sd["body.0.rdb1.conv1.weight"].shape[0],
        "base": hints.get("base", "none"),  # weight-free: only the file's metadata can say
    }


def _detect_srresnet(sd: StateDict, hints: Mapping[str, Any]) -> Hyperparameters | None:
    if not {"conv_first.weight", "act_first.weight", "conv_body.weight", "upconv1.weight"} <= sd.keys():
        return None
    num_feat = sd["conv_first.weight"].shape[0]
    scale = 1
    for i in indices(sd, r"upconv(\d+)\.weight"):
        scale *= _pixel_shuffle_factor(sd[f"upconv{i}.weight"].shape[0], num_feat, f"upconv{i}")
    return {
        "num_in_ch": sd["conv_first.weight"].shape[1],
        "num_out_ch": sd["conv_last.weight"].shape[0],
        "num_feat": num_feat,
        "num_block": len(indices(sd, r"body\.(\d+)\.conv1\.weight")),
        "scale": scale,
        "kernel_size": sd["conv_first.weight"].shape[-1],
        "batch_norm": "bn_body.weight" in sd,
        # A skip from the bicubic upscale has no weights: only the file's metadata can say so.
        "base": hints.get("base", "none"),
    }


def _detect_msrresnet(sd: StateDict, hints: Mapping[str, Any]) -> Hyperparameters | None:
    if not {"conv_first.weight", "upconv1.weight", "conv_hr.weight", "conv_last.weight"} <= sd.keys():
        return None
    if "act_first.weight" in sd or "body.0.rdb1.conv1.weight" in sd:
        return None
    num_feat = sd["conv_first.weight"].shape[0]
    first = _pixel_shuffle_factor(sd["upconv1.weight"].shape[0], num_feat, "upconv1")
    return {
        "num_in_ch": sd["conv_first.weight"].shape[1],
        "num_out_ch": sd["conv_last.weight"].shape[0],
        "num_feat": num_feat,
        "num_block": len(indices(sd, r"body\.(\d+)\.conv1\.weight")),
        "scale": 4 if "upconv2.weight" in sd else first,
    }


ARCHITECTURES: tuple[ArchSpec, ...] = (
    ArchSpec(
        name="compact",
        title="SRVGGNetCompact (Real-ESRGAN compact)",
        build=SRVGGNetCompact,
        detect=_detect_compact,
        examples=(
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2, "scale": 4, "activation": "prelu"},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 6, "num_conv": 1, "scale": 2, "activation": "relu"},
            {"num_in_ch": 1, "num_out_ch": 1, "num_feat": 4, "num_conv": 3, "scale": 3, "activation": "leakyrelu"},
        ),
    ),
    ArchSpec(
        name="rrdb",
        title="RRDBNet (ESRGAN)",
        build=RRDBNet,
        detect=_detect_rrdb,
        pad_multiple=lambda hp: UNSHUFFLE_FACTOR[hp["scale"]],
        examples=(
            {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 8, "num_block": 2, "num_grow_ch": 4, "base": "none"},
            {"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 6, "num_block": 1, "num_grow_ch": 3,
             "base": "bicubic"},
            {"num_in_ch": 3, "num_out_ch": 3, "scale": 1, "num_feat": 4, "num_block": 1, "num_grow_ch": 2, "base": "none"},
        ),
    ),
    ArchSpec(
        name="srresnet",
        title="SRResNet (SRGAN generator)",
        build=SRResNet,
        detect=_detect_srresnet,
        examples=(
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 2, "scale": 4, "kernel_size": 9, "batch_norm": True,
             "base": "none"},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_block": 1, "scale": 3, "kernel_size": 9, "batch_norm": False,
             "base": "none"},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_block": 1, "scale": 8, "kernel_size": 3, "batch_norm": True,
             "base": "none"},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_block": 3, "scale": 2, "kernel_size": 9, "batch_norm": False,
             "base": "bicubic"},
        ),
    ),
    ArchSpec(
        name="msrresnet",
        title="MSRResNet (BasicSR SRResNet)",
        build=MSRResNet,
        detect=_detect_msrresnet,
        examples=(
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_block": 2, "scale": 4},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_block": 1, "scale": 3},
            {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 4, "num_block": 1, "scale": 2},
        ),
    ),
)


def get_spec(name: str) -> ArchSpec:
    for spec in ARCHITECTURES:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in ARCHITECTURES)
    raise ModelError(f"unknown architecture {name!r}; known: {known}")


def detect(state_dict: StateDict, hints: Mapping[str, Any] | None = None) -> tuple[ArchSpec, Hyperparameters]:
    """Name the architecture of a canonical state dict and its hyperparameters, from shapes."""
    hints = hints or {}
    for spec in ARCHITECTURES:
        hp = spec.detect(state_dict, hints)
        if hp is not None:
            return spec, hp
    keys = sorted(state_dict)
    shown = ", ".join(keys[:8]) + (f" … ({len(keys)} keys)" if len(keys) > 8 else "")
    known = ", ".join(s.name for s in ARCHITECTURES)
    raise ModelError(f"unknown model layout (known: {known}); keys seen: {shown}")


def build(spec: ArchSpec, hp: Hyperparameters, state_dict: StateDict | None = None) -> nn.Module:
    """Build the network in eval mode and, when given, load the weights with strict=True."""
    try:
        net = spec.build(**hp)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"cannot build {spec.name} with {hp}: {exc}") from exc
    if state_dict is not None:
        expected = net.state_dict()
        missing = sorted(expected.keys() - state_dict.keys())
        unexpected = sorted(state_dict.keys() - expected.keys())
        wrong = sorted(k for k in expected.keys() & state_dict.keys() if expected[k].shape != state_dict[k].shape)
        if missing or unexpected or wrong:
            parts = [f"{what}: {', '.join(keys[:5])}" for what, keys in
                     (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
            raise ModelError(f"weights do not fit {spec.name} {hp} ({'; '.join(parts)})")
        net.load_state_dict({k: v.to(expected[k].dtype) for k, v in state_dict.items()}, strict=True)
    return net.eval()
