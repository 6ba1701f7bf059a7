"""Opening the frame source that matches a probed input: video, animated image or still image."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from vsr.media.animated.source import AnimatedSource, AnimationInfo
from vsr.media.frames import FrameSource
from vsr.media.image import ImageInfo, ImageSource
from vsr.media.video_source import VideoInfo, VideoSource

InputInfo = VideoInfo | AnimationInfo | ImageInfo


def open_source(info: InputInfo, *, copy: Sequence[int] = (),
                planes_for: Callable[[str], bool] | None = None) -> FrameSource:
    """The source of `info`'s frames. For video, `copy` names the streams whose packets come
    along, and `planes_for(pix_fmt)` the pixel formats to deliver as YUV planes."""
    if isinstance(info, VideoInfo):
        return VideoSource(info, copy=copy, planes_for=planes_for)
    if isinstance(info, AnimationInfo):
        return AnimatedSource(info)
    return ImageSource(info)
