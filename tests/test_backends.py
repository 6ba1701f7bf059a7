"""Backends: the rule `--backend auto` builds by, its measurements, OpenVINO on the CPU against
PyTorch, and nothing but vsr's own lines on stderr."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import vsr
from vsr.runtime import BACKENDS, backend_specs, backends, choice
from vsr.runtime.engine import Engine

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


# -- the rule -------------------------------------------------------------------------------------

def test_compile_is_chosen_only_where_its_build_pays():
    # The H100 case: 25 s of compile and autotune, 2.47 ms a frame eager, 1.33 ms compiled.
    costs = choice.estimate("compile", "cuda", eager_call=1 / 405, measured=None)
    assert costs is not None and costs.build == 25.0
    assert not choice.pays(costs, 250)  # the 250-frame clip that finished 4× later with compile
    assert not choice.pays(costs, 20_000)
    assert choice.pays(costs, 30_000)
    # At 1080p each frame costs 20× more, and so saves 20× more: compile pays sooner.
    assert choice.pays(choice.estimate("compile", "cuda", eager_call=20 / 405, measured=None), 2_000)


def test_measured_costs_replace_the_prior():
    # Once inductor's cache holds the kernels, a rebuild takes seconds: compile pays for a short clip too.
    measured = {"build": 2.0, "built_call": 0.00133, "eager_call": 0.00247}
    costs = choice.estimate("compile", "cuda", eager_call=0.00247, measured=measured)
    assert costs == choice.Costs(2.0, 0.00133, 0.00247)
    assert choice.pays(costs, 2_000) and not choice.pays(costs, 1_000)
    # A built backend slower than eager never pays, however long the video.
    assert not choice.pays(choice.Costs(0.0, 0.2, 0.1), 10**9)
    # Half a measurement is not one: the prior fills in.
    assert choice.estimate("openvino", "cpu", 1.0, {"build": 9.0}) == choice.Costs(1.5, 1.0 / 1.6, 1.0)
    # No prior for a backend on a device it does not run on: not a candidate.
    assert choice.estimate("openvino", "cuda", 1.0, None) is None


def test_measurements_survive_damage_and_unwritable_folders(tmp_path):
    path = tmp_path / "costs.json"
    m = choice.Measurements(path)
    assert m.get("k") == {}
    m.update("k", eager_call=0.5)
    m.update("k", build=2.0)
    assert m.get("k") == {"eager_call": 0.5, "build": 2.0}
    path.write_text('{"k": {"build": "two"}, "j": [1]}')  # hand-edited or from another version
    assert m.get("k") == {} and m.get("j") == {}
    path.write_text("{not json")
    assert m.get("k") == {}
    m.update("k", build=1.0)  # rewrites the damaged file
    assert json.loads(path.read_text()) == {"k": {"build": 1.0}}
    blocked = choice.Measurements(tmp_path / "a-file" / "costs.json")
    (tmp_path / "a-file").write_text("")
    blocked.update("k", build=1.0)  # only the next run's measurement is lost
    assert blocked.get("k") == {}


def test_auto_order_and_what_is_not_installed():
    assert backends.candidates("auto", CUDA) == ["tensorrt", "compile", "eager"]
    assert backends.candidates("auto", CPU) == ["openvino", "eager"]
    assert backends.candidates("openvino", CPU) == ["openvino"]
    assert backends.unavailable("openvino", CUDA) == "OpenVINO runs on the CPU only"


# -- the table ------------------------------------------------------------------------------------

def test_the_cli_offers_the_backends_of_the_table():
    # `Backend` is spelt out for the CLI and the type checker; the table is what the runtime reads.
    assert backend_specs.choices() == BACKENDS
    assert len(set(BACKENDS)) == len(BACKENDS)


@pytest.mark.parametrize("spec", backend_specs.BACKEND_SPECS, ids=lambda spec: spec.name)
def test_every_backend_in_the_table_is_offered_and_says_how_to_install_it(spec, monkeypatch):
    for device in (CPU, CUDA):
        assert backends.candidates(spec.name, device) == [spec.name]
        if device.type not in spec.devices:  # refused before anything is imported or built
            reason = backends.unavailable(spec.name, device)
            assert reason is not None and reason.startswith(f"{spec.runtime} runs on ") and reason.endswith(" only")
    for device_type in spec.auto_preference:  # eager is the last resort wherever auto runs
        assert backends.candidates("auto", torch.device(device_type), quantise=True)[-1] == "eager"
    # Nothing optional installed, on a machine with a GPU: a backend from an extra names its
    # install command, one that comes with vsr is available.
    for module in ("tensorrt", "openvino", "int8"):
        importlib.import_module(f"vsr.runtime.{module}")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)
    reason = spec.unavailable()
    if spec.install is None:
        assert reason is None
    else:
        assert reason is not None and spec.install in reason


def test_a_backend_is_one_entry_in_the_table(monkeypatch):
    """A backend added to the table and nowhere else is validated by name, built, run through
    the engine as its entry says (fixed shape, whole frames, its own precision) and reported;
    auto tries it where its preference and prior say so."""
    calls: list[tuple[int, ...]] = []

    def build(net, *, shape, dtype, device):
        fp32 = copy.deepcopy(net).float()  # it computes fp32 whatever it is asked, as OpenVINO without bf16

        def run(x):
            calls.append(tuple(x.shape))
            return fp32(x.float())

        return run

    counting = backend_specs.BackendSpec(
        name="counting", runtime="Counting", devices=frozenset({"cpu"}), build=build, fixed_shape=True,
        cpu_tiles="whole-frames", computes_in=lambda runner: "fp32", auto_preference={"cpu": 9},
        priors={("cpu", "*"): backend_specs.Prior(build=0.0, speedup=2.0)})
    monkeypatch.setattr(backend_specs, "BACKEND_SPECS", (*backend_specs.BACKEND_SPECS, counting))

    assert backends.candidates("auto", CPU)[0] == "counting"
    assert backends.candidates("auto", CUDA) == ["tensorrt", "compile", "eager"]
    assert backends.unavailable("counting", CUDA) == "Counting runs on the CPU only"
    assert choice.estimate("counting", "cpu", 1.0, None) == choice.Costs(0.0, 0.5, 1.0)
    # 500×520: more than eager's cache-sized tile (480×480), so only the entry's "whole-frames" runs it whole.
    h, w = 500, 520
    frames = (torch.rand(1, h, w, 3, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    reference = Engine(model=_tiny(), device=CPU, dtype=torch.float32, out_size=(2 * h, 2 * w))(frames)
    engine = Engine(model=_tiny(), device=CPU, dtype=torch.bfloat16, out_size=(2 * h, 2 * w), backend="counting",
                    in_size=(h, w), batch=2)
    assert engine.backend_used == "counting" and calls == []
    out = engine(frames)
    assert calls == [(2, 3, h, w)]  # one call: the short batch padded to its fixed shape, the frame whole
    assert _psnr(out, reference) >= 40
    assert engine.precision_used == "fp32"
    assert engine.warnings == ["this CPU does not compute bf16 natively: Counting runs in fp32"]
    # Auto, for a video long enough: its prior says it pays (its build is free and it is twice eager's speed).
    auto = Engine(model=_tiny(), device=CPU, dtype=torch.float32, out_size=(2 * h, 2 * w), backend="auto",
                  in_size=(h, w), frames=100)
    assert auto.backend_used == "counting"


def _tiny():
    from vsr.models.archs.compact import SRVGGNetCompact
    from vsr.models.descriptor import Model

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, scale=2, activation="prelu").eval()
    return Model(model=net, name="tiny", arch="compact", scale=2, hyperparameters={})


def test_auto_builds_openvino_for_a_long_video_not_for_a_few_frames(tmp_path):
    pytest.importorskip("openvino")
    m = choice.Measurements(tmp_path / "costs.json")
    shape = (1, 3, 12, 16)
    key = choice.key("openvino", choice.device_label(CPU), choice.network_label(_tiny().model), shape, str(torch.float32))
    # As measured on a CPU where OpenVINO is twice as fast and builds in a second.
    m.update(key, build=1.0, built_call=0.05, eager_call=0.1)
    net = _tiny().model
    _, used, _ = backends.prepare(net, backend="auto", shape=shape, dtype=torch.float32, device=CPU, calls=10,
                                  measurements=m)
    assert used == "eager"  # 10 × 0.05 s saved < 1 s to build
    _, used, _ = backends.prepare(net, backend="auto", shape=shape, dtype=torch.float32, device=CPU, calls=100,
                                  measurements=m)
    assert used == "openvino"
    assert m.get(key)["build"] != 1.0  # the build just done was timed and kept


def test_the_engine_counts_calls_from_frames_and_cpu_tiles(tmp_path):
    pytest.importorskip("openvino")
    model = vsr.load_model("realesr-animevideov3")
    engine = Engine(model=model, device=CPU, dtype=torch.float32, out_size=(2160, 3840), in_size=(540, 960),
                    backend="eager")
    shape, per_batch = engine.call_shape()
    assert per_batch == 2 * 2 and shape[-2:] == (480 + 2 * model.receptive_radius,) * 2
    # A 3-frame 540p clip: eager measured here, the prior says OpenVINO saves too little for its build.
    small = Engine(model=vsr.load_model("realesr-animevideov3"), device=CPU, dtype=torch.float32,
                   out_size=(64, 64), in_size=(16, 16), backend="auto", frames=3)
    assert small.backend_used == "eager"


# -- OpenVINO against PyTorch ----------------------------------------------------------------------

def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


@pytest.mark.parametrize("precision", [torch.float32, torch.bfloat16])
def test_openvino_matches_pytorch_fp32_on_real_frames(photos, precision):
    pytest.importorskip("openvino")
    frames = torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB").resize((96, 72))) for p in photos[:2]]))
    h, w = frames.shape[1:3]
    reference = Engine(model=vsr.load_model("realesr-animevideov3"), device=CPU, dtype=torch.float32,
                       out_size=(h * 4, w * 4))(frames)
    engine = Engine(model=vsr.load_model("realesr-animevideov3"), device=CPU, dtype=precision,
                    out_size=(h * 4, w * 4), backend="openvino", in_size=(h, w))
    assert engine.backend_used == "openvino"
    out = engine(frames)
    assert out.shape == reference.shape
    assert _psnr(out, reference) >= (60 if precision == torch.float32 else 40)


@pytest.mark.parametrize("backend", ["openvino", "openvino-int8"])
@pytest.mark.parametrize("native", [True, False])
def test_openvino_reports_the_precision_it_computes_in(monkeypatch, native, backend):
    """bf16 asked for on a CPU without it natively: OpenVINO (int8's too, while it calibrates)
    computes fp32, and says so."""
    pytest.importorskip("openvino")
    from vsr.runtime import openvino

    capabilities = ["FP32", "BF16"] if native else ["FP32"]
    hint = openvino.precision_hint
    monkeypatch.setattr(openvino, "precision_hint", lambda dtype, _: hint(dtype, capabilities))
    engine = Engine(model=vsr.load_model("realesr-animevideov3"), device=CPU, dtype=torch.bfloat16,
                    out_size=(64, 64), backend=backend, in_size=(16, 16))
    assert engine.calibrating == (backend == "openvino-int8")
    assert engine.precision_used == ("bf16" if native else "fp32")
    assert engine.warnings == ([] if native else ["this CPU does not compute bf16 natively: OpenVINO runs in fp32"])


def test_openvino_runs_whole_frames_up_to_1080p_and_exact_tiles_beyond(monkeypatch):
    pytest.importorskip("openvino")
    from vsr.runtime import tiling

    torch.manual_seed(1)
    assert tiling.OPENVINO_WHOLE == 1920 * 1088
    assert tiling.cpu_tile(_tiny(), 1080, 1920, "openvino") is None
    assert tiling.cpu_tile(_tiny(), 2160, 3840, "openvino-int8") == tiling.OPENVINO_TILE
    # PyTorch on the CPU keeps its cache-sized tiles.
    assert tiling.cpu_tile(_tiny(), 500, 520) == tiling.CPU_TILE and tiling.cpu_tile(_tiny(), 500, 520, "openvino") is None
    monkeypatch.setattr(tiling, "OPENVINO_WHOLE", 300 * 300)  # the same rule at a size a test affords
    monkeypatch.setattr(tiling, "OPENVINO_TILE", 256)
    for h, w, tiles in ((280, 300, 1), (300, 520, 6)):  # beyond the limit: edge tiles have their own shapes
        frames = (torch.rand(1, h, w, 3) * 255).to(torch.uint8)
        reference = Engine(model=_tiny(), device=CPU, dtype=torch.float32, out_size=(2 * h, 2 * w))(frames)
        engine = Engine(model=_tiny(), device=CPU, dtype=torch.float32, out_size=(2 * h, 2 * w), backend="openvino",
                        in_size=(h, w))
        assert engine.call_shape()[1] == tiles
        assert _psnr(engine(frames), reference) >= 60



# -- stderr ----------------------------------------------------------------------------------------

def test_openvino_from_the_cli_is_quiet(tmp_path, capfd):
    pytest.importorskip("openvino")
    from clips import make_clip
    from vsr.cli import main

    src = tmp_path / "in.mp4"
    make_clip(src, frames=3)
    assert main(["upscale", str(src), str(tmp_path / "out.mp4"), "--backend", "openvino", "--quiet"]) == 0
    assert capfd.readouterr().err == ""


def test_a_library_warning_is_one_vsr_line_and_quiet_silences_it(capfd, monkeypatch):
    from vsr.cli import main
    from vsr.cli.common import configure_logging, library_warning
    from vsr.models import catalogue

    def noisy():
        warnings.warn_explicit("Invalid APNG, will use default PNG image if possible\n  more", UserWarning,
                               "/x/site-packages/PIL/PngImagePlugin.py", 718)
        return []

    monkeypatch.setattr(catalogue, "list_models", noisy)
    assert main(["models", "list"]) == 0
    err = capfd.readouterr().err
    assert err == "vsr: warning: PIL: Invalid APNG, will use default PNG image if possible\n"
    configure_logging(quiet=True)
    library_warning("loud", UserWarning, "/x/site-packages/torch/serialization.py", 1)
    assert capfd.readouterr().err == ""


def _noisy_build(fails: bool):
    """A build that talks on every channel a compiler does: Python's stderr, descriptor 2 from
    C++, and a subprocess (Triton's autotune workers)."""
    import os
    import subprocess
    import sys

    def build(name, net, shape, dtype, device):
        sys.stderr.write("AUTOTUNE convolution(1x3x12x16)\n")
        os.write(2, b"[ WARNING ] a C++ notice\n")
        subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('triton: compiling kernel 7\\n')"],
                       check=True)
        if fails:
            raise backends.BackendError("--backend compile: torch.compile failed (no C compiler)")
        return net

    return build


def test_a_build_says_nothing_on_stderr(capfd, monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "_build", _noisy_build(fails=False))
    net = _tiny().model
    runner, used, warned = backends.prepare(net, backend="compile", shape=(1, 3, 12, 16), dtype=torch.float32,
                                            device=CPU, measurements=choice.Measurements(tmp_path / "c.json"))
    assert (runner, used, warned) == (net, "compile", [])
    assert capfd.readouterr().err == ""


def test_a_failed_build_keeps_what_it_said_for_the_error(capfd, monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "_build", _noisy_build(fails=True))
    with pytest.raises(backends.BackendError) as failed:
        backends.prepare(_tiny().model, backend="compile", shape=(1, 3, 12, 16), dtype=torch.float32, device=CPU,
                         measurements=choice.Measurements(tmp_path / "c.json"))
    assert "no C compiler" in str(failed.value) and "triton: compiling kernel 7" in str(failed.value)
    assert "\n" not in str(failed.value)
    assert capfd.readouterr().err == ""


def test_a_video_that_does_not_count_its_frames_is_estimated_from_its_duration(tmp_path):
    # MKV keeps no frame count: without an estimate a 3-frame clip would count as "many" and pay a build.
    from clips import make_clip
    from vsr.media.video_source import probe

    make_clip(tmp_path / "c.mkv", frames=17)
    info = probe(tmp_path / "c.mkv")
    assert info.frames_from_header is None and 14 <= info.estimated_frames <= 22
    make_clip(tmp_path / "c.mp4", frames=6)
    assert probe(tmp_path / "c.mp4").estimated_frames == 6


def test_ctrl_c_during_a_build_that_swallows_exceptions_still_stops_the_run(tmp_path):
    # OpenVINO's converter catches what its tracing raises and tries again: an interrupt raised
    # inside it was lost, and the run went on to the end. Run in a fresh interpreter: a real
    # SIGINT sent to the test process after OpenVINO ran several shapes in it crashed pytest
    # (SIGSEGV on delivery; not reproduced outside pytest).
    import subprocess
    import sys

    script = """
import contextlib, os, signal, sys, time
import torch
from vsr.models.archs.compact import SRVGGNetCompact
from vsr.runtime import backends, choice

def swallowing_build(name, net, shape, dtype, device):
    with contextlib.suppress(BaseException):  # raised in here and lost, as in the converter
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    return net

backends._build = swallowing_build
net = SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, scale=2)
try:
    backends.prepare(net, backend="compile", shape=(1, 3, 12, 16), dtype=torch.float32,
                     device=torch.device("cpu"), measurements=choice.Measurements(sys.argv[1]))
except KeyboardInterrupt:
    sys.exit(42)
"""
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c.json")], check=False, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 42, run.stderr


# -- int8 (OpenVINO + NNCF), calibrated on the video's own first inputs ----------------------------

def _photo_frames(photos, size=(96, 72)) -> torch.Tensor:
    return torch.from_numpy(np.stack([np.asarray(Image.open(p).convert("RGB").resize(size)) for p in photos]))


def _int8_engine(frames: torch.Tensor, model=None, dtype=torch.float32, **options) -> Engine:
    model = model or vsr.load_model("realesr-animevideov3")
    h, w = frames.shape[1:3]
    return Engine(model=model, device=CPU, dtype=dtype, out_size=(h * model.scale, w * model.scale),
                  in_size=(h, w), **options)


def test_int8_calibrates_on_the_first_frames_then_runs_within_40_db_of_fp32(photos, monkeypatch):
    pytest.importorskip("nncf")
    from vsr.runtime import int8

    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 3)  # one call a photo
    frames = _photo_frames(photos, size=(64, 48))
    reference = _int8_engine(frames, backend="eager")
    engine = _int8_engine(frames, backend="openvino-int8")
    assert engine.calibrating and engine.backend_used == "openvino"  # what has run so far: fp32
    # While it calibrates the network runs in OpenVINO fp32: those frames are exact.
    first = [engine(frames[i:i + 1]) for i in range(3)]
    assert all(_psnr(a, reference(frames[i:i + 1])) >= 60 for i, a in enumerate(first))
    assert not engine.calibrating and engine.precision_used == "int8" and engine.warnings == []
    runner = engine.runner
    assert isinstance(runner, int8.Int8Runner) and runner.unquantised.compiled_shapes == []  # its memory went back
    after, exact = engine(frames), reference(frames)
    assert 40 <= _psnr(after, exact) < 60  # quantised (not fp32 under another name), and close


