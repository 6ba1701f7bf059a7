"""The output plan: from a probed input, the options and the model's scale, everything the run
will do, decided and checked before any frame is decoded. Which writer and with what settings,
the output size, which streams are copied, and the warnings that are known up front."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vsr.errors import InputError, OutputError
from vsr.media import containers
from vsr.media.animated.source import MS, AnimationInfo, is_animated
from vsr.media.animated.source import probe as probe_animation
from vsr.media.animated.writer import AnimationSinkSpec, PaletteMode
from vsr.media.colour import RGB_SOURCE
from vsr.media.image import DEFAULT_QUALITY, ImageInfo, ImageSinkSpec, holds_alpha, probe_image
from vsr.media.kinds import ANIMATED_OUTPUTS, ANIMATED_SUFFIXES, IMAGE_FORMATS, IMAGE_SUFFIXES, OutputKind, is_image, suffix
from vsr.media.limits import DEFAULT_MAX_PIXELS, check_format_size, check_memory, check_pixels, pillow_limit
from vsr.media.sinks import SinkSpec
from vsr.media.sources import InputInfo
from vsr.media.video_sink import VideoSinkSpec
from vsr.media.video_source import UNKNOWN_CODEC, VideoInfo
from vsr.media.video_source import probe as probe_video
from vsr.models.descriptor import Model
from vsr.pipeline.options import ImageEncoding, UpscaleOptions, VideoEncoding


@dataclass(frozen=True)
class Plan:
    """What a run will write, and how."""

    info: InputInfo
    """The probed input."""
    output: Path
    kind: OutputKind
    """Which writer, from the sink registry."""
    sink_spec: SinkSpec
    """The writer's settings."""
    out_size: tuple[int, int]
    """(width, height)"""
    codec: str
    """As the summary names it."""
    pix_fmt: str
    copy_streams: tuple[int, ...] = ()
    """The input's stream indices carried over (audio, subtitles)."""
    warnings: tuple[str, ...] = ()
    """What is known up front: tracks left out, sizes rounded."""
    overwrite: bool = False
    """Publishing may replace a file at `output` (else it refuses to)."""

    @property
    def input(self) -> Path:
        return self.info.path

    @property
    def in_size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.info.width, self.info.height

    @property
    def single_picture(self) -> bool:
        """A still image, or an animation or video of one frame."""
        return self.info.estimated_frames == 1

    @property
    def estimated_frames(self) -> int | None:
        """The frames the input declares, or for a video that does not count them an estimate
        from its duration; None where neither is known."""
        return self.info.estimated_frames


