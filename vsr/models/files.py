"""Reading and writing model files without ever running a pickle.

`.safetensors` is read as it is; `.pth`, `.pt` and `.ckpt` only through torch's weights-only
unpickler, which refuses anything but tensors and plain containers before constructing it; ncnn
`.param` + `.bin` pairs go through vsr.models.ncnn. Writing is always safetensors, atomically.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vsr.atomic import atomic_write
from vsr.errors import ModelError

PICKLE_SUFFIXES = (".pth", ".pt", ".ckpt")
MODEL_SUFFIXES = (".safetensors", *PICKLE_SUFFIXES, ".param")


def read_metadata(path: Path) -> dict[str, str]:
    """A safetensors file's metadata header, without loading its tensors."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc


def read_model_file(path: Path) -> tuple[Any, dict[str, str]]:
    """The raw weights object of a model file and its metadata (empty where the format has none)."""
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            return load_file(str(path)), read_metadata(path)
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    if suffix in PICKLE_SUFFIXES:
        return _read_pickle_checkpoint(path), {}
    if suffix == ".param":
        from vsr.models.ncnn import read_ncnn

        return read_ncnn(path)
    raise ModelError(f"{path}: unsupported model file type {suffix or '(none)'}; expected one of {', '.join(MODEL_SUFFIXES)}")


def _read_pickle_checkpoint(path: Path) -> Any:
    try:
        with warnings.catch_warnings():
            # torch's warnings about the file (an unusual pickle protocol, say) are not lines for
            # the user: the file loads or is refused in one line.
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        # The weights-only unpickler stops at the first global it does not allow, before calling it.
        blocked = re.search(r"GLOBAL (\S+)", str(exc))
        if blocked is None:
            raise ModelError(f"{path}: not a readable PyTorch checkpoint (corrupt or not a pickle)") from exc
        raise ModelError(
            f"{path}: refused: the file holds objects other than tensors and plain containers "
            f"({blocked[1]}), and loading it would run code; convert it to .safetensors in a trusted environment"
        ) from exc
    except Exception as exc:
        # Whatever a corrupt pickle makes the weights-only unpickler raise (IndexError on an
        # empty stack, KeyError for a missing memo entry, TypeError, …): it ran no code, and the
        # file is not a checkpoint we can read.
        raise ModelError(f"{path}: not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})") from exc


def write_safetensors(path: Path, state_dict: dict[str, torch.Tensor], metadata: dict[str, Any], *,
                      replace: bool = True) -> None:
    """Write atomically: a temporary file beside the destination, renamed into place (without
    `replace`, a file that appeared there meanwhile is kept and OutputError raised)."""
    meta = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, replace=replace) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
