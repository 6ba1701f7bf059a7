"""The one registry of writers, keyed by output kind: what the pipeline opens to write its frames."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av.stream

from vsr.media.animated.apng import ApngWriter
from vsr.media.animated.gif import GifWriter
from vsr.media.animated.webp import WebpWriter
from vsr.media.animated.writer import AnimatedWriter, AnimationSinkSpec
from vsr.media.frames import FrameSink
from vsr.media.image import ImageSink, ImageSinkSpec
from vsr.media.kinds import OutputKind
from vsr.media.video_sink import VideoSink, VideoSinkSpec

SinkSpec = VideoSinkSpec | AnimationSinkSpec | ImageSinkSpec
SinkFactory = Callable[[Path, SinkSpec, Sequence[av.stream.Stream], bool], FrameSink]


def _video(path: Path, spec: SinkSpec, copy_streams: Sequence[av.stream.Stream], replace: bool) -> FrameSink:
    if not isinstance(spec, VideoSinkSpec):
        raise TypeError(f"a video sink needs a VideoSinkSpec, not {type(spec).__name__}")
    return VideoSink(path, spec, copy_streams, replace=replace)


def _animated(writer: type[AnimatedWriter]) -> SinkFactory:
    def open_writer(path: Path, spec: SinkSpec, copy_streams: Sequence[av.stream.Stream], replace: bool) -> FrameSink:
        if not isinstance(spec, AnimationSinkSpec):
            raise TypeError(f"{writer.__name__} needs an AnimationSinkSpec, not {type(spec).__name__}")
        return writer(path, spec, replace=replace)

    return open_writer


def _image(path: Path, spec: SinkSpec, copy_streams: Sequence[av.stream.Stream], replace: bool) -> FrameSink:
    if not isinstance(spec, ImageSinkSpec):
        raise TypeError(f"an image sink needs an ImageSinkSpec, not {type(spec).__name__}")
    return ImageSink(path, spec, replace=replace)


SINKS: dict[OutputKind, SinkFactory] = {
    OutputKind.VIDEO: _video,
    OutputKind.GIF: _animated(GifWriter),
    OutputKind.WEBP: _animated(WebpWriter),
    OutputKind.APNG: _animated(ApngWriter),
    OutputKind.IMAGE: _image,
}


def open_sink(kind: OutputKind, path: Path, spec: SinkSpec, copy_streams: Sequence[av.stream.Stream] = (), *,
              replace: bool = False) -> FrameSink:
    """The writer for `kind`, writing to a temporary file beside `path` until it finishes; it
    replaces a file found at `path` then only with `replace`."""
    return SINKS[kind](path, spec, copy_streams, replace)
