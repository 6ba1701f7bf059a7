"""Import ncnn `.param` + `.bin` models of the Real-ESRGAN family into canonical state dicts.

ncnn stores a graph (`.param`, text) and its weights (`.bin`, one blob per weighted layer in
graph order). Real-ESRGAN ships its models in this form; reading them lets vsr use the same
weights, and lets the ncnn runtime serve as an independent reference for our networks.
"""

from __future__ import annotations

import json
import math
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from vsr.errors import ModelError

_MAGIC = "7767517"
_FP16_TAG = 0x01306B47  # ncnn's marker for half-precision weight data
_ACTIVATION_NAMES = {0: None, 1: "relu", 2: "leakyrelu"}

# The layer types each family's graph is made of; anything else is a graph we cannot map.
_COMPACT_TYPES = {"Input", "Split", "Convolution", "PReLU", "ReLU", "PixelShuffle", "Interp", "BinaryOp"}
_RRDB_TYPES = {"Input", "Split", "Convolution", "Concat", "Eltwise", "BinaryOp", "Interp"}


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, float | list[float]] = field(default_factory=dict)
    blobs: list[np.ndarray] = field(default_factory=list)

    def param(self, key: int, default: float) -> float:
        value = self.params.get(key, default)
        return value[0] if isinstance(value, list) else value


def parse_param(text: str, source: Path) -> list[Layer]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or lines[0].strip() != _MAGIC:
        raise ModelError(f"{source}: not an ncnn .param file (first line is not {_MAGIC})")
    layers = []
    for lineno, line in enumerate(lines[2:], start=3):
        fields = line.split()
        try:
            n_in, n_out = int(fields[2]), int(fields[3])
            bottoms, tops = fields[4 : 4 + n_in], fields[4 + n_in : 4 + n_in + n_out]
            params: dict[int, float | list[float]] = {}
            for item in fields[4 + n_in + n_out :]:
                key_text, value = item.split("=", 1)
                key = int(key_text)
                if key <= -23300:  # ncnn's array parameters: id -23300-k holds "count,v1,v2,…" for k
                    params[-key - 23300] = [_finite(v) for v in value.split(",")[1:]]
                else:
                    params[key] = _finite(value)
        except (IndexError, ValueError) as exc:
            raise ModelError(f"{source}:{lineno}: malformed ncnn layer line") from exc
        layers.append(Layer(fields[0], fields[1], bottoms, tops, params))
    return layers


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


class _BinReader:
    def __init__(self, data: bytes, source: Path) -> None:
        self.data, self.pos, self.source = data, 0, source

    def _take(self, n: int) -> bytes:
        if n < 0:
            raise ModelError(f"{self.source}: its .param gives a layer a negative weight count")
        if self.pos + n > len(self.data):
            raise ModelError(f"{self.source}: ends early (needs {self.pos + n} bytes, has {len(self.data)}); "
                             "does it belong to this .param?")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def raw_fp32(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int) -> np.ndarray:
        (tag,) = struct.unpack("<I", self._take(4))
        if tag == _FP16_TAG:
            values = np.frombuffer(self._take(2 * count), dtype="<f2").astype(np.float32)
            self._take((-2 * count) % 4)  # fp16 data is padded to a multiple of 4 bytes
            return values
        if tag == 0:
            return self.raw_fp32(count)
        raise ModelError(f"{self.source}: weight storage tag {tag:#010x} (quantised or int8) is not supported")


def _read_weights(layers: list[Layer], bin_path: Path) -> None:
    reader = _BinReader(bin_path.read_bytes(), bin_path)
    for layer in layers:
        if layer.type == "Convolution":
            if layer.param(8, 0):
                raise ModelError(f"{bin_path}: int8 convolution {layer.name} is not supported")
            layer.blobs.append(reader.tagged(int(layer.param(6, 0))))
            if layer.param(5, 0):
                layer.blobs.append(reader.raw_fp32(int(layer.param(0, 0))))
        elif layer.type == "PReLU":
            layer.blobs.append(reader.raw_fp32(int(layer.param(0, 1))))
    if reader.pos != len(reader.data):
        raise ModelError(f"{bin_path}: {len(reader.data) - reader.pos} bytes left over; does it belong to this .param?")


def _conv_tensors(layer: Layer) -> tuple[torch.Tensor, torch.Tensor]:
    out_ch, kw = int(layer.param(0, 0)), int(layer.param(1, 0))
    kh = int(layer.param(11, kw))
    size = layer.blobs[0].size
    if min(out_ch, kh, kw) <= 0:
        raise ModelError(f"ncnn convolution {layer.name} has {out_ch} outputs and a {kh}x{kw} kernel")
    in_ch = size // (out_ch * kh * kw)
    if in_ch * out_ch * kh * kw != size or int(layer.param(3, 1)) != 1 or int(layer.param(4, 0)) != kw // 2:
        raise ModelError(f"ncnn convolution {layer.name} is not a same-padded stride-1 convolution")
    weight = torch.from_numpy(layer.blobs[0].reshape(out_ch, in_ch, kh, kw))
    bias = torch.from_numpy(layer.blobs[1]) if len(layer.blobs) > 1 else torch.zeros(out_ch)
    return weight, bias


