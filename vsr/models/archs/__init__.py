"""Pure network definitions: `nn.Module`s with keyword-only hyperparameters and BasicSR's key
names. No loading and no registry here (see vsr.models.registry); import each network from its
module."""
