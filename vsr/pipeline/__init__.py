"""The pipeline: typed options (`options`), the output plan (`plan`), frames through the engine
(`batches`), the threaded runner (`runner`), one plan run (`run`), the public `upscale` /
`upscale_folder` (`upscale`), and long videos in segments: cutting (`segments`), the work folder
(`manifest`), workers (`worker`) and where they run (`executors`, `ray_executor`), tied together
in `segmented`. Importing this package loads nothing heavy."""