def test_int8_under_a_bf16_engine_calibrates_in_openvino_bf16_and_competes_with_eager_bf16(photos, monkeypatch):
    pytest.importorskip("nncf")
    import openvino

    from vsr.runtime import int8

    # A bf16 engine (a CPU with native bf16): the calibration calls run in OpenVINO bf16, twice
    # fp32's speed there, and the quantised network still holds 40 dB against PyTorch fp32.
    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 3)
    frames = _photo_frames(photos, size=(64, 48))
    reference = _int8_engine(frames, backend="eager")
    engine = _int8_engine(frames, backend="openvino-int8", dtype=torch.bfloat16)
    native = "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert engine.precision_used == ("bf16" if native else "fp32") and engine.backend_used == "openvino"
    for i in range(3):
        engine(frames[i:i + 1])
    assert engine.precision_used == "int8"
    assert engine.warnings == ([] if native else ["this CPU does not compute bf16 natively: OpenVINO runs in fp32"])
    assert 40 <= _psnr(engine(frames), reference(frames)) < 60


def test_auto_weighs_int8_against_eager_in_the_precision_it_runs(tmp_path):
    pytest.importorskip("nncf")
    # Before int8 is measured here, its prior is over eager in that precision: 2.5× fp32's time, 2.1× bf16's
    # (eager bf16 is already faster). 45 calls of 1 s: int8 saves 27 s in fp32, 23.6 s in bf16, against a
    # 25 s build; OpenVINO (1.5 s, 1.6×) pays either way.
    net, shape = _tiny().model, (1, 3, 12, 16)

    def used(dtype: torch.dtype, calls: int) -> str:
        m = choice.Measurements(tmp_path / f"{dtype}-{calls}.json")
        m.update(choice.key("openvino-int8", choice.device_label(CPU), choice.network_label(net), shape, str(dtype)),
                 eager_call=1.0)
        return backends.prepare(net, backend="auto", shape=shape, dtype=dtype, device=CPU, calls=calls,
                                quantise=True, measurements=m)[1]

    assert used(torch.float32, 45) == "openvino-int8"
    assert used(torch.bfloat16, 45) == "openvino"
    assert used(torch.bfloat16, 60) == "openvino-int8"  # 31 s saved


