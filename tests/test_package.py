"""The built-in weights must ship inside the wheel a user installs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contains_the_builtin_weights(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = tmp_path.glob("vsr-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "vsr/weights/realesr-animevideov3.safetensors" in names
    assert "vsr/weights/README.md" in names
    assert "vsr/cli.py" in names and "vsr/archs/rrdb.py" in names
