"""What a training run is: every option in one flat, typed record, resolved from the defaults, a
TOML (or saved JSON) file and the command line, in that order, and saved beside the checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vsr.errors import InputError
from vsr.models.archs.blocks import BASES
from vsr.runtime import PRECISIONS

ARCHS = ("srresnet", "rrdb", "compact")
LR_SCHEDULES = ("constant", "cosine", "multistep")
SCALES = (2, 3, 4, 8)
EXPORT_GENERATORS = ("auto", "ema", "raw")


@dataclass
class TrainConfig:
    # The network: a new one of `arch`, or `init` (a model name or file) to fine-tune.
    arch: str = "compact"
    scale: int = 4
    init: str | None = None
    num_feat: int | None = None  # None: the architecture's default
    num_block: int | None = None  # residual blocks (srresnet, rrdb) or convolutions (compact)
    num_grow_ch: int | None = None  # rrdb
    activation: str | None = None  # compact: prelu, relu, leakyrelu
    batch_norm: bool | None = None  # srresnet
    # srresnet and rrdb: add the bicubic upscale of the input to the output ("none": the published
    # form). Runs saved before this option existed resume with "none", as they were built.
    base: str = "bicubic"
    # Data.
    data: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    val_fraction: float = 0.1
    frames: str | None = None  # START:END of each training video
    val_frames: str | None = None  # START:END of each --val video
    frame_step: int = 1
    patch_size: int = 128
    batch_size: int = 16
    degrade_downscale: str = "area"
    degrade_blur: str | None = None
    degrade_noise: str | None = None
    degrade_jpeg: str | None = None
    degrade_crf: str | None = None
    # Phases and losses.
    pretrain_steps: int = 1000
    gan_steps: int = 0
    pixel_loss: str = "l1"
    pixel_weight: float = 1.0  # in the GAN phase; pre-training is pixel loss alone
    perceptual_weight: float = 1.0
    vgg: str | None = None
    vgg_layer: str = "conv5_4"
    # Weight of the loss on the output's frame-to-frame change against the truth's (neighbouring
    # video frames, cropped alike); 0: off. 1 is the recommended strength.
    temporal_weight: float = 0.0
    adversarial: str = "ragan"
    adversarial_weight: float = 0.005
    adversarial_rampup: int = 0  # steps over which the adversarial weight rises from 0
    label_smoothing: float = 0.0
    d_updates: int = 1  # discriminator updates per generator update
    d_norm: str = "spectral"
    d_feat: int = 64  # the discriminator's first-stage width (doubling per stage)
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    # Learning-rate schedule, restarted at each phase (pixel-loss, then GAN), as ESRGAN does:
    # constant; cosine (annealed to 0 over the phase); multistep (× lr_gamma at each milestone,
    # counted in steps into the phase, e.g. "50000,100000").
    lr_schedule: str = "constant"
    lr_milestones: str | None = None
    lr_gamma: float = 0.5
    ema: float = 0.999  # 0: off
    export_generator: str = "auto"  # raw, ema, or auto: the better of the two on validation
    # Bookkeeping.
    val_every: int = 500
    val_count: int = 16
    val_crop: int = 256
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    seed: int = 0
    device: str = "auto"
    # auto: bf16 on CUDA where it has it, else fp16 with loss scaling; on a CPU bf16 where it runs
    # the network clearly faster, else fp32. Resolved when the run starts and saved.
    precision: str = "auto"
    # Make batches in a background thread: None decides (on a GPU yes, on a CPU no, where the
    # thread competes with the training step for the cores). Changes speed, never the weights.
    prefetch: bool | None = None
    name: str | None = None
    export: str | None = None  # the .safetensors to write at the end (default: OUT/NAME.safetensors)

    @property
    def total_steps(self) -> int:
        return self.pretrain_steps + self.gan_steps

    @property
    def milestones(self) -> list[int]:
        """--lr-milestones as ascending step counts into a phase."""
        if not self.lr_milestones:
            return []
        try:
            steps = [int(v) for v in self.lr_milestones.split(",") if v.strip()]
        except ValueError:
            steps = []
        if not steps or any(v < 1 for v in steps) or steps != sorted(steps):
            raise InputError(f"`lr_milestones` {self.lr_milestones!r}: ascending positive step counts, e.g. 50000,100000",
                             option="lr_milestones")
        return steps

    def lr_factor(self, step: int) -> float:
        """The learning rate at global `step`, as a fraction of --lr-g/--lr-d. A pure function
        of the step, so a resumed run follows the same schedule without saving one."""
        gan = step >= self.pretrain_steps
        into, length = (step - self.pretrain_steps, self.gan_steps) if gan else (step, self.pretrain_steps)
        if self.lr_schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * into / max(length, 1)))
        if self.lr_schedule == "multistep":
            return self.lr_gamma ** sum(into >= m for m in self.milestones)
        return 1.0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def check(self) -> None:
        """Refuse what cannot train, before any data is read."""
        if self.init is None and self.arch not in ARCHS:
            raise InputError(f"`arch`: {self.arch!r}; expected one of {', '.join(ARCHS)}", option="arch")
        if self.scale not in SCALES:
            raise InputError(f"`scale`: {self.scale}; expected one of {', '.join(map(str, SCALES))}", option="scale")
        if not self.data:
            raise InputError("`data`: give at least one image, video or folder to train on", option="data")
        if self.patch_size % self.scale or self.patch_size // self.scale < 4:
            raise InputError(f"`patch_size` {self.patch_size} must be a multiple of the scale ({self.scale}) "
                             f"and at least {4 * self.scale}", option="patch_size")
        if self.degrade_crf is not None and (self.patch_size // self.scale) % 2:
            raise InputError(f"`patch_size` {self.patch_size}: H.264 needs an even low-resolution crop; "
                             f"use a multiple of {2 * self.scale}", option="patch_size")
        for name in ("batch_size", "d_updates", "val_every", "val_count", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise InputError(f"`{name}` must be at least 1", option=name)
        for name in ("pretrain_steps", "gan_steps", "adversarial_rampup"):
            if getattr(self, name) < 0:
                raise InputError(f"`{name}` must not be negative", option=name)
        if self.total_steps < 1:
            raise InputError("nothing to do: `pretrain_steps` and `gan_steps` are both 0", option=("pretrain_steps", "gan_steps"))
        if not self.temporal_weight >= 0 or not math.isfinite(self.temporal_weight):
            raise InputError(f"`temporal_weight` must be 0 or more, not {self.temporal_weight}", option="temporal_weight")
        if self.temporal_weight and self.batch_size < 2:
            raise InputError("`temporal_weight` compares neighbouring frames: `batch_size` must be at least 2",
                             option=("temporal_weight", "batch_size"))
        if not 0 <= self.ema < 1:
            raise InputError(f"`ema` must be in [0, 1), not {self.ema}", option="ema")
        if not 0 <= self.label_smoothing < 0.5:
            raise InputError(f"`label_smoothing` must be in [0, 0.5), not {self.label_smoothing}", option="label_smoothing")
        if self.base not in BASES:
            raise InputError(f"`base`: {self.base!r}; expected one of {', '.join(BASES)}", option="base")
        if self.export_generator not in EXPORT_GENERATORS:
            raise InputError(f"`export_generator`: {self.export_generator!r}; expected one of "
                             f"{', '.join(EXPORT_GENERATORS)}", option="export_generator")
        if self.export_generator == "ema" and not self.ema:
            raise InputError("`export_generator` ema: no moving average is kept with `ema` 0", option=("export_generator", "ema"))
        if self.d_norm not in ("batch", "spectral", "none"):
            raise InputError(f"`d_norm`: {self.d_norm!r}; expected batch, spectral or none", option="d_norm")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InputError(f"`lr_schedule`: {self.lr_schedule!r}; expected one of {', '.join(LR_SCHEDULES)}",
                             option="lr_schedule")
        if self.lr_schedule == "multistep" and not self.milestones:
            raise InputError("`lr_schedule` multistep needs `lr_milestones`, e.g. 50000,100000",
                             option=("lr_schedule", "lr_milestones"))
        if not 0 < self.lr_gamma <= 1:
            raise InputError(f"`lr_gamma` must be in (0, 1], not {self.lr_gamma}", option="lr_gamma")
        if self.precision not in PRECISIONS:
            raise InputError(f"`precision`: {self.precision!r}; expected one of {', '.join(PRECISIONS)}", option="precision")
        if self.val_crop < 4 * self.scale:
            raise InputError(f"`val_crop` must be at least {4 * self.scale}", option="val_crop")


_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
# Options a resumed run may change: how long it runs and how it reports, not what it learns.
RESUMABLE = {"pretrain_steps", "gan_steps", "val_every", "checkpoint_every", "keep_checkpoints", "device", "precision",
             "export", "prefetch", "export_generator"}


def read_config_file(path: Path) -> dict[str, Any]:
    """Options from a TOML file (`patch_size = 96`, dashes or underscores), or a saved config.json."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    try:
        values = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'} ({exc})") from exc
    values = {k.replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise InputError(f"{path}: unknown option(s) {', '.join(unknown)}")
    return values


def _given(overrides: dict[str, Any]) -> dict[str, Any]:
    """The options the user gave: not None, and not an empty list."""
    return {k: v for k, v in overrides.items() if v is not None and v != []}


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    """Paths as strings, degradation values as the text Span parses (a number or "A:B")."""
    values = dict(values)
    for key in ("data", "val"):
        if key in values:
            values[key] = [str(p) for p in values[key] or []]
    for key in ("export", "vgg", "init"):  # the command line gives paths; a config file, strings
        if isinstance(values.get(key), Path):
            values[key] = str(values[key])
    for key in ("degrade_blur", "degrade_noise", "degrade_jpeg", "degrade_crf"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    return values


def _check_types(values: dict[str, Any]) -> dict[str, Any]:
    """A config file's values must have the option's type: `patch_size = "96"` is refused here
    rather than failing inside training."""
    for key, value in values.items():
        if key not in _FIELDS or value is None:
            continue
        kind = _FIELDS[key].type.split(" ")[0].split("[")[0]  # "int | None" → int, "list[str]" → list
        ok = {"bool": isinstance(value, bool), "int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str": isinstance(value, str), "list": isinstance(value, list)}.get(kind, True)
        if not ok:
            raise InputError(f"option {key}: {value!r} is not a{'n' if kind == 'int' else ''} {kind}")
        if kind == "float":
            values[key] = float(value)
    return values


def resolve(overrides: dict[str, Any], *, config_file: Path | None = None,
            defaults: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults < `defaults` (a command's own) < the config file < the options given (not None)."""
    values: dict[str, Any] = dict(defaults or {})
    if config_file is not None:
        values.update(read_config_file(config_file))
    values.update(_given(overrides))
    values = _check_types(_normalise(values))
    try:
        return TrainConfig(**values)
    except TypeError as exc:
        raise InputError(f"invalid training options: {exc}") from exc


def for_resume(saved: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    """The saved run's config, with only the options a resume may change taken from `overrides`."""
    config = TrainConfig(**{"base": "none", **saved})
    changed = []
    for key, value in _normalise(_given(overrides)).items():
        if key in RESUMABLE:
            setattr(config, key, value)
        elif value != saved.get(key):
            changed.append(key)
    if changed:
        raise InputError(f"`resume` continues the saved run, which differs in {', '.join(f'`{k}`' for k in changed)}; "
                         f"leave them out, or start a new run in another `out` folder", option=("resume", "out", *changed))
    return config
