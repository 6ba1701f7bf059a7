"""Quality: metrics as the literature computes them (`metrics`), the low-resolution side of an
evaluation (`degrade`), `vsr eval` (`evaluate`), `vsr bandwidth` (`bandwidth`) and its plot
(`plot`)."""