def test_int8_below_40_db_stays_in_fp32_and_says_so(photos, monkeypatch):
    pytest.importorskip("nncf")
    from vsr.runtime import int8

    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 1)
    monkeypatch.setattr(int8, "MIN_PSNR", 99.0)  # no quantisation gets this close
    frames = _photo_frames(photos[:1], size=(32, 24))
    engine = _int8_engine(frames, _tiny(), backend="openvino-int8")
    engine(frames)
    assert engine.backend_used == "openvino" and engine.precision_used == "fp32"
    (warning,) = engine.warnings
    assert "dB from fp32 on this video's first frames (below 99 dB): running in OpenVINO fp32" in warning
    assert _psnr(engine(frames), _int8_engine(frames, _tiny(), backend="openvino")(frames)) >= 60


def test_auto_quantises_only_where_the_precision_was_left_to_it(tmp_path, monkeypatch):
    pytest.importorskip("nncf")
    from vsr.runtime import int8

    assert backends.candidates("auto", CPU, quantise=True) == ["openvino-int8", "openvino", "eager"]
    assert backends.unavailable("openvino-int8", CUDA) == "OpenVINO runs on the CPU only"
    with pytest.raises(backends.BackendError, match="^`backend` openvino-int8: OpenVINO runs on the CPU only$"):
        backends.prepare(_tiny().model, backend="openvino-int8", shape=(1, 3, 12, 16), dtype=torch.float32,
                         device=CUDA, measurements=choice.Measurements(tmp_path / "c.json"))
    monkeypatch.setattr(int8.importlib.util, "find_spec", lambda name: None)
    assert int8.unavailable() == "openvino and nncf not installed: pip install 'vsr[int8]'"
    monkeypatch.undo()
    m = choice.Measurements(tmp_path / "costs.json")
    net, shape = _tiny().model, (1, 3, 12, 16)
    label = choice.network_label(net)
    keys = {name: choice.key(name, choice.device_label(CPU), label, shape, str(torch.float32))
            for name in ("openvino-int8", "openvino")}
    m.update(keys["openvino-int8"], build=20.0, built_call=0.02, eager_call=0.1)
    m.update(keys["openvino"], build=1.0, built_call=0.05, eager_call=0.1)

    def used(calls: int, quantise: bool) -> str:
        return backends.prepare(net, backend="auto", shape=shape, dtype=torch.float32, device=CPU, calls=calls,
                                quantise=quantise, measurements=m)[1]

    assert used(200, quantise=True) == "openvino"  # 16 s saved < 20 s; OpenVINO fp32 still pays
    assert used(1000, quantise=True) == "openvino-int8"  # 1000 × 0.08 s saved > 20 s
    assert used(1000, quantise=False) == "openvino"  # --precision fp32 asked: never int8
    # The engine offers int8 to auto only for --precision auto (resolved to fp32 or bf16).
    assert backends.candidates("auto", CPU, quantise=False) == ["openvino", "eager"]


