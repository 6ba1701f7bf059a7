"""vsr: video, GIF and image super-resolution.

    import vsr
    vsr.upscale("in.mp4", "out.mp4", vsr.UpscaleOptions(scale=2))

The public API is imported lazily, so that `vsr --help` and `import vsr.errors` stay instant;
torch is loaded the first time a model is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vsr.errors import BackendError, InputError, ModelError, OutputError, VsrError
from vsr.version import __version__

if TYPE_CHECKING:
    from vsr.models.catalogue import load_model
    from vsr.models.descriptor import Model
    from vsr.pipeline.options import ExecutionOptions, ImageEncoding, RuntimeOptions, UpscaleOptions, VideoEncoding
    from vsr.pipeline.run import FolderReport, Summary
    from vsr.pipeline.upscale import upscale, upscale_folder

__all__ = ["BackendError", "ExecutionOptions", "FolderReport", "ImageEncoding", "InputError", "Model", "ModelError",
           "OutputError", "RuntimeOptions", "Summary", "UpscaleOptions", "VideoEncoding", "VsrError", "__version__",
           "load_model", "upscale", "upscale_folder"]


def __getattr__(name: str) -> Any:
    if name in ("load_model", "Model"):
        from vsr.models import catalogue, descriptor

        return getattr(catalogue if name == "load_model" else descriptor, name)
    if name in ("UpscaleOptions", "RuntimeOptions", "VideoEncoding", "ImageEncoding", "ExecutionOptions"):
        from vsr.pipeline import options

        return getattr(options, name)
    if name in ("Summary", "FolderReport"):
        from vsr.pipeline import run

        return getattr(run, name)
    if name in ("upscale", "upscale_folder"):
        from vsr.pipeline import upscale

        return getattr(upscale, name)
    raise AttributeError(f"module 'vsr' has no attribute {name!r}")
