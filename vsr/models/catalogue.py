"""Where models live: the built-in ones shipped in weights/, and the ones a user imported into
$VSR_HOME/models. Names resolve to files here, and `load_model` turns a name or a file into a
descriptor; everything else works from paths."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import torch

from vsr.errors import ModelError
from vsr.models import registry
from vsr.models.checkpoint import canonical_state_dict
from vsr.models.descriptor import Model, model_from_weights
from vsr.models.files import MODEL_SUFFIXES, read_metadata, read_model_file, write_safetensors

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


def builtin_dir() -> Path:
    """weights/ sits inside the installed package (wheel) or beside it (source checkout)."""
    package = Path(__file__).resolve().parent.parent
    inside = package / "weights"
    return inside if inside.is_dir() else package.parent / "weights"


def user_dir() -> Path:
    home = os.environ.get("VSR_HOME")
    base = Path(home).expanduser() if home else platformdirs.user_data_path("vsr")
    return base / "models"


@dataclass(frozen=True)
class Entry:
    name: str
    arch: str
    scale: int
    path: Path
    builtin: bool
    source: str
    licence: str

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "arch": self.arch, "scale": self.scale, "path": str(self.path),
                "builtin": self.builtin, "source": self.source, "licence": self.licence}


def _entry(path: Path, *, builtin: bool) -> Entry:
    meta = read_metadata(path)
    return Entry(
        name=meta.get("name") or path.stem,
        arch=meta.get("arch", "?"),
        scale=int(meta.get("scale", 0)),
        path=path,
        builtin=builtin,
        source=meta.get("source", ""),
        licence=meta.get("licence", ""),
    )


def list_models() -> list[Entry]:
    """Built-in models first, then imported ones, each sorted by name."""
    entries = []
    for folder, builtin in ((builtin_dir(), True), (user_dir(), False)):
        if folder.is_dir():
            entries += sorted((_entry(p, builtin=builtin) for p in folder.glob("*.safetensors")), key=lambda e: e.name)
    return entries


def resolve(name_or_path: str | Path) -> Path:
    """A model's file: an existing path as given, else an imported name, else a built-in name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    text = str(name_or_path)
    if _NAME.fullmatch(text):
        for folder in (user_dir(), builtin_dir()):
            candidate = folder / f"{text}.safetensors"
            if candidate.is_file():
                return candidate
    if path.suffix.lower() in MODEL_SUFFIXES or os.sep in text:
        raise ModelError(f"{text}: no such model file")
    known = ", ".join(e.name for e in list_models()) or "none"
    raise ModelError(f"unknown model {text!r}; known models: {known} (`vsr models import FILE` adds one)")


def portable_reference(name_or_path: str | Path) -> str:
    """How another process or machine finds the same model: a built-in model by its name (each
    installation has its own copy), anything else by its absolute path (which every worker must
    see)."""
    path = resolve(name_or_path).resolve()
    if path.parent == builtin_dir().resolve():
        return path.stem
    return str(path)


def load_model(name_or_path: str | Path, *, device: torch.device | str | None = None,
               dtype: torch.dtype | None = None) -> Model:
    """A built-in or imported model by name, or any supported model file by path."""
    path = resolve(name_or_path)
    weights, metadata = read_model_file(path)
    model = model_from_weights(weights, metadata, name=metadata.get("name") or path.stem)
    # Weights may be stored in half precision; compute in fp32 unless asked otherwise.
    return model.to(device=device, dtype=dtype or torch.float32)


def convert_model(src: Path, dst: Path, *, name: str | None = None, source: str | None = None,
                  licence: str | None = None, half: bool = False, replace: bool = True) -> Model:
    """Validate any supported model file and write it as safetensors with full metadata."""
    weights, metadata = read_model_file(src)
    name = name or metadata.get("name") or src.stem
    model = model_from_weights(weights, metadata, name=name)
    write_model(dst, model, source=source or metadata.get("source") or src.name,
                licence=licence or metadata.get("licence") or "unknown", half=half, replace=replace)
    return model


def write_model(dst: Path, model: Model, *, source: str, licence: str, half: bool = False,
                replace: bool = True) -> None:
    """A model as safetensors with the metadata vsr reads back: name, arch, scale, hyperparameters,
    provenance and storage type."""
    sd = model.model.state_dict()
    if half:
        sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
    write_safetensors(dst, sd, {
        "name": model.name,
        "arch": model.arch,
        "scale": str(model.scale),
        "hyperparameters": json.dumps(dict(model.hyperparameters), sort_keys=True),
        "source": source,
        "licence": licence,
        "dtype": "float16" if half else str(next(iter(sd.values())).dtype).removeprefix("torch."),
    }, replace=replace)


def import_model(src: Path, *, name: str | None = None, overwrite: bool = False, half: bool = False) -> Entry:
    """Copy a model into the user's catalogue as safetensors, usable by name afterwards."""
    name = name or src.stem
    if not _NAME.fullmatch(name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '.', '_', '+' and '-'")
    if (builtin_dir() / f"{name}.safetensors").is_file():
        raise ModelError(f"{name!r} is a built-in model's name; choose another with `name`", option="name")
    dst = user_dir() / f"{name}.safetensors"
    if dst.exists() and not overwrite:
        raise ModelError(f"a model named {name!r} is already imported ({dst}); use `overwrite` to replace it", option="overwrite")
    convert_model(src, dst, name=name, half=half, replace=overwrite)
    return _entry(dst, builtin=False)


def describe(name_or_path: str | Path) -> dict[str, object]:
    """What `vsr models info` shows: architecture, hyperparameters, size, storage, provenance."""
    path = resolve(name_or_path)
    weights, metadata = read_model_file(path)
    model = model_from_weights(weights, metadata, name=metadata.get("name") or path.stem)
    stored = next(v.dtype for v in canonical_state_dict(weights).values() if v.is_floating_point())
    spec = registry.get_spec(model.arch)
    return {
        "name": model.name,
        "arch": model.arch,
        "title": spec.title,
        "scale": model.scale,
        "hyperparameters": dict(model.hyperparameters),
        "parameters": model.num_parameters,
        "dtype": str(stored).removeprefix("torch."),
        "source": metadata.get("source", ""),
        "licence": metadata.get("licence", ""),
        "path": str(path),
    }