def test_int8_reports_its_calibration_as_the_build(photos, monkeypatch, tmp_path):
    pytest.importorskip("nncf")
    from vsr.runtime import int8

    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 2)
    frames = _photo_frames(photos[:2], size=(32, 24))
    m = choice.Measurements(tmp_path / "costs.json")
    net = _tiny().model
    shape = (1, 3, 24, 32)
    runner, used, _ = backends.prepare(net, backend="openvino-int8", shape=shape, dtype=torch.float32, device=CPU,
                                       measurements=m)
    key = choice.key("openvino-int8", choice.device_label(CPU), choice.network_label(net), shape, str(torch.float32))
    converted = m.get(key)["build"]
    assert used == "openvino-int8" and "built_call" not in m.get(key)  # not timed on noise
    x = frames.permute(0, 3, 1, 2).float() / 255
    runner(x[:1])
    runner(x[1:])
    assert m.get(key)["build"] > converted and m.get(key)["built_call"] > 0


def test_int8_from_the_cli_is_quiet_and_reports_int8(tmp_path, capfd, monkeypatch, tiny_model):
    pytest.importorskip("nncf")
    from clips import make_clip
    from vsr.cli import main
    from vsr.runtime import int8

    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 2)
    src = tmp_path / "in.mp4"
    make_clip(src, frames=4)
    assert main(["upscale", str(src), str(tmp_path / "out.mp4"), "--backend", "openvino-int8", "--quiet",
                 "--json", "--model", str(tiny_model)]) == 0
    out, err = capfd.readouterr()
    assert err == ""
    summary = json.loads(out)
    assert (summary["backend"], summary["precision"], summary["frames"]) == ("openvino-int8", "int8", 4)


