"""A job's options as the job API takes them: the CLI's long options with `_` for `-`, with the
CLI's defaults, turned into the library's records (which check every value). What the web may not
choose is refused: model files (a catalogue name only), executors, work folders, limits."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from vsr.errors import InputError
from vsr.pipeline import ExecutionOptions, ImageEncoding, RuntimeOptions, UpscaleOptions, VideoEncoding

# name → the JSON types it takes (None: null, for "the default").
_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,), "scale": (int, float, type(None)), "device": (str,), "precision": (str,), "backend": (str,),
    "batch_size": (int, type(None)), "tile": (int,), "codec": (str, type(None)), "crf": (int, type(None)),
    "preset": (str, type(None)), "pix_fmt": (str, type(None)), "no_audio": (bool,), "gif_palette": (str,),
    "dither": (str,), "quality": (int, type(None)), "background": (str, type(None)), "temporal_blend": (int, float),
    "segment_seconds": (int, float), "workers": (int, type(None)),
}
OPTION_NAMES = tuple(_TYPES)
# The output formats the page offers, as the output name's suffix.
OUTPUT_SUFFIXES = (".mp4", ".mkv", ".webm", ".gif", ".webp", ".apng", ".png", ".jpg")


class Refused(ValueError):
    """A request the server will not do: one sentence saying why (a 4xx)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def upscale_options(given: Any) -> UpscaleOptions:
    """The library's options from the API's `options` object; Refused, in one sentence, for an
    unknown name, a value of the wrong type, a model that is not in the catalogue, or a value
    the library refuses."""
    from vsr.models.catalogue import list_models

    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise Refused("options must be an object of the CLI's long options, with _ for -")
    unknown = sorted(set(given) - set(_TYPES))
    if unknown:
        raise Refused(f"unknown option {unknown[0]!r}; the options are {', '.join(OPTION_NAMES)}")
    for name, value in given.items():
        if not isinstance(value, _TYPES[name]) or (isinstance(value, bool) and bool not in _TYPES[name]):
            raise Refused(f"option {name}: {value!r} is not a {' or '.join(_type_name(t) for t in _TYPES[name])}")
        if isinstance(value, float) and not math.isfinite(value):
            raise Refused(f"option {name}: {value!r} is not a finite number")
    o = dict(given)
    models = [e.name for e in list_models()]
    if "model" in o and o["model"] not in models:
        raise Refused(f"model {o['model']!r} is not in the catalogue ({', '.join(models)})")
    try:
        runtime = RuntimeOptions(**{k: o[k] for k in ("model", "device", "precision", "backend", "batch_size", "tile")
                                    if k in o})
        video = VideoEncoding(codec=o.get("codec"), crf=o.get("crf"), preset=o.get("preset"), pix_fmt=o.get("pix_fmt"),
                              audio=not o.get("no_audio", False))
        image = ImageEncoding(**{k: o[k] for k in ("gif_palette", "dither", "quality", "background") if k in o})
        execution = ExecutionOptions(**{k: o[k] for k in ("segment_seconds", "workers") if k in o})
        return UpscaleOptions(scale=o.get("scale"), runtime=runtime, video=video, image=image,
                              temporal_blend=float(o.get("temporal_blend", 0.0)), execution=execution)
    except InputError as exc:
        raise Refused(exc.plain) from None


def output_name(name: Any, input_name: str) -> str:
    """The job's output file name: a base name only, with one of the formats offered."""
    if name is None:
        name = Path(input_name).stem + ".mkv"
    if not isinstance(name, str) or not name.strip():
        raise Refused("output must be a file name, such as clip-x4.mkv")
    base = Path(name.replace("\\", "/")).name
    if base != name or base.startswith(".") or base in ("", ".", ".."):
        raise Refused(f"output {name!r}: a file name, without a folder")
    if Path(base).suffix.lower() not in OUTPUT_SUFFIXES:
        raise Refused(f"output {name!r}: the format is one of {', '.join(s.lstrip('.') for s in OUTPUT_SUFFIXES)}")
    return base


def _type_name(kind: type) -> str:
    return {str: "string", int: "whole number", float: "number", bool: "true or false", type(None): "null"}[kind]
