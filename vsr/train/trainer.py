"""The training loop: pixel-loss pre-training, then GAN training; validation, checkpoints with
exact resume, and the export that `vsr upscale --model` loads.

A run lives in one folder: `config.json` (the resolved options), `checkpoints/step-NNNNNNN.pt`
(BasicSR-style `params`/`params_ema` plus the discriminator, optimisers, step and every random
state, all plain tensors and containers so they load with weights_only=True), `log.jsonl` (losses
and validation per interval) and the exported `.safetensors`.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from vsr.atomic import atomic_write
from vsr.errors import InputError, ModelError, OutputError
from vsr.models import registry
from vsr.models.archs.discriminator import Norm, SRGANDiscriminator
from vsr.models.archs.rrdb import UNSHUFFLE_FACTOR
from vsr.models.descriptor import Model, describe_network
from vsr.quality import metrics
from vsr.runtime.device import DTYPES, bf16_pays_on_cpu, precision_name, resolve_device
from vsr.train import losses
from vsr.train.config import TrainConfig, for_resume
from vsr.train.data import (
    Batch,
    Degradation,
    FrameRange,
    MemoryBudget,
    PatchSampler,
    Prefetcher,
    Span,
    hold_out,
    load_sources,
    validation_pairs,
)

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
# The architectures' published defaults (Real-ESRGAN's compact, ESRGAN's RRDBNet, SRGAN's SRResNet).
# --base (default bicubic) then makes RRDBNet and SRResNet learn the residual over bicubic: from
# scratch, SRResNet's published form was 1.5 dB below bicubic after 500 steps, this one 0.9 dB above.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "compact": {"num_feat": 64, "num_conv": 16, "activation": "prelu"},
    "rrdb": {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "base": "none"},
    "srresnet": {"num_feat": 64, "num_block": 16, "kernel_size": 9, "batch_norm": True, "base": "none"},
}


def build_generator(config: TrainConfig) -> Model:
    """A new network of `config.arch`, or the model `config.init` to fine-tune."""
    if config.init is not None:
        from vsr.models.catalogue import load_model

        model = load_model(config.init)
        if model.scale != config.scale:
            raise InputError(f"`scale` {config.scale}: {model.name} is a ×{model.scale} model; "
                             f"fine-tuning keeps the architecture and scale", option="scale")
        return model
    hp = {"num_in_ch": 3, "num_out_ch": 3, "scale": config.scale, **ARCH_DEFAULTS[config.arch]}
    given = {"num_feat": config.num_feat, "num_grow_ch": config.num_grow_ch, "activation": config.activation,
             "batch_norm": config.batch_norm, "base": config.base,
             ("num_conv" if config.arch == "compact" else "num_block"): config.num_block}
    hp.update({k: v for k, v in given.items() if v is not None and k in hp})
    if config.arch == "rrdb" and config.scale not in UNSHUFFLE_FACTOR:
        raise InputError(f"`arch` rrdb trains ×{'/×'.join(map(str, sorted(UNSHUFFLE_FACTOR, reverse=True)))}, "
                         f"not ×{config.scale}; use srresnet or compact", option="arch")
    spec = registry.get_spec(config.arch)
    try:
        net = registry.build(spec, hp)
    except ModelError as exc:
        raise InputError(str(exc)) from exc
    return describe_network(net, spec, hp, name=config.name or "trained")


def degradation_of(config: TrainConfig) -> Degradation:
    def span(text: str | None, what: str, lowest: float, highest: float) -> Span | None:
        return None if text is None else Span.parse(text, what, lowest, highest)

    return Degradation(scale=config.scale, downscale=config.degrade_downscale,
                       blur=span(config.degrade_blur, "degrade_blur", 0, 20),
                       noise=span(config.degrade_noise, "degrade_noise", 0, 100),
                       jpeg=span(config.degrade_jpeg, "degrade_jpeg", 1, 100),
                       crf=span(config.degrade_crf, "degrade_crf", 0, 51))


GENERATOR_NAMES = {"raw": "raw weights", "ema": "moving average"}


class EMA:
    """An exponential moving average of the generator's weights and float buffers (BatchNorm's
    running statistics, which must match the averaged weights they normalise): steadier than the
    last step's weights, and what BasicSR and Real-ESRGAN publish.

    The decay warms up as min(decay, (1 + t) / (10 + t)) at update t, as timm and TensorFlow's
    ExponentialMovingAverage do. Without it the average starts from the random initial weights and
    still holds decay^t of them after t steps: 0.999^400 = 67%, and an SRResNet trained from
    scratch for 400 steps validated at 9-10 dB where its raw weights gave 26 dB."""

    WARMUP = 10  # the decay reaches 0.9 at t = 80, 0.99 at t = 890, 0.999 at t = 8990

    def __init__(self, net: nn.Module, decay: float) -> None:
        self.decay = decay
        self.net = copy.deepcopy(net).requires_grad_(False).eval()

    def decay_at(self, t: int) -> float:
        """The decay of update `t` (0 for the first): a pure function of the step, so a resumed
        run averages exactly as an uninterrupted one."""
        return min(self.decay, (1 + t) / (self.WARMUP + t))

    @torch.no_grad()
    def update(self, net: nn.Module, t: int) -> None:
        weight = 1 - self.decay_at(t)
        for avg, p in zip(self.net.parameters(), net.parameters()):
            avg.lerp_(p.detach(), weight)
        for kept, b in zip(self.net.buffers(), net.buffers()):
            if kept.is_floating_point():
                kept.lerp_(b, weight)
            else:  # counters (BatchNorm's num_batches_tracked)
                kept.copy_(b)


@dataclass
class Critic:
    """The GAN phase's discriminator and its optimiser."""

    net: SRGANDiscriminator
    optimiser: torch.optim.Optimizer