def test_int8_on_a_clip_shorter_than_its_calibration_says_it_ran_fp32(tmp_path, capfd, tiny_model):
    pytest.importorskip("nncf")
    from clips import make_clip
    from vsr.cli import main
    from vsr.runtime import int8

    src = tmp_path / "in.mp4"
    make_clip(src, frames=3)
    assert int8.CALIBRATION_CALLS > 3
    assert main(["upscale", str(src), str(tmp_path / "out.mp4"), "--backend", "openvino-int8", "--precision", "fp32",
                 "--json", "--model", str(tiny_model)]) == 0
    out, err = capfd.readouterr()
    summary = json.loads(out)
    assert (summary["backend"], summary["precision"], summary["frames"]) == ("openvino", "fp32", 3)
    expected = f"the input ended after 3 of the {int8.CALIBRATION_CALLS} model calls int8 calibrates on"
    assert any(expected in w for w in summary["warnings"]) and expected in err


def test_int8_that_falls_short_is_not_chosen_by_auto_again(photos, monkeypatch, tmp_path):
    pytest.importorskip("nncf")
    from vsr.runtime import int8

    monkeypatch.setattr(int8, "CALIBRATION_CALLS", 1)
    monkeypatch.setattr(int8, "MIN_PSNR", 99.0)  # no quantisation gets this close
    net, shape = _tiny().model, (1, 3, 24, 32)
    m = choice.Measurements(tmp_path / "costs.json")
    key = choice.key("openvino-int8", choice.device_label(CPU), choice.network_label(net), shape, str(torch.float32))
    m.update(key, eager_call=1.0)

    def prepare():
        return backends.prepare(net, backend="auto", shape=shape, dtype=torch.float32, device=CPU, calls=1000,
                                quantise=True, measurements=m)

    runner, used, _ = prepare()
    assert used == "openvino-int8"  # the prior: 1000 calls pay for 25 s
    runner(torch.rand(shape))  # calibrates, falls short, runs OpenVINO fp32
    assert m.get(key)["built_call"] == 1.0 and m.get(key)["build"] > 0  # recorded as no faster than eager
    assert prepare()[1] == "openvino"  # the next run does not pay for it again


