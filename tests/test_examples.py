"""The scripts in examples/ run as a user copies them, each on inputs made here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from clips import PHOTO, make_clip

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script: str, *args: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / script), *map(str, args)], check=False, capture_output=True,
                          text=True, timeout=300)


def test_upscale_with_progress(tmp_path):
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=8, size=(32, 24))
    run = _run("upscale_with_progress.py", src, out)
    assert run.returncode == 0, run.stderr
    assert "8 frames, (32, 24) → (64, 48)" in run.stdout and "8/8 frames" in run.stderr
    assert out.is_file()


def test_upscale_folder_report(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(PHOTO[:24, :32]).save(folder / "good.png")
    (folder / "damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    run = _run("upscale_folder_report.py", folder, tmp_path / "out")
    assert run.returncode == 1, run.stderr
    assert "FAILED" in run.stdout and "damaged.png" in run.stdout and "1 of 2 files upscaled" in run.stdout
    assert Image.open(tmp_path / "out" / "good.png").size == (128, 96)


def test_custom_model(tmp_path, tiny_model):
    src, out = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(PHOTO[:24, :32]).save(src)
    run = _run("custom_model.py", tiny_model, src, out)
    assert run.returncode == 0, run.stderr
    assert "tiny-x4: compact, ×4" in run.stdout and "came back 64×64" in run.stdout
    assert Image.open(out).size == (128, 96)
