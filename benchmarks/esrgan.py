"""ESRGAN from scratch on real footage: srgan.py's measurement with ESRGAN's RRDB network and
losses (Wang et al. 2018): L1 pre-training, then a relativistic GAN phase with perceptual weight 1
and adversarial weight 0.005 at half the learning rate, against a BatchNorm discriminator as the
paper's. The paper's perceptual loss is VGG19 conv5_4, with pixel weight 0.01: give --vgg WEIGHTS
for both. Without them the discriminator's features stand in and the pixel weight is 1: at 0.01
they held the content too loosely (on 300 CPU steps bikes lost 1.48 dB to the pixel phase for
+6% sharpness). A spectrally normalised discriminator, Real-ESRGAN's choice, was still at chance
after 300 CPU steps: its generator lost PSNR and gained no sharpness.

    python benchmarks/esrgan.py --device cuda --results $OUT      # a GPU session (23 blocks)
    python benchmarks/esrgan.py --pretrain-steps 500 --gan-steps 300 --num-block 2   # a CPU run
"""

from __future__ import annotations

from srgan import from_scratch


def main() -> None:
    from_scratch(__doc__.splitlines()[0], "esrgan", "rrdb", "rrdbnet", "esrgan", options={},
                 gan_options=lambda vgg: {"adversarial": "ragan", "adversarial_weight": 5e-3,
                                          "pixel_weight": 1e-2 if vgg else 1.0, "perceptual_weight": 1.0,
                                          "d_norm": "batch", "lr_g": 1e-4},
                 defaults={"pretrain_steps": 20000, "gan_steps": 20000, "num_block": 23})


if __name__ == "__main__":
    main()
