"""Models: pure network definitions (`archs`), their recognition from tensor shapes
(`registry`, `checkpoint`), safe model files (`files`, `ncnn`), the catalogue of built-in and
imported models (`catalogue`) and the descriptor every other layer uses (`descriptor`).

Importing this package loads nothing heavy: `vsr --help` reads the default model name here.
"""

DEFAULT_MODEL = "realesr-animevideov3"
