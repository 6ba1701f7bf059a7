"""Hardware video encoders (NVIDIA NVENC, Intel Quick Sync, AMD AMF), through `--codec`.

PyAV's wheels carry h264/hevc/av1_nvenc, *_qsv and *_amf. Each has its own rate control and its
own preset names, so `--crf` and `--preset` (x264's vocabulary, which users know) are mapped:

    --crf N      NVENC: constant quality (rc vbr, cq N, no bitrate cap)
                 QSV:   intelligent constant quality (global_quality N)
                 AMF:   constant QP (rc cqp, qp_i = qp_p = qp_b = N)
    --preset P   NVENC: p1 (fastest) … p7 (best), from ultrafast … veryslow
                 QSV:   veryfast … veryslow (ultrafast and superfast become veryfast)
                 AMF:   speed, balanced, quality

Their own names (p4, balanced) pass through unchanged. Whether the machine has the hardware is
only known when the encoder opens, which vsr does before any work: where it cannot, the error
says which hardware the encoder needs and what to use instead.
"""

from __future__ import annotations

from vsr.errors import BackendError

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
_NVENC_PRESETS = dict(zip(X264_PRESETS, ("p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7", "p7"), strict=True))
_QSV_PRESETS = {"ultrafast": "veryfast", "superfast": "veryfast"}
_AMF_QUALITY = {**dict.fromkeys(("ultrafast", "superfast", "veryfast", "faster"), "speed"),
                **dict.fromkeys(("fast", "medium"), "balanced"),
                **dict.fromkeys(("slow", "slower", "veryslow"), "quality")}

HARDWARE = {
    "nvenc": "an NVIDIA GPU with NVENC and its driver (libcuda, libnvidia-encode)",
    "qsv": "an Intel GPU with Quick Sync and its media driver",
    "amf": "an AMD GPU with AMF and its driver",
}
CRF_MAX = 51  # cq, global_quality and qp all run 0 (or 1) to 51


def family(codec: str) -> str | None:
    """nvenc, qsv or amf for a hardware encoder's name; None for a software encoder."""
    suffix = codec.rsplit("_", 1)[-1]
    return suffix if "_" in codec and suffix in HARDWARE else None


def options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The encoder's own options for --crf and --preset."""
    kind = family(codec)
    out: dict[str, str] = {}
    if kind == "nvenc":
        if crf is not None:
            out.update(rc="vbr", cq=str(crf), b="0")
        if preset is not None:
            out["preset"] = _NVENC_PRESETS.get(preset, preset)
    elif kind == "qsv":
        if crf is not None:
            out["global_quality"] = str(max(1, crf))
        if preset is not None:
            out["preset"] = _QSV_PRESETS.get(preset, preset)
    elif kind == "amf":
        if crf is not None:
            out.update(rc="cqp", qp_i=str(crf), qp_p=str(crf), qp_b=str(crf))
        if preset is not None:
            out["quality"] = _AMF_QUALITY.get(preset, preset)
    return out


def unavailable_error(codec: str, said: str) -> BackendError:
    """The error for a hardware encoder that would not open here."""
    kind = family(codec)
    assert kind is not None
    return BackendError(f"`codec` {codec} needs {HARDWARE[kind]}, and it would not start here ({said}); "
                        "use a software encoder such as libx264, or run where that hardware is", option="codec")
