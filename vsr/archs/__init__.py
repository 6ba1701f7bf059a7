"""Pure network definitions. No loading, no registry: see vsr.zoo for those."""

from vsr.archs.compact import SRVGGNetCompact
from vsr.archs.discriminator import SRGANDiscriminator
from vsr.archs.rrdb import RRDBNet
from vsr.archs.srresnet import MSRResNet, SRResNet

__all__ = ["MSRResNet", "RRDBNet", "SRGANDiscriminator", "SRResNet", "SRVGGNetCompact"]
