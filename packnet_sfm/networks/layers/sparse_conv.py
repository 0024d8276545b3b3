"""Mask-aware dense convolutions for sparse inputs (normalised convolution), the CPU-friendly
stand-in for the MinkowskiEngine sparse encoder of packnet-sfm's SAN networks.

A feature map travels with a validity mask [B,1,H,W]. Each convolution sees only valid
inputs, renormalised by the fraction of its window they fill (partial convolution:
conv(x * m) * k^2 / conv(m)), and marks an output valid when any input in its window was;
invalid outputs are exactly zero, so an all-invalid input yields all-zero features."""
import torch
import torch.nn.functional as F
from torch import nn


class SparseConv(nn.Module):
    """Normalised (partial) convolution over the valid inputs of each window, scaled as if the
    window were full, plus bias, ReLU, and zero wherever no input was valid.
    Returns (features, propagated mask)."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              bias=False)
        nn.init.kaiming_normal_(self.conv.weight, nonlinearity='relu')  # no BN to rescale
        self.bias = nn.Parameter(torch.zeros(1, out_channels, 1, 1))
        self.register_buffer('ones', torch.ones(1, 1, kernel_size, kernel_size), persistent=False)
        self.stride, self.padding = stride, kernel_size // 2

    def forward(self, x, mask):
        count = F.conv2d(mask, self.ones, stride=self.stride, padding=self.padding)
        valid = (count > 0).to(x.dtype)
        out = self.conv(x * mask) * (self.ones.numel() / count.clamp(min=1.0)) + self.bias
        return torch.relu(out) * valid, valid


class SparseEncoder(nn.Module):
    """Features of a sparse depth map at the five levels of a ResNet encoder.

    Parameters
    ----------
    num_ch_enc : list of int
        Channels of the RGB encoder levels (strides 2, 4, 8, 16, 32) to match.
    max_depth : float
        Input depth (metres) is divided by it before the first convolution.
    width : int
        Channels of the first sparse level; doubled at each level (capped by num_ch_enc).

    `forward(depth)` -> (list of 5 feature maps, list of 5 validity masks [B,1,h,w]); a pixel
    of depth 0 is a missing measurement.
    """

    def __init__(self, num_ch_enc, max_depth=80.0, width=16):
        super().__init__()
        self.max_depth = max_depth
        self.stem = SparseConv(1, width, kernel_size=5)
        self.levels = nn.ModuleList()
        self.projections = nn.ModuleList()
        channels = width
        for level, out_channels in enumerate(num_ch_enc):
            inner = min(width * 2 ** (level + 1), out_channels)
            self.levels.append(nn.ModuleList([SparseConv(channels, inner, 3, stride=2),
                                              SparseConv(inner, inner, 3)]))
            self.projections.append(nn.Conv2d(inner, out_channels, 1, bias=False))
            channels = inner

    def forward(self, depth):
        mask = (depth > 0).to(depth.dtype)
        x, mask = self.stem(depth / self.max_depth, mask)
        features, masks = [], []
        for (down, conv), projection in zip(self.levels, self.projections):
            x, mask = down(x, mask)
            x, mask = conv(x, mask)
            features.append(projection(x) * mask)
            masks.append(mask)
        return features, masks
