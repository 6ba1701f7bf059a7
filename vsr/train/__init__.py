"""Training and fine-tuning super-resolution models: data and degradations (data.py), losses
(losses.py), the training loop with checkpoints and export (trainer.py)."""
