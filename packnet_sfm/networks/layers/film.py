"""Feature-wise linear modulation (FiLM) of RGB features by sparse-depth features."""
from torch import nn


class FiLM(nn.Module):
    """rgb * (1 + gamma) + beta with (gamma, beta) predicted per pixel from depth features by a
    1x1 convolution, applied only where `mask` (the depth features' validity) is set.
    Starts as the identity (zero-initialised convolution)."""

    def __init__(self, depth_channels, rgb_channels):
        super().__init__()
        self.conv = nn.Conv2d(depth_channels, 2 * rgb_channels, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def forward(self, rgb, depth_features, mask):
        gamma, beta = (self.conv(depth_features) * mask).chunk(2, dim=1)
        return rgb * (1 + gamma) + beta
