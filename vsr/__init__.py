"""vsr: video, GIF and image super-resolution.

The public API is imported lazily so that `vsr --help` and `import vsr.errors` stay instant;
torch is loaded the first time a model is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vsr.errors import BackendError, InputError, ModelError, OutputError, VsrError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from vsr.model import Model, load_model
    from vsr.pipeline import upscale

__all__ = ["BackendError", "InputError", "Model", "ModelError", "OutputError", "VsrError", "__version__", "load_model", "upscale"]


def __getattr__(name: str) -> Any:
    if name in ("load_model", "Model"):
        from vsr import model

        return getattr(model, name)
    if name == "upscale":
        from vsr.pipeline import upscale

        return upscale
    raise AttributeError(f"module 'vsr' has no attribute {name!r}")
