"""vsr: video, GIF and image super-resolution.

    import vsr
    vsr.upscale("in.mp4", "out.mp4", vsr.UpscaleOptions(scale=2))

    job = vsr.Job("in.mp4", "out.mp4", on_event=print).start()   # events, cancel(), wait()

The public API is imported lazily, so that `vsr --help` and `import vsr.errors` stay instant;
torch is loaded the first time a model is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vsr.errors import BackendError, Cancelled, InputError, ModelError, OutputError, VsrError
from vsr.lazy import exports
from vsr.version import __version__

if TYPE_CHECKING:
    from vsr.models.catalogue import load_model
    from vsr.models.descriptor import Model
    from vsr.pipeline import (
        ExecutionOptions,
        FileFailure,
        FolderReport,
        ImageEncoding,
        Job,
        Progress,
        RuntimeOptions,
        Summary,
        UpscaleOptions,
        VideoEncoding,
        upscale,
        upscale_folder,
    )

__all__ = ["BackendError", "Cancelled", "ExecutionOptions", "FileFailure", "FolderReport", "ImageEncoding",
           "InputError", "Job", "Model", "ModelError", "OutputError", "Progress", "RuntimeOptions", "Summary",
           "UpscaleOptions", "VideoEncoding", "VsrError", "__version__", "load_model", "upscale", "upscale_folder"]

_ORIGINS = {
    "load_model": "vsr.models.catalogue",
    "Model": "vsr.models.descriptor",
    **dict.fromkeys(["ExecutionOptions", "FileFailure", "FolderReport", "ImageEncoding", "Job", "Progress",
                     "RuntimeOptions", "Summary", "UpscaleOptions", "VideoEncoding", "upscale", "upscale_folder"],
                    "vsr.pipeline"),
}
__getattr__, __dir__ = exports(__name__, _ORIGINS)
