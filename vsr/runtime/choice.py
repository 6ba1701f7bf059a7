"""Whether `--backend auto` builds a faster backend or stays eager: only where it pays.

A built backend (torch.compile, TensorRT, OpenVINO) costs time up front and saves some on each
frame. On an H100, torch.compile spent about 25 s compiling and autotuning to save about 1.1 ms
a frame at 640×360: a 250-frame clip finished 4× later than eager. So the rule is

    frames × (eager seconds a frame − built seconds a frame) > build seconds

with each figure measured on this machine and kept (`Measurements`, a JSON file in vsr's cache
folder) for the next run, keyed by backend, device, model, input shape and precision. Before
any measurement, the build time and speed-up are the backend's prior (its `priors` in
vsr.runtime.backend_specs); eager's time a frame is measured (one call, after a warm-up) where it
is not known yet.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vsr.atomic import atomic_write
from vsr.runtime import backend_specs, cache_folder
from vsr.runtime.backend_specs import Prior

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Costs:
    """Seconds: building the backend once, and one model call on it and on eager."""

    build: float
    built_call: float
    eager_call: float


def pays(costs: Costs, calls: int) -> bool:
    """Whether `calls` model calls (frames, or tiles of frames) on the built backend, its build
    included, finish sooner than on eager."""
    return calls * (costs.eager_call - costs.built_call) > costs.build


# Every backend's priors by (backend, device type, precision), as the table holds them when vsr
# is imported: for reading. `estimate` reads the table itself.
PRIORS: dict[tuple[str, str, str], Prior] = {
    (spec.name, device_type, precision): prior
    for spec in backend_specs.BACKEND_SPECS for (device_type, precision), prior in spec.priors.items()}


def estimate(backend: str, device_type: str, eager_call: float, measured: dict[str, float] | None,
             precision: str = "fp32") -> Costs | None:
    """The costs to decide on: measured ones where complete, else the prior with `eager_call`
    (eager running in `precision`); None where the backend has no prior on this kind of device
    and precision (it is not a candidate)."""
    if measured and {"build", "built_call", "eager_call"} <= measured.keys():
        return Costs(measured["build"], measured["built_call"], measured["eager_call"])
    spec = backend_specs.find(backend)
    priors = spec.priors if spec is not None else {}
    prior = priors.get((device_type, precision)) or priors.get((device_type, "*"))
    if prior is None:
        return None
    return Costs(prior.build, eager_call / prior.speedup, eager_call)


class Measurements:
    """Measured costs, by key; a damaged or unreadable file counts as empty (they are only
    measurements: the worst a lost one costs is a choice made from the prior)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_folder("backends") / "costs.json"

    def get(self, key: str) -> dict[str, float]:
        entry = self._load().get(key)
        return {k: float(v) for k, v in entry.items() if isinstance(v, (int, float))} if isinstance(entry, dict) else {}

    def update(self, key: str, **figures: float) -> None:
        data = self._load()
        entry = data.get(key)
        entry = entry if isinstance(entry, dict) else {}
        data[key] = {**entry, **{k: round(v, 6) for k, v in figures.items()}}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(self.path) as tmp:
                tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:  # a read-only cache costs only the next run's measurement
            log.debug("could not keep backend measurements in %s: %s", self.path, exc)

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def key(backend: str, device: str, network: str, shape: tuple[int, ...], dtype: str) -> str:
    return "|".join([backend, device, network, "x".join(map(str, shape)), dtype])


def device_label(device: torch.device) -> str:
    """The hardware a measurement holds for: the GPU's name, or the CPU's with the threads used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        name = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name")), name)
    return f"{name} {torch.get_num_threads()} threads"


def network_label(net: nn.Module) -> str:
    """A network's shape of computation (speed does not depend on the weights' values)."""
    return f"{type(net).__name__}-{sum(p.numel() for p in net.parameters())}"