def _fused_activation(layer: Layer) -> tuple[str | None, float]:
    kind = int(layer.param(9, 0))
    if kind not in _ACTIVATION_NAMES:
        raise ModelError(f"ncnn convolution {layer.name} has activation type {kind}, which no supported network uses")
    slope = layer.params.get(10, [0.0])
    return _ACTIVATION_NAMES[kind], float(slope[0] if isinstance(slope, list) and slope else 0.0)


def _compact_state_dict(layers: list[Layer], source: Path) -> tuple[dict[str, torch.Tensor], dict]:
    convs = [ly for ly in layers if ly.type == "Convolution"]
    sd: dict[str, torch.Tensor] = {}
    activations = set()
    for i, conv in enumerate(convs):
        sd[f"body.{2 * i}.weight"], sd[f"body.{2 * i}.bias"] = _conv_tensors(conv)
        fused, slope = _fused_activation(conv)
        if fused:
            activations.add(fused if fused == "relu" or abs(slope - 0.1) > 1e-6 else "leakyrelu")
    prelus = [ly for ly in layers if ly.type == "PReLU"]
    for i, prelu in enumerate(prelus):
        sd[f"body.{2 * i + 1}.weight"] = torch.from_numpy(prelu.blobs[0])
    if prelus:
        activations.add("prelu")
    for relu in (ly for ly in layers if ly.type == "ReLU"):
        activations.add("relu" if relu.param(0, 0.0) == 0 else "leakyrelu")
    if len(activations) != 1:
        raise ModelError(f"{source}: compact graph with activations {sorted(map(str, activations))}; expected exactly one kind")
    if prelus and len(prelus) != len(convs) - 1:
        raise ModelError(f"{source}: {len(prelus)} PReLU layers for {len(convs)} convolutions")
    shuffles = [ly for ly in layers if ly.type == "PixelShuffle"]
    add_index = max((i for i, ly in enumerate(layers) if ly.type == "BinaryOp"), default=-1)
    trailing = [ly for ly in layers[add_index + 1 :] if ly.type == "Interp"]
    if len(shuffles) != 1 or add_index < 0:
        raise ModelError(f"{source}: a compact graph needs one PixelShuffle and the input added back")
    if trailing:
        factor = int(shuffles[0].param(0, 1)) * trailing[0].param(1, 1.0)
        raise ModelError(
            f"{source}: the graph resizes the ×{int(shuffles[0].param(0, 1))} network's output to ×{factor:g} "
            "with a bicubic filter; import the ×4 file and ask vsr upscale for --scale instead"
        )
    return sd, {"activation": activations.pop()}


def _rrdb_state_dict(layers: list[Layer], source: Path) -> tuple[dict[str, torch.Tensor], dict]:
    convs = [ly for ly in layers if ly.type == "Convolution"]
    num_block, rest = divmod(len(convs) - 6, 15)
    eltwise = [ly for ly in layers if ly.type == "Eltwise"]
    if num_block < 1 or rest or len(eltwise) != 4 * num_block:
        raise ModelError(f"{source}: {len(convs)} convolutions and {len(eltwise)} residual adds do not form an RRDB network")
    for ly in eltwise:
        coefficients = ly.params.get(1, [])
        if not isinstance(coefficients, list) or [round(c, 6) for c in coefficients] != [0.2, 1.0]:
            raise ModelError(f"{source}: residual {ly.name} is not scaled by 0.2 as RRDBNet's are")
    names = ["conv_first"]
    names += [f"body.{b}.rdb{r}.conv{j}" for b in range(num_block) for r in (1, 2, 3) for j in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    sd: dict[str, torch.Tensor] = {}
    for name, conv in zip(names, convs):
        sd[f"{name}.weight"], sd[f"{name}.bias"] = _conv_tensors(conv)
    return sd, {}


def read_ncnn(param_path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The canonical state dict of an ncnn model and metadata hints (`hyperparameters`, `source`)."""
    bin_path = param_path.with_suffix(".bin")
    if not bin_path.is_file():
        raise ModelError(f"{param_path}: its weights {bin_path.name} are not beside it")
    layers = parse_param(param_path.read_text(encoding="utf-8", errors="replace"), param_path)
    types = Counter(ly.type for ly in layers)
    _read_weights(layers, bin_path)
    if set(types) <= _COMPACT_TYPES and "PixelShuffle" in types:
        sd, hints = _compact_state_dict(layers, param_path)
    elif set(types) <= _RRDB_TYPES and "Eltwise" in types:
        sd, hints = _rrdb_state_dict(layers, param_path)
    else:
        met = ", ".join(f"{t}×{n}" for t, n in sorted(types.items()))
        raise ModelError(f"{param_path}: cannot map this ncnn graph to a supported network; layer types: {met}")
    return sd, {"hyperparameters": json.dumps(hints), "source": f"ncnn {param_path.name}"}
