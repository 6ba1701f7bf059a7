"""Hardware encoders through --codec: x264's --crf and --preset mapped to each one's own options,
the pixel formats they take, and one clear line where the machine has no such hardware (these
CPU machines have none: NVENC, Quick Sync and AMF all fail to open here)."""

from __future__ import annotations

import av
import pytest

from vsr.media import containers, hardware_encoders


def test_crf_and_preset_map_to_each_encoders_own_options():
    assert hardware_encoders.options("h264_nvenc", 20, "slow") == {"rc": "vbr", "cq": "20", "b": "0", "preset": "p6"}
    assert hardware_encoders.options("hevc_nvenc", None, "ultrafast") == {"preset": "p1"}
    assert hardware_encoders.options("av1_nvenc", None, "p4") == {"preset": "p4"}  # its own names pass through
    assert hardware_encoders.options("h264_qsv", 0, "superfast") == {"global_quality": "1", "preset": "veryfast"}
    assert hardware_encoders.options("hevc_qsv", 23, "medium") == {"global_quality": "23", "preset": "medium"}
    assert hardware_encoders.options("h264_amf", 18, "veryslow") == {
        "rc": "cqp", "qp_i": "18", "qp_p": "18", "qp_b": "18", "quality": "quality"}
    assert hardware_encoders.options("hevc_amf", None, "fast") == {"quality": "balanced"}
    assert hardware_encoders.options("h264_nvenc", None, None) == {}
    # Software encoders keep x264's own names.
    assert containers.encoder_options("libx264", 18, "slow") == {"crf": "18", "preset": "slow"}
    assert containers.encoder_options("h264_nvenc", 18, "slow")["cq"] == "18"
    assert [hardware_encoders.family(c) for c in ("h264_nvenc", "hevc_qsv", "av1_amf", "libx264", "libsvtav1")] == [
        "nvenc", "qsv", "amf", None, None]


def test_every_x264_preset_has_a_mapping():
    for preset in hardware_encoders.X264_PRESETS:
        for codec in ("h264_nvenc", "h264_qsv", "h264_amf"):
            assert hardware_encoders.options(codec, None, preset)


@pytest.mark.parametrize(("codec", "high_depth", "expected"), [
    ("h264_nvenc", False, "yuv420p"), ("hevc_nvenc", True, "p010le"),
    ("h264_qsv", False, "nv12"), ("hevc_qsv", True, "p010le"), ("h264_amf", True, "p010le")])
def test_pixel_formats_the_hardware_takes(codec, high_depth, expected):
    wanted = "yuv420p10le" if high_depth else "yuv420p"
    assert containers.choose_pix_fmt(av.Codec(codec, "w"), wanted) == expected


def test_crf_range_is_checked_up_front():
    from vsr.errors import InputError

    with pytest.raises(InputError, match="`crf` 60: h264_nvenc takes 0 to 51"):
        containers.check_crf("h264_nvenc", 60, "yuv420p")


@pytest.mark.parametrize(("codec", "hardware"), [("h264_nvenc", "NVIDIA"), ("hevc_qsv", "Intel"), ("h264_amf", "AMD")])
@pytest.mark.parametrize("with_options", [False, True])
def test_no_such_hardware_is_one_line_before_any_work(tmp_path, capsys, codec, hardware, with_options):
    from clips import make_clip
    from vsr.cli import main

    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_clip(src, frames=2)
    extra = ["--crf", "20", "--preset", "slow"] if with_options else []
    assert main(["upscale", str(src), str(out), "--codec", codec, "--quiet", *extra]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"vsr: error: --codec {codec} needs an {hardware} GPU") and err.count("\n") == 1
    assert "use a software encoder such as libx264" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]

