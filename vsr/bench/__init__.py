"""`vsr bench`: each stage of the production pipeline timed on its own (`stages`), against the
hardware's measured roofline (`roofline`), on a generated clip (`synthetic`)."""