def test_int8_ranges_cover_the_widest_calibration_input(photos):
    """Calibration inputs mostly quiet (flat grey), a few busy (photos): each activation's range
    must reach the busy ones' extremes. NNCF's default, a mean of the inputs' extremes, clipped
    them: 14-27 dB on these photos, against 41.5-45 dB with the extremes."""
    pytest.importorskip("nncf")
    from vsr.runtime import int8
    from vsr.runtime.openvino import OpenVinoRunner

    fp32 = OpenVinoRunner(vsr.load_model("realesr-animevideov3").model, dtype=torch.float32, threads=2)
    busy = [np.asarray(Image.open(p).convert("RGB").resize((64, 48)), dtype=np.float32).transpose(2, 0, 1)[None] / 255
            for p in photos]
    rng = np.random.default_rng(0)
    quiet = [np.clip(v + rng.normal(0, 0.01, (1, 3, 48, 64)), 0, 1).astype(np.float32) for v in np.linspace(0.3, 0.6, 13)]
    quantised = OpenVinoRunner(None, dtype=torch.float32, threads=2, converted=int8.quantise(fp32.converted, quiet + busy))
    for x in map(torch.from_numpy, busy):
        assert int8.psnr(quantised(x).numpy(), fp32(x).numpy()) >= 40
