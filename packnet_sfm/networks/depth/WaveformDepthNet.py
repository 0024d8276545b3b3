"""Depth from raw binaural waveforms (`datasets.batvision.audio_format: waveform`, seed 002).

A 1-D convolutional encoder (four stride-4 stages: base * (1, 2, 4, 8) channels, T -> T/256)
reads the two channels; its sequence is average-pooled to 16 steps and reshaped to a 4x4
map, which a 2-D decoder (bilinear 2x upsampling + ConvBlock per stage, channels halving
down to `base_channels`) brings to `output_size`. The 1-D features have no image layout, so
the decoder has no skip connections. Output: sigmoid * max_depth.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from packnet_sfm.networks.layers.unet_blocks import ConvBlock, named_features
from packnet_sfm.utils.config import ConfigError

GRID = 4            # side of the 2-D map the pooled sequence is reshaped to
STRIDE = 4          # temporal stride of each encoder stage
ENCODER_MULTIPLIERS = (1, 2, 4, 8)


def conv1d_stage(in_channels, out_channels):
    """Strided 1-D convolution, BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv1d(in_channels, out_channels, kernel_size=2 * STRIDE + 1, stride=STRIDE,
                  padding=STRIDE, bias=False),
        nn.BatchNorm1d(out_channels),
        nn.ReLU())


class WaveformDepthNet(nn.Module):
    """Waveforms [B, in_channels, T] -> {'depth': [[B, 1, output_size, output_size]]}.

    output_size must be GRID * 2**k (e.g. 64, 128, 256) and equal the dataset's image_size;
    forward(audio, return_features=False) adds 'features' {'x1'..'x4' (1-D encoder),
    'd1'..'dk' (decoder)} with return_features.
    """

    input_keys = ('audio',)

    def __init__(self, base_channels=32, output_size=256, max_depth=1.0, in_channels=2):
        super().__init__()
        num_up = math.log2(output_size / GRID) if output_size >= 2 * GRID else 0
        if num_up < 1 or not num_up.is_integer():
            raise ConfigError(f'model.depth_net.WaveformDepthNet.output_size must be {GRID} '
                              f'times a power of two (e.g. 64, 128, 256), got {output_size}; '
                              f'set it to datasets.batvision.image_size')
        self.max_depth = max_depth
        self.audio_channels = in_channels
        channels = [in_channels] + [base_channels * m for m in ENCODER_MULTIPLIERS]
        self.encoder = nn.ModuleList(conv1d_stage(i, o) for i, o in zip(channels, channels[1:]))
        widths = [max(channels[-1] >> level, base_channels) for level in range(int(num_up) + 1)]
        self.decoder = nn.ModuleList(ConvBlock(i, o) for i, o in zip(widths, widths[1:]))
        self.head = nn.Conv2d(widths[-1], 1, kernel_size=1)

    def forward(self, audio, return_features=False):
        if audio.dim() != 3 or audio.shape[1] != self.audio_channels:
            raise ConfigError(f'WaveformDepthNet needs waveforms [B, {self.audio_channels}, T], '
                              f'got {tuple(audio.shape)}; set datasets.batvision.audio_format: '
                              'waveform')
        encoded, x = [], audio
        for stage in self.encoder:
            x = stage(x)
            encoded.append(x)
        x = F.adaptive_avg_pool1d(x, GRID * GRID).view(x.shape[0], x.shape[1], GRID, GRID)
        decoded = []
        for stage in self.decoder:
            x = stage(F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False))
            decoded.append(x)
        output = {'depth': [torch.sigmoid(self.head(x)) * self.max_depth]}
        if return_features:
            output['features'] = {**named_features('x', encoded), **named_features('d', decoded)}
        return output