@dataclass
class Networks:
    generator: Model
    ema: EMA | None
    critic: Critic | None  # None without a GAN phase
    optim_g: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None

    def generators(self) -> dict[str, nn.Module]:
        """What validation measures and the export may hold: the raw generator, and its moving
        average where one is kept."""
        found = {"raw": self.generator.model}
        if self.ema is not None:
            found["ema"] = self.ema.net
        return found


def resolve_training_precision(precision: str, device: torch.device, generator: Model) -> torch.dtype:
    """The dtype the forward passes run in under autocast. `auto` made concrete: on CUDA bf16
    where the GPU has it, else fp16 (with loss scaling); on the CPU bf16 where this CPU runs the
    network clearly faster in it (as `vsr upscale` decides), else fp32. Weights, optimiser state
    and the EMA stay fp32 whatever this is. Saved in the run's config, so a resume keeps it."""
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if cuda_bf16 else torch.float16
        return torch.bfloat16 if bf16_pays_on_cpu(generator) else torch.float32
    if precision == "bf16" and device.type == "cuda" and not cuda_bf16:
        raise InputError(f"`precision` bf16: {torch.cuda.get_device_name(device)} has no bf16; use fp16 or fp32",
                         option="precision")
    return DTYPES[precision]


def _networks(config: TrainConfig, generator: Model, device: torch.device, amp: torch.dtype | None) -> Networks:
    g = generator.model.to(device).float().train().requires_grad_(True)
    ema = EMA(g, config.ema) if config.ema else None
    critic = None
    if config.gan_steps:
        norm = cast(Norm, config.d_norm)  # checked by TrainConfig.check
        d = SRGANDiscriminator(num_feat=config.d_feat, norm=norm).to(device).train()
        critic = Critic(d, torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=(0.9, 0.99)))
    optim_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=(0.9, 0.99))
    # fp16's narrow range needs loss scaling, or small gradients underflow to 0; bf16's does not.
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
    return Networks(generator, ema, critic, optim_g, scaler)


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / CHECKPOINTS).glob("step-*.pt"))


def latest_checkpoint(out: Path) -> Path:
    found = _checkpoints(out)
    if not found:
        raise InputError(f"`resume`: no checkpoint in {out / CHECKPOINTS}", option="resume")
    return found[-1]


def read_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a checkpoint, or objects a weights-only load refuses
        raise InputError(f"{path}: not a readable vsr checkpoint ({exc})") from exc


