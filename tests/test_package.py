"""The wheel a user installs holds every module of the source tree and the built-in weights."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_every_module_and_the_builtin_weights(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("vsr-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "vsr").rglob("*.py")}
    assert len(modules) > 40 and modules <= names, sorted(modules - names)
    weights = {f"vsr/weights/{p.name}" for p in (ROOT / "weights").iterdir() if p.suffix in (".safetensors", ".md")}
    assert "vsr/weights/realesr-animevideov3.safetensors" in weights and weights <= names
