"""Media: frames and stream descriptions, and every way in and out of vsr's pixels (video through
PyAV, still images through Pillow, animated images in `animated`). Uint8 frames, YUV planes and
numpy arrays live only in this layer.

Importing this package loads nothing heavy.
"""
