"""The mutation fuzzer (benchmarks/fuzz.py): a small fixed run over every seed kind ends with no bad
outcome, every reproducer it has found so far (tests/data/fuzz) now ends in a result or one clear
error, and the fuzzer itself tells each bad outcome from a good one."""

from __future__ import annotations

import importlib.util
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "benchmarks" / "fuzz.py"
REPRODUCERS = Path(__file__).parent / "data" / "fuzz"


def _fuzz(*args: str) -> dict:
    run = subprocess.run([sys.executable, str(FUZZ), *args, "--json"], check=False, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode in (0, 1), run.stderr
    report = json.loads(run.stdout)
    assert run.returncode == (1 if report["bad"] else 0)
    return report


@pytest.fixture(scope="module")
def fuzz_module():
    spec = importlib.util.spec_from_file_location("vsr_fuzz", FUZZ)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["vsr_fuzz"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_a_small_fixed_run_over_every_seed_kind_has_no_bad_outcome(tmp_path):
    report = _fuzz("--count", "28", "--seed", "2026", "--reproducers", str(tmp_path / "found"))
    assert report["bad"] == 0, report["failure_kinds"]
    kinds = {"clip.mp4", "clip.mkv", "clip.webm", "anim.gif", "anim.webp", "apng.png", "still.png", "still.jpg",
             "model.safetensors", "model.pth", "ncnn.param", "ncnn.bin"}
    assert set(report["by_seed"]) == kinds
    assert report["outcomes"].get("ok", 0) > 0 and report["outcomes"].get("error", 0) > 0
    assert report["peak_rss_mib"] < 2048
    assert not (tmp_path / "found").exists()


def test_every_reproducer_found_so_far_ends_cleanly():
    assert len(list(REPRODUCERS.glob("*.json"))) >= 3
    report = _fuzz("--replay", str(REPRODUCERS))
    assert report["bad"] == 0, {k: v for k, v in report["results"].items() if not v.startswith(("ok", "error"))}


_NUMBERS = itertools.count()


def _finished_case(fuzz_module, tmp_path: Path, stderr: str, *, rc: int, out: list[str] = (), change: bool = False):
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)
    seed = fuzz_module.Seed("still.png", fuzz_module.MEDIA, "out.png")
    case = fuzz_module.prepare(next(_NUMBERS), seed, b"\x89PNG", ["flip"], seeds, tmp_path / "cases")
    (case.folder / "stderr").write_text(stderr)
    for name in out:
        (case.folder / "out" / name).write_bytes(b"x")
    if change:
        (case.folder / "input.png").write_bytes(b"changed")
    return fuzz_module.outcome(case, rc << 8, None)[0]


def test_the_fuzzer_tells_bad_outcomes_from_good_ones(fuzz_module, tmp_path):
    error = "vsr: error: in.png: not a media file\n"
    assert _finished_case(fuzz_module, tmp_path, error, rc=2) == "error"
    assert _finished_case(fuzz_module, tmp_path, "vsr: warning: odd\n", rc=0, out=["out.png"]) == "ok"
    assert _finished_case(fuzz_module, tmp_path, "vsr: error: unexpected KeyError: 3\n", rc=1) == "unexpected"
    assert _finished_case(fuzz_module, tmp_path, "Traceback (most recent call last):\n", rc=1) == "traceback"
    assert _finished_case(fuzz_module, tmp_path, "Corrupt JPEG data\n" + error, rc=2) == "stray-output"
    assert _finished_case(fuzz_module, tmp_path, error, rc=2, out=[".out.1-2.abc.part.png"]) == "leftover"
    assert _finished_case(fuzz_module, tmp_path, "", rc=0) == "leftover"  # rc 0 and no output
    assert _finished_case(fuzz_module, tmp_path, error, rc=2, change=True) == "changed"
    assert _finished_case(fuzz_module, tmp_path, error, rc=3) == "exit-code"
    case_dir = tmp_path / "cases"
    killed = fuzz_module.prepare(99, fuzz_module.Seed("still.png", fuzz_module.MEDIA, "out.png"), b"x", [],
                                 tmp_path / "seeds", case_dir)
    assert fuzz_module.outcome(killed, None, None)[0] == "timeout"
    assert fuzz_module.outcome(killed, 11, None)[0] == "signal"  # a wait status: killed by SIGSEGV


def test_mutations_are_seeded_and_change_the_file(fuzz_module):
    import random

    seed = fuzz_module.Seed("still.png", fuzz_module.MEDIA, "out.png", (20, 14))
    data = bytes(range(256)) * 8 + (20).to_bytes(4, "big") + (14).to_bytes(4, "big")
    first = [fuzz_module.mutate(data, seed, random.Random(n)) for n in range(40)]
    again = [fuzz_module.mutate(data, seed, random.Random(n)) for n in range(40)]
    assert first == again
    assert sum(out != data for out, _ in first) >= 38
    kinds = {m for _, done in first for m in done}
    assert kinds == {"flip", "truncate", "duplicate", "delete", "header-lie"}  # not a PNG: no "png-crc"
