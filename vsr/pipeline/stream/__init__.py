"""One input as one stream in this process: frames in batches through the engine (`batches`), the
threaded read → model → write pump (`pump`), and a whole plan run that way (`one_stream`)."""
