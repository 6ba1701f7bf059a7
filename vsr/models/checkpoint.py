"""Checkpoint normalisation: whatever wrapper and key layout a trainer saved, the generator's
weights under BasicSR's canonical key names, which every network in vsr.models.archs uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from vsr.errors import ModelError

StateDict = dict[str, torch.Tensor]


def indices(state_dict: Mapping[str, Any], pattern: str) -> list[int]:
    """Sorted distinct integers N found where `pattern` (a regex with one group) matches a key."""
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state_dict if (m := rx.fullmatch(k))})


# Keys under which trainers nest the generator's weights, best first: BasicSR saves the EMA
# weights as params_ema beside params, and those are the ones its authors publish.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net_g", "generator")
_PREFIXES = ("module.", "_orig_mod.")


def _unwrap(obj: Any) -> Any:
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            return obj
        obj = inner
    return obj


def _strip_prefixes(key: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


_OLD_ESRGAN_TOP = {"model.0": "conv_first", "model.3": "conv_up1", "model.6": "conv_up2", "model.8": "conv_hr",
                   "model.10": "conv_last"}


def _remap_old_esrgan(sd: StateDict) -> StateDict:
    """The original ESRGAN repository's layout (`model.1.sub.N.RDB1.conv1.0`) → BasicSR names."""
    blocks = indices(sd, r"model\.1\.sub\.(\d+)\.weight")
    last = blocks[-1] if blocks else None
    out: StateDict = {}
    for key, value in sd.items():
        if m := re.fullmatch(r"model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias)", key):
            out[f"body.{m[1]}.rdb{m[2]}.conv{m[3]}.{m[4]}"] = value
        elif last is not None and (m := re.fullmatch(rf"model\.1\.sub\.{last}\.(weight|bias)", key)):
            out[f"conv_body.{m[1]}"] = value
        elif (m := re.fullmatch(r"(model\.\d+)\.(weight|bias)", key)) and m[1] in _OLD_ESRGAN_TOP:
            out[f"{_OLD_ESRGAN_TOP[m[1]]}.{m[2]}"] = value
        else:
            out[key] = value  # left for the detector to report as unknown
    return out


def canonical_state_dict(obj: Any) -> StateDict:
    """Unwrap a checkpoint and return its generator weights under canonical key names."""
    sd = _unwrap(obj)
    if not isinstance(sd, Mapping) or not sd:
        raise ModelError("the file holds no state dict (a mapping of parameter names to tensors)")
    others = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if others:
        raise ModelError(f"the state dict holds non-tensor entries: {', '.join(map(str, others[:6]))}")
    sd = {_strip_prefixes(k): v for k, v in sd.items()}
    if "model.0.weight" in sd and any(k.startswith("model.1.sub.") for k in sd):
        sd = _remap_old_esrgan(sd)
    return sd