class Run:
    """One training run in its folder; `fit()` trains to the configured step count."""

    def __init__(self, config: TrainConfig, out: Path, *, resume: bool = False, overrides: dict[str, Any] | None = None,
                 progress: bool = True, overwrite: bool = False) -> None:
        self.out, self.progress = out, progress
        # An export outside the run's folder replaces a file only where the user said so (checked
        # again at publish: one may have appeared during training); a resumed run rewrites its own.
        self.replace_export = overwrite or resume
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: is a file; `out` is the run's folder (config, checkpoints, log)", option="out")
        saved = read_checkpoint(latest_checkpoint(out)) if resume else None
        if saved is not None:
            config = for_resume(saved["config"], overrides or {})
        elif _checkpoints(out):
            raise InputError(f"{out} holds a run already; use `resume` to continue it, or another `out` folder",
                             option=("resume", "out"))
        config.check()
        self.config = config
        self.device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        generator = build_generator(config)
        multiple = 2 * config.scale * generator.pad_multiple  # even LR crops, and what the network needs
        if config.patch_size % multiple and (config.degrade_crf is not None or generator.pad_multiple > 1):
            raise InputError(f"`patch_size` {config.patch_size} must be a multiple of {multiple} for this model",
                             option="patch_size")
        self.degradation = degradation_of(config)
        self.rng = np.random.default_rng(config.seed)
        self._load_data()
        dtype = resolve_training_precision(config.precision, self.device, generator)
        config.precision = precision_name(dtype)
        self.amp = None if dtype == torch.float32 else dtype
        self.nets = _networks(config, generator, self.device, self.amp)
        self.pixel = losses.pixel_loss(config.pixel_loss)
        self.feature_extractor = self._feature_extractor()
        self.step = 0
        self.batches: Prefetcher | None = None  # on CUDA, made when training starts (after a resume's restore)
        self.history: list[dict[str, Any]] = []
        # Losses summed since the last log row; saved with checkpoints so a resumed run logs the same.
        self.loss_sums: dict[str, float] = {}
        self.loss_count = 0
        self.exported = "raw"  # which generator export() wrote: "raw" or "ema"
        if saved is not None:
            self._restore(saved)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.as_dict(), indent=2) + "\n")

    # -- setup -------------------------------------------------------------------------------

    def _load_data(self) -> None:
        c = self.config
        frames = FrameRange.parse(c.frames, c.frame_step)
        budget = MemoryBudget()  # training and validation frames together
        sources = load_sources([Path(p) for p in c.data], scale=c.scale, frames=frames, patch_size=c.patch_size,
                               budget=budget)
        if c.val:
            val = load_sources([Path(p) for p in c.val], scale=c.scale, budget=budget,
                               frames=FrameRange.parse(c.val_frames, c.frame_step, "val_frames"), patch_size=4 * c.scale)
            train = sources
        else:
            train, val = hold_out(sources, c.val_fraction, self.rng)
        if c.temporal_weight and not any(s.video and len(s.frames) >= 2 for s in train):
            raise InputError("`temporal_weight`: the training data has no video (no neighbouring frames to compare); "
                             "add one with `data`, or leave the option out", option=("temporal_weight", "data"))
        self.sampler = PatchSampler(train, self.degradation, patch_size=c.patch_size, batch_size=c.batch_size,
                                    rng=self.rng, neighbours=c.temporal_weight > 0)
        self.val_pairs = validation_pairs(val, self.degradation, count=c.val_count, crop=c.val_crop, seed=c.seed + 1)
        self.data_summary = {"train_frames": sum(len(s.frames) for s in train), "val_frames": len(self.val_pairs),
                             "sources": len(sources), "degradation": self.degradation.describe()}
        log.info("training on %(train_frames)d frame(s), validating on %(val_frames)d; degradation: %(degradation)s",
                 self.data_summary)

    def _feature_extractor(self) -> Callable[[torch.Tensor], list[torch.Tensor]] | None:
        c = self.config
        if not c.gan_steps or not c.perceptual_weight:
            return None
        if c.vgg is not None:
            vgg = losses.VGGFeatures(Path(c.vgg), c.vgg_layer).to(self.device)
            return lambda x: [vgg(x)]
        critic = self.nets.critic
        assert critic is not None  # there is a GAN phase
        return lambda x: critic.net.features(x)[1]

    def _restore(self, saved: dict[str, Any]) -> None:
        n = self.nets
        n.generator.model.load_state_dict(saved["params"])
        if n.ema is not None:
            n.ema.net.load_state_dict(saved["params_ema"])
        n.optim_g.load_state_dict(saved["optim_g"])
        if n.critic is not None and "net_d" in saved:
            n.critic.net.load_state_dict(saved["net_d"])
            n.critic.optimiser.load_state_dict(saved["optim_d"])
        if n.scaler is not None and "scaler" in saved:
            n.scaler.load_state_dict(saved["scaler"])
        self.step = int(saved["step"])
        self.history = list(saved.get("history", []))
        self.loss_sums, self.loss_count = dict(saved["loss_sums"]), int(saved["loss_count"])
        self.rng.bit_generator.state = saved["rng"]["numpy"]
        torch.set_rng_state(saved["rng"]["torch"])

    # -- training ----------------------------------------------------------------------------

    def fit(self) -> dict[str, Any]:
        from tqdm import tqdm

        c = self.config
        start = time.perf_counter()
        if not self.history:
            self.history.append({"step": 0, **self.validate()})
        bar = tqdm(total=c.total_steps, initial=self.step, desc="training", unit="step", file=sys.stderr,
                   disable=not self.progress, dynamic_ncols=True)
        saved_at = self.step
        cuda = self.device.type == "cuda"
        # Making batches in a second thread pays on a GPU, whose steps leave the CPU idle. On a CPU
        # the thread competes with the training step for the same cores: 100 random-CRF fine-tune
        # steps took 15.2-15.6 s with it and 12.9-14.5 s without on a 2-core machine.
        prefetch = cuda if c.prefetch is None else c.prefetch
        self.batches = Prefetcher(self.sampler, pin=cuda) if prefetch else None
        try:
            while self.step < c.total_steps:
                step_losses = self._train_step()
                self.step += 1
                for k, v in step_losses.items():
                    self.loss_sums[k] = self.loss_sums.get(k, 0.0) + v
                self.loss_count += 1
                bar.update(1)
                if self.step % 10 == 0 or self.step == c.total_steps:
                    bar.set_postfix({k: f"{v:.4g}" for k, v in step_losses.items()}, refresh=False)
                if self.step % c.val_every == 0 or self.step == c.total_steps:
                    row = {"step": self.step, "lr_g": c.lr_g * c.lr_factor(self.step - 1),
                           "losses": {k: v / self.loss_count for k, v in self.loss_sums.items()}, **self.validate()}
                    self.history.append(row)
                    self._log(row)
                    if self.progress:
                        both = (f" (moving average {row['ema']['psnr']:.2f}, raw {row['raw']['psnr']:.2f})"
                                if "ema" in row else "")
                        bar.write(f"step {self.step}: val PSNR {row['psnr']:.2f} dB{both}, SSIM {row['ssim']:.4f}",
                                  file=sys.stderr)
                    self.loss_sums, self.loss_count = {}, 0
                if self.step % c.checkpoint_every == 0 or self.step == c.total_steps:
                    self.save()
                    saved_at = self.step
        except KeyboardInterrupt:
            if self.step > saved_at:  # keep what was learnt: --resume continues from here
                self.save()
            log.warning("stopped at step %d; the checkpoint there lets --resume continue", self.step)
            raise
        finally:
            if self.batches is not None:
                self.batches.close()
            bar.close()
        export = self.export()
        return {"out": str(self.out), "export": str(export), "generator": self.exported, "steps": self.step,
                "precision": c.precision,
                "seconds": round(time.perf_counter() - start, 1), **self.data_summary, "initial": self.history[0],
                "final": self.history[-1]}

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=self.amp, enabled=self.amp is not None)

    def _backward(self, loss: torch.Tensor, optimiser: torch.optim.Optimizer) -> None:
        optimiser.zero_grad(set_to_none=True)
        scaler = self.nets.scaler
        if scaler is None:
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            optimiser.step()
        else:
            scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            scaler.step(optimiser)
            scaler.update()

    def _batch(self) -> Batch:
        return (self.batches or self.sampler).next_batch().to(self.device)

    def _train_step(self) -> dict[str, float]:
        c, n = self.config, self.nets
        g = n.generator.model
        batch = self._batch()
        lr, hr = batch.lr, batch.hr
        critic = n.critic if self.step >= c.pretrain_steps else None  # the GAN phase
        factor = c.lr_factor(self.step)
        for optimiser, base in ((n.optim_g, c.lr_g), (n.critic.optimiser if n.critic else None, c.lr_d)):
            for group in optimiser.param_groups if optimiser is not None else ():
                group["lr"] = base * factor
        result: dict[str, float] = {}
        if critic is not None:
            d = critic.net
            for i in range(c.d_updates):  # extra discriminator updates see fresh batches
                d_batch = batch if i == 0 else self._batch()
                d_lr, d_hr = d_batch.lr, d_batch.hr
                with torch.no_grad(), self._autocast():
                    fake = g(d_lr)
                with self._autocast():
                    d_loss = losses.discriminator_loss(c.adversarial, d(d_hr), d(fake.float()), c.label_smoothing)
                self._backward(d_loss, critic.optimiser)
            result["d"] = d_loss.item()
            d.requires_grad_(False)  # the generator's step must not accumulate into D
        with self._autocast():
            sr = g(lr)
            pixel = self.pixel(sr.float(), hr)
            total = pixel * (c.pixel_weight if critic is not None else 1.0)
            result["pixel"] = pixel.item()
            if c.temporal_weight and batch.pairs:
                temporal = losses.temporal_loss(self.pixel, sr.float(), hr, batch.pairs)
                total = total + c.temporal_weight * temporal
                result["temporal"] = temporal.item()
            if critic is not None:
                d = critic.net
                if self.feature_extractor is not None:
                    perceptual = losses.perceptual_loss(self.feature_extractor, sr.float(), hr)
                    total = total + c.perceptual_weight * perceptual
                    result["perceptual"] = perceptual.item()
                ramp = min(1.0, (self.step - c.pretrain_steps + 1) / c.adversarial_rampup) if c.adversarial_rampup else 1.0
                adversarial = losses.generator_adversarial_loss(c.adversarial, d(hr), d(sr.float()))
                total = total + ramp * c.adversarial_weight * adversarial
                result["adversarial"] = adversarial.item()
        self._backward(total, n.optim_g)
        if critic is not None:
            critic.net.requires_grad_(True)
        if n.ema is not None:
            n.ema.update(g, self.step)
        if not all(np.isfinite(v) for v in result.values()):
            raise InputError(f"training diverged at step {self.step + 1} (losses {result}); "
                             f"lower `lr_g`/`lr_d`, or `resume` from an earlier checkpoint with smaller rates",
                             option=("lr_g", "lr_d", "resume"))
        return result

    @torch.no_grad()
    def validate(self) -> dict[str, Any]:
        """PSNR/SSIM (Y, border = scale) on the fixed set, of the raw generator and of its moving
        average: `psnr`/`ssim` are those of the one the export would hold (`generator`), and with
        an average kept, `raw` and `ema` hold both."""
        scores = {name: self._score(net) for name, net in self.nets.generators().items()}
        chosen = self._choose(scores)
        return {**scores[chosen], "generator": chosen, **(scores if len(scores) > 1 else {})}

    def _score(self, net: nn.Module) -> dict[str, float]:
        was_training = net.training
        net.eval()
        psnr, ssim = [], []
        for lr, hr in self.val_pairs:
            x = torch.from_numpy(lr).permute(2, 0, 1)[None].float().div(255).to(self.device)
            sr = (net(x).clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
            psnr.append(metrics.psnr_y(sr, hr, self.config.scale))
            ssim.append(metrics.ssim_y(sr, hr, self.config.scale))
        net.train(was_training)
        return {"psnr": round(float(np.mean(psnr)), 4), "ssim": round(float(np.mean(ssim)), 5)}

    def _choose(self, scores: dict[str, dict[str, float]]) -> str:
        """Which generator to export: --export-generator, or with `auto` the better on validation
        PSNR (the average on a tie: it is the steadier)."""
        wanted = self.config.export_generator
        if wanted != "auto" or len(scores) == 1:
            return wanted if wanted in scores else "raw"
        return "ema" if scores["ema"]["psnr"] >= scores["raw"]["psnr"] else "raw"

    def _final_scores(self) -> dict[str, dict[str, float]]:
        """Both generators' scores at the last step: the last validation's, or a fresh one where
        that is older or lacks them (a checkpoint of an earlier vsr)."""
        last = self.history[-1] if self.history else {}
        names = self.nets.generators().keys()
        if last.get("step") == self.step and (len(names) == 1 or all(n in last for n in names)):
            return {n: last[n] for n in names} if len(names) > 1 else {"raw": last}
        row = self.validate()
        return {n: row[n] for n in names} if len(names) > 1 else {"raw": row}

    def _log(self, row: dict[str, Any]) -> None:
        with (self.out / "log.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")

    # -- files -------------------------------------------------------------------------------

    def _rng_state(self) -> dict[str, Any]:
        """The generator's state as of the batches trained on (the prefetcher draws ahead)."""
        return dict(self.batches.rng_state if self.batches is not None else self.rng.bit_generator.state)

    def save(self) -> Path:
        n = self.nets
        state: dict[str, Any] = {"params": n.generator.model.state_dict(), "optim_g": n.optim_g.state_dict(),
                                 "step": self.step, "config": self.config.as_dict(), "history": self.history,
                                 "loss_sums": self.loss_sums, "loss_count": self.loss_count,
                                 "rng": {"numpy": self._rng_state(), "torch": torch.get_rng_state()}}
        if n.ema is not None:
            state["params_ema"] = n.ema.net.state_dict()
        if n.critic is not None:
            state["net_d"], state["optim_d"] = n.critic.net.state_dict(), n.critic.optimiser.state_dict()
        if n.scaler is not None:
            state["scaler"] = n.scaler.state_dict()
        folder = self.out / CHECKPOINTS
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{self.step:07d}.pt"
        with atomic_write(path) as tmp:
            torch.save(state, tmp)
        for old in _checkpoints(self.out)[: -self.config.keep_checkpoints]:
            old.unlink()
        return path

    def export(self) -> Path:
        """The generator (its EMA where kept) as a .safetensors any vsr command loads."""
        from vsr.models.catalogue import write_model

        c, g = self.config, self.nets.generator
        name = c.name or (g.name + "-finetuned" if c.init else self.out.name)
        path = Path(c.export) if c.export else self.out / f"{name}.safetensors"
        scores = self._final_scores()
        self.exported = self._choose(scores)
        net = copy.deepcopy(self.nets.generators()[self.exported]).cpu().float().eval()
        model = dataclasses.replace(g, model=net, name=name)
        held = ", ".join(f"{GENERATOR_NAMES[k]} {v['psnr']:.2f} dB" for k, v in scores.items())
        source = (f"vsr {'finetune of ' + g.name if c.init else 'train'}, {self.step} steps, "
                  f"{GENERATOR_NAMES[self.exported]} exported (validation PSNR-Y: {held}), data: {', '.join(c.data)}")
        licence = g.metadata.get("licence", "unknown") if c.init else "as the training data"
        write_model(path, model, source=source, licence=licence, replace=self.replace_export or not c.export)
        return path


# What a fine-tune changes from a training run's defaults: a short run at a lower rate from a
# trained model, pixel loss only, validated often enough to watch it specialise.
FINETUNE_DEFAULTS = {"pretrain_steps": 300, "gan_steps": 0, "lr_g": 1e-4, "val_every": 50, "checkpoint_every": 100,
                     "batch_size": 8, "ema": 0.99}


def _check_export(path: Path | None, overwrite: bool) -> None:
    from vsr.atomic import check_output
    from vsr.errors import OutputError

    if path is None:
        return
    if path.suffix.lower() != ".safetensors":
        raise OutputError(f"{path}: the exported model is a .safetensors file")
    check_output(path, overwrite=overwrite)


def train(overrides: dict[str, Any], *, out: Path, config_file: Path | None = None, resume: bool = False,
          overwrite: bool = False, progress: bool = True) -> dict[str, Any]:
    """`vsr train`: a new network, trained from the options; returns the run's summary."""
    from vsr.train.config import resolve

    config = resolve(overrides, config_file=config_file)
    if not resume:
        _check_export(Path(config.export) if config.export else None, overwrite)
    return Run(config, out, resume=resume, overrides=overrides, progress=progress, overwrite=overwrite).fit()


def finetune(model: str, overrides: dict[str, Any], *, out: Path, work_dir: Path | None = None,
             config_file: Path | None = None, resume: bool = False, overwrite: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """`vsr finetune`: continue training `model` on the user's data and export it to `out`."""
    from vsr.models.catalogue import load_model
    from vsr.train.config import resolve

    if not resume:
        _check_export(out, overwrite)
    base = load_model(model)
    if overrides.get("scale") not in (None, base.scale):
        raise InputError(f"`scale` {overrides['scale']}: {base.name} is a ×{base.scale} model; "
                         f"fine-tuning keeps its scale", option="scale")
    overrides = {**overrides, "init": model, "arch": base.arch, "scale": base.scale, "export": str(out)}
    config = resolve(overrides, config_file=config_file, defaults=FINETUNE_DEFAULTS)
    work = work_dir or out.with_name(out.stem + "-finetune")
    return Run(config, work, resume=resume, overrides=overrides, progress=progress, overwrite=overwrite).fit()
