"""U-Net building blocks shared by the audio and RGB depth networks.

`UNetEncoder` exposes one feature map per level: x1 at the input resolution, then one 2x
downsampling per level, with base * (1, 2, 4, 8, 8) channels. `UNetDecoder` mirrors it: d_k
has the channels and resolution of x_(N-k), so d1 is the coarsest and the last d is at the
input resolution. Networks built from these blocks with the same `base_channels` therefore
match level by level, which is what feature distillation between them needs.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def encoder_channels(base_channels, num_levels=5):
    """Channels of x1..xN: base_channels * (1, 2, 4, 8, 8, ...), doubling up to 8x."""
    return tuple(base_channels * min(2 ** level, 8) for level in range(num_levels))


def named_features(prefix, tensors):
    """{'<prefix>1': tensors[0], '<prefix>2': tensors[1], ...}."""
    return {f'{prefix}{index}': tensor for index, tensor in enumerate(tensors, start=1)}


class ConvBlock(nn.Sequential):
    """Two 3x3 convolutions, each followed by BatchNorm and ReLU; keeps the resolution."""

    def __init__(self, in_channels, out_channels):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )


class UNetEncoder(nn.Module):
    """A ConvBlock at full resolution, then (2x2 max-pool, ConvBlock) per deeper level.

    `levels[i]` maps x_i to x_(i+1) (the first maps the input to x1), so a caller can step
    through the levels and act between them (e.g. cross-attention between two encoders).
    """

    def __init__(self, in_channels, base_channels=64, num_levels=5):
        super().__init__()
        self.channels = encoder_channels(base_channels, num_levels)
        inputs = (in_channels,) + self.channels[:-1]
        self.levels = nn.ModuleList(
            ConvBlock(inputs[0], self.channels[0]) if level == 0 else
            nn.Sequential(nn.MaxPool2d(2), ConvBlock(inputs[level], self.channels[level]))
            for level in range(num_levels))

    def forward(self, x):
        """Return [x1, ..., xN], finest first."""
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


class UpBlock(nn.Module):
    """Bilinear upsampling to the skip's size, concatenation with the skip, ConvBlock."""

    def __init__(self, in_channels, skip_channels, out_channels):
        super().__init__()
        self.conv = ConvBlock(in_channels + skip_channels, out_channels)

    def forward(self, x, skip):
        x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
        return self.conv(torch.cat([x, skip], dim=1))


class UNetDecoder(nn.Module):
    """Mirror of a UNetEncoder with channels `encoder_channels` (x1..xN, finest first)."""

    def __init__(self, encoder_channels):
        super().__init__()
        self.channels = tuple(encoder_channels[-2::-1])     # d1..d(N-1): channels of x(N-1)..x1
        inputs = tuple(encoder_channels[:0:-1])             # xN, then d1..d(N-2)
        self.levels = nn.ModuleList(
            UpBlock(in_channels, skip_channels, skip_channels)
            for in_channels, skip_channels in zip(inputs, self.channels, strict=True))

    def forward(self, features):
        """Decode [x1, ..., xN] into [d1, ..., d(N-1)], coarsest first (the last is finest)."""
        x = features[-1]
        decoded = []
        for level, skip in zip(self.levels, reversed(features[:-1]), strict=True):
            x = level(x, skip)
            decoded.append(x)
        return decoded
