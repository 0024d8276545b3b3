"""Multi-scale depth decoder (monodepth2 style) and the sigmoid-to-depth mapping."""
import torch
import torch.nn.functional as F
from torch import nn

DECODER_CHANNELS = (16, 32, 64, 128, 256)


def sigmoid_to_depth(sigmoid, min_depth, max_depth):
    """Map a sigmoid output linearly to inverse depth in [1/max_depth, 1/min_depth] and invert."""
    min_inv, max_inv = 1.0 / max_depth, 1.0 / min_depth
    return 1.0 / (min_inv + (max_inv - min_inv) * sigmoid)


class ConvBlock(nn.Module):
    """3x3 convolution with reflection padding followed by ELU."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode='reflect')
        self.activation = nn.ELU(inplace=True)

    def forward(self, x):
        return self.activation(self.conv(x))


class DepthDecoder(nn.Module):
    """Upsampling decoder over five encoder levels (strides 2..32) with skip connections.

    Parameters
    ----------
    num_ch_enc : list of int
        Channels of the encoder levels, finest first.
    num_scales : int
        Output maps, finest first: scale s has resolution H/2^s.

    `forward(features)` returns `num_scales` sigmoid maps [B,1,H/2^s,W/2^s], finest first.
    """

    def __init__(self, num_ch_enc, num_scales=4):
        super().__init__()
        self.num_scales = num_scales
        self.upconvs_in = nn.ModuleList()
        self.upconvs_out = nn.ModuleList()
        in_channels = num_ch_enc[-1]
        for level in reversed(range(len(num_ch_enc))):
            out_channels = DECODER_CHANNELS[level]
            skip = num_ch_enc[level - 1] if level > 0 else 0
            self.upconvs_in.append(ConvBlock(in_channels, out_channels))
            self.upconvs_out.append(ConvBlock(out_channels + skip, out_channels))
            in_channels = out_channels
        self.heads = nn.ModuleList(
            nn.Conv2d(DECODER_CHANNELS[s], 1, 3, padding=1, padding_mode='reflect')
            for s in range(num_scales))

    def forward(self, features):
        x, outputs = features[-1], {}
        for i, level in enumerate(reversed(range(len(features)))):
            x = F.interpolate(self.upconvs_in[i](x), scale_factor=2, mode='nearest')
            if level > 0:
                x = concat_skip(x, features[level - 1])
            x = self.upconvs_out[i](x)
            if level < self.num_scales:
                outputs[level] = self.heads[level](x).sigmoid()
        return [outputs[s] for s in range(self.num_scales)]


def concat_skip(upsampled, skip):
    """Concatenate a decoder map with its skip features, which must have the same size."""
    if upsampled.shape[-2:] != skip.shape[-2:]:
        raise ValueError(f"Decoder size {tuple(upsampled.shape[-2:])} does not match encoder "
                         f"skip size {tuple(skip.shape[-2:])}: image height and width must be "
                         "multiples of 32 (set datasets.*.image_shape accordingly)")
    return torch.cat([upsampled, skip], 1)
