"""A long video in segments: where it is cut (`cutting`), its work folder (`work_folder`), the
typed manifest of finished segments (`manifest`), and resuming, recording and joining (`resume`)."""
