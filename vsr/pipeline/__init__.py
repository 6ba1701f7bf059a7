"""The pipeline: typed options (`options`), the output plan (`plan`), frames through the engine
(`batches`), the threaded runner (`runner`) and the public `upscale` / `upscale_folder`
(`upscale`). Importing this package loads nothing heavy."""
