"""Rate–distortion plots (matplotlib, the optional extra `vsr[plot]`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vsr.atomic import atomic_write, check_output
from vsr.errors import InputError

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot(path: Path, *, overwrite: bool) -> None:
    """Refuse, before the work, a plot that could not be written."""
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError(f"`plot` {path}: a {', '.join(PLOT_SUFFIXES)} file", option="plot")
    check_output(path, overwrite=overwrite)
    _pyplot()


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise InputError("`plot` needs matplotlib: pip install 'vsr[plot]'", option="plot") from exc
    return plt


def plot_rd(result: dict[str, Any], path: Path, *, replace: bool = True) -> None:
    """The rate–distortion curves of every method in `result["rows"]`, PSNR and SSIM side by side,
    written atomically (the format from the suffix)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("psnr", "ssim")):
        for method in dict.fromkeys(r["method"] for r in result["rows"]):  # in order of appearance
            points = [r for r in result["rows"] if r["method"] == method]
            ax.plot([r["kbps"] for r in points], [r[key] for r in points], "o-", label=method)
        ax.set_xscale("log")
        ax.set_xlabel("kbit/s")
        ax.set_ylabel(f"{key.upper()} (Y)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"{Path(result['reference']).name}: {result['model']} ×{result['scale']}, {result['codec']}")
    fig.tight_layout()
    try:
        with atomic_write(path, replace=replace) as tmp:
            fig.savefig(tmp, dpi=120, format=path.suffix.lower().lstrip("."))
    finally:
        plt.close(fig)
