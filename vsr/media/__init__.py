"""Everything that touches media files, codecs, YUV planes and numpy arrays lives here."""