def probe_input(path: Path, output: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> InputInfo:
    """The input's description, read before any work: a video, an animation (also a still image
    going to .gif or .apng), or a still image. Frames over `max_pixels` are refused from the
    header, before anything is decoded."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; upscale a folder with vsr.upscale_folder")
    info: InputInfo
    if suffix(path) in IMAGE_SUFFIXES | ANIMATED_SUFFIXES:
        with pillow_limit(path, max_pixels):
            info = probe_animation(path) if is_animated(path) or suffix(output) in (".gif", ".apng") else probe_image(path)
    else:
        info = probe_video(path)
    check_pixels(path, "a frame", info.width, info.height, max_pixels)
    return info


def checked_input(input: Path, output: Path, options: UpscaleOptions, *, overwrite: bool) -> InputInfo:
    """The input probed, and the output checked against it from the names alone, before any
    model is loaded: the input is readable and within the limits, the output's folder exists and
    nothing is overwritten without `overwrite`, and this input can become that kind of output."""
    from vsr.atomic import check_output

    info = probe_input(input, output, options.max_pixels)
    check_output(output, overwrite=overwrite, input_path=input)
    check_output_kind(info, output, options)
    return info


def output_scale(options: UpscaleOptions, model: Model) -> float:
    """The scale asked for, or the model's own; a model cannot go above its native scale."""
    scale = float(options.scale if options.scale is not None else model.scale)
    if scale > model.scale:
        raise InputError(f"`scale` {scale:g} is above {model.name}'s native ×{model.scale}; "
                         f"use a ×{math.ceil(scale)} model or a smaller `scale`", option="scale")
    return scale


def scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


def check_output_kind(info: InputInfo, output: Path, options: UpscaleOptions) -> None:
    """Refuse, from the names alone and before the model loads, an output this input cannot
    become."""
    out = suffix(output)
    if isinstance(info, ImageInfo):
        if not is_image(output):
            raise OutputError(f"{output}: a still image needs an image output ({', '.join(IMAGE_FORMATS)}, .gif)")
        return
    if out in ANIMATED_OUTPUTS or options.video.codec is not None:
        return
    if isinstance(info, AnimationInfo) and out not in containers.DEFAULT_CODECS:
        raise OutputError(f"{output}: an animated image becomes .gif, .webp, .png/.apng, or a video "
                          f"({', '.join(containers.DEFAULT_CODECS)})")
    containers.default_codec(output)  # an unknown container is refused here


def make_plan(info: InputInfo, output: Path, options: UpscaleOptions, scale: float, *,
              overwrite: bool = False) -> Plan:
    """What upscaling `info` by `scale` into `output` takes; refuses what cannot be written.
    `overwrite`: the output may replace a file found there when it is published."""
    check_output_kind(info, output, options)
    out_size = scaled(info.width, info.height, scale)
    check_pixels(output, "the output frame", *out_size, options.max_pixels)
    check_memory(output, *out_size)
    if isinstance(info, VideoInfo):
        plan = _plan_video(info, output, options, scale)
    elif isinstance(info, AnimationInfo):
        plan = _plan_animation(info, output, options, scale)
    else:
        plan = _plan_image(info, output, options, scale)
    return dataclasses.replace(plan, overwrite=overwrite)


@dataclass(frozen=True)
class _Encoder:
    codec: str
    pix_fmt: str
    size: tuple[int, int]
    warnings: tuple[str, ...]


def _video_encoder(output: Path, video: VideoEncoding, *, source_pix_fmt: str, size: tuple[int, int]) -> _Encoder:
    """Encoder, pixel format and frame size for a video output, checked before any work."""
    codec_name = video.codec or containers.default_codec(output)
    try:
        codec = av.Codec(codec_name, "w")
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(f"unknown encoder `codec` {codec_name!r}", option="codec") from exc
    if video.pix_fmt is not None:
        try:
            av.VideoFormat(video.pix_fmt)
        except ValueError as exc:
            raise InputError(f"`pix_fmt` {video.pix_fmt}: not a pixel format FFmpeg knows "
                             f"(e.g. yuv420p, yuv420p10le, yuv444p)", option="pix_fmt") from exc
    if codec.type == "video":
        containers.check_muxer(output, codec_name)
    out_fmt = containers.choose_pix_fmt(codec, video.pix_fmt or source_pix_fmt)
    if video.pix_fmt and out_fmt != video.pix_fmt:
        raise InputError(f"`pix_fmt` {video.pix_fmt}: {codec_name} cannot encode it", option="pix_fmt")
    warnings = []
    if out_fmt != source_pix_fmt and not video.pix_fmt:
        warnings.append(f"{codec_name} cannot encode {source_pix_fmt}; writing {out_fmt}")
    out_size = containers.even_size(*size, out_fmt)
    if out_size != size:
        warnings.append(f"output size {size[0]}x{size[1]} rounded to {out_size[0]}x{out_size[1]} for {out_fmt}")
    containers.check_crf(codec_name, video.crf, out_fmt)
    containers.check_encoder(codec_name, width=out_size[0], height=out_size[1], pix_fmt=out_fmt,
                             options=containers.encoder_options(codec_name, video.crf, video.preset))
    return _Encoder(codec_name, out_fmt, out_size, tuple(warnings))


def _animation_spec(output: Path, image: ImageEncoding, size: tuple[int, int], *, plays: int, has_alpha: bool,
                    gif_palette: PaletteMode) -> AnimationSinkSpec:
    check_format_size(output, *size)
    return AnimationSinkSpec(width=size[0], height=size[1], plays=plays, has_alpha=has_alpha, gif_palette=gif_palette,
                             dither=image.dither, quality=image.quality)


def _plan_video(info: VideoInfo, output: Path, options: UpscaleOptions, scale: float) -> Plan:
    warnings = [f"{t.type} stream #{t.index} is not carried over" for t in info.tracks
                if t.type not in ("audio", "subtitle")]
    warnings += [f"{t.type} stream #{t.index} has a codec FFmpeg does not know; left out" for t in info.tracks
                 if t.type in ("audio", "subtitle") and t.codec == UNKNOWN_CODEC]
    audio, subtitles = ([t for t in info.tracks_of(kind) if t.codec != UNKNOWN_CODEC] for kind in ("audio", "subtitle"))
    if suffix(output) in ANIMATED_OUTPUTS:
        size = scaled(info.width, info.height, scale)
        gif_palette: PaletteMode = "per-frame" if options.image.gif_palette == "per-frame" else "global"
        animation = _animation_spec(output, options.image, size, plays=0, has_alpha=False, gif_palette=gif_palette)
        if audio or subtitles:
            warnings.append(f"{output.suffix} holds pictures only: audio and subtitle tracks left out")
        return Plan(info, output, ANIMATED_OUTPUTS[suffix(output)], animation, size, codec=suffix(output).lstrip("."),
                    pix_fmt="rgb24", warnings=tuple(warnings))
    encoder = _video_encoder(output, options.video, source_pix_fmt=info.pix_fmt,
                             size=(round(info.width * scale), round(info.height * scale)))
    warnings += encoder.warnings
    copy = [t.index for t in audio] if options.video.audio else []
    if audio and not options.video.audio:
        warnings.append(f"{len(audio)} audio track(s) left out (--no-audio)")
    for sub in subtitles:
        if containers.can_hold_subtitle(output, sub.codec):
            copy.append(sub.index)
        else:
            warnings.append(f"subtitle track #{sub.index} ({sub.codec}) cannot go into {output.suffix}; "
                            "left out (use .mkv to keep it)")
    spec = VideoSinkSpec(codec=encoder.codec, pix_fmt=encoder.pix_fmt, width=encoder.size[0], height=encoder.size[1],
                         time_base=info.time_base, colour=info.colour, average_rate=info.average_rate,
                         crf=options.video.crf, preset=options.video.preset, rotation=info.rotation,
                         sample_aspect_ratio=info.sample_aspect_ratio, metadata=info.metadata,
                         stream_metadata=info.stream_metadata)
    return Plan(info, output, OutputKind.VIDEO, spec, encoder.size, codec=encoder.codec, pix_fmt=encoder.pix_fmt,
                copy_streams=tuple(sorted(copy)), warnings=tuple(warnings))


def _plan_animation(info: AnimationInfo, output: Path, options: UpscaleOptions, scale: float) -> Plan:
    out_suffix = suffix(output)
    size = scaled(info.width, info.height, scale)
    warnings: list[str] = []
    if out_suffix in ANIMATED_OUTPUTS:
        chosen = options.image.gif_palette
        gif_palette = auto_gif_palette(info) if chosen == "auto" else chosen
        animation = _animation_spec(output, options.image, size, plays=info.plays, has_alpha=info.has_alpha,
                                    gif_palette=gif_palette)
        if out_suffix == ".gif" and info.format != "GIF" and info.duration_ms % 10:
            warnings.append("GIF delays are whole centiseconds: delays rounded (the total running time is kept)")
        pix_fmt = "pal8" if out_suffix == ".gif" else ("rgba" if info.has_alpha else "rgb24")
        return Plan(info, output, ANIMATED_OUTPUTS[out_suffix], animation, size,
                    codec="apng" if out_suffix == ".png" else out_suffix.lstrip("."), pix_fmt=pix_fmt,
                    warnings=tuple(warnings))
    encoder = _video_encoder(output, options.video, source_pix_fmt="yuv420p", size=size)
    warnings += encoder.warnings
    fill = options.image.background_rgb or info.background or (0, 0, 0)
    if info.has_alpha:
        warnings.append(f"{output.suffix} holds no transparency: composited over #{bytes(fill).hex()}")
    rate = Fraction(info.frames * 1000, info.duration_ms) if info.duration_ms else None
    spec = VideoSinkSpec(codec=encoder.codec, pix_fmt=encoder.pix_fmt, width=encoder.size[0], height=encoder.size[1],
                         time_base=MS, colour=RGB_SOURCE, average_rate=rate, crf=options.video.crf,
                         preset=options.video.preset, background=fill)
    return Plan(info, output, OutputKind.VIDEO, spec, encoder.size, codec=encoder.codec, pix_fmt=encoder.pix_fmt,
                warnings=tuple(warnings))


def auto_gif_palette(info: AnimationInfo) -> PaletteMode:
    """One palette for all frames, unless the source is a GIF whose frames needed different
    palettes (more than 256 colours in all). Measured (benchmarks/README.md): a palette per frame
    gained 0.2 dB but made static areas flicker, as each frame's palette differs a little."""
    return "per-frame" if info.format == "GIF" and info.colours > 256 else "global"


def _plan_image(info: ImageInfo, output: Path, options: UpscaleOptions, scale: float) -> Plan:
    quality = DEFAULT_QUALITY if options.image.quality is None else options.image.quality
    fill = options.image.background_rgb or info.background or (0, 0, 0)
    keeps_alpha = info.has_alpha and holds_alpha(output)
    size = scaled(info.width, info.height, scale)
    check_format_size(output, *size)
    warnings = []
    if info.has_alpha and not keeps_alpha:
        warnings.append(f"{output.suffix} holds no transparency: composited over #{bytes(fill).hex()}")
    return Plan(info, output, OutputKind.IMAGE, ImageSinkSpec(quality=quality, carry=info.carry, background=fill),
                size, codec=suffix(output).lstrip("."),
                pix_fmt="rgba" if keeps_alpha else "rgb24", warnings=tuple(warnings))
