"""The package version: a base module, so that every layer may record it (manifests, model metadata)."""

__version__ = "0.1.0"
