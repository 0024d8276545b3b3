"""U-Net depth from binaural echoes with left/right cross-attention (seed 003).

The left and right spectrograms go through separate encoders (the same one with
`share_encoders`). At each level in `attention_levels` the two ears exchange information
through multi-head cross-attention (each ear attends to the other, with 2D sinusoidal
positional encodings) before going deeper. Every level is fused by a 1x1 convolution over the
concatenated ears into x1..x5 (base * 1, 2, 4, 8, 8 channels at 1 .. 1/16 of the input),
which one decoder turns into d1..d4 and depth. x1..x5 and d1..d4 match RGBDepthUNet's with
the same `base_channels`, for feature distillation from that teacher. With `prior_depth`
(metres) the head's bias starts the depth at that value instead of max_depth / 2.
42,829,121 parameters at base_channels 64 (separate encoders, attention at levels 4 and 5,
mlp_ratio 4), 33,422,337 with `share_encoders`.
"""
import torch
import torch.nn as nn

from packnet_sfm.networks.layers.attention import BinauralCrossAttention
from packnet_sfm.networks.layers.depth_prior import init_sigmoid_head
from packnet_sfm.networks.layers.unet_blocks import UNetDecoder, UNetEncoder, named_features
from packnet_sfm.utils.config import ConfigError


class BinauralAttentionUNet(nn.Module):
    """Audio [B, 2, H, W] (left, right) -> {'depth': [sigmoid * max_depth]}.

    forward(audio, return_features=False); with return_features the output also holds
    'features': {'x1'..'x5' (fused), 'd1'..'d4'}. H and W should be multiples of 16.
    """

    input_keys = ('audio',)
    audio_channels = 2

    def __init__(self, base_channels=64, share_encoders=False, attention_levels=(4, 5),
                 num_heads=8, mlp_ratio=4, max_depth=1.0, prior_depth=0.0, depth_scale=1.0):
        super().__init__()
        self.max_depth = max_depth
        self.left_encoder = UNetEncoder(1, base_channels)
        self.right_encoder = self.left_encoder if share_encoders else UNetEncoder(1, base_channels)
        channels = self.left_encoder.channels
        check_attention_levels(attention_levels, channels, num_heads)
        self.attention = nn.ModuleDict({
            str(level): BinauralCrossAttention(channels[level - 1], num_heads, mlp_ratio)
            for level in attention_levels})
        self.fusion = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * c, c, kernel_size=1, bias=False),
                          nn.BatchNorm2d(c), nn.ReLU())
            for c in channels)
        self.decoder = UNetDecoder(channels)
        self.head = nn.Conv2d(base_channels, 1, kernel_size=1)
        init_sigmoid_head(self.head, prior_depth, max_depth, depth_scale,
                          'model.depth_net.BinauralAttentionUNet.prior_depth')

    def forward(self, audio, return_features=False):
        if audio.dim() != 4 or audio.shape[1] != 2:
            raise ConfigError('BinauralAttentionUNet needs audio [B, 2, H, W] (left, right '
                              f'spectrograms), got {tuple(audio.shape)}')
        encoded = self.encode(audio[:, :1], audio[:, 1:])
        decoded = self.decoder(encoded)
        output = {'depth': [torch.sigmoid(self.head(decoded[-1])) * self.max_depth]}
        if return_features:
            output['features'] = {**named_features('x', encoded), **named_features('d', decoded)}
        return output

    def encode(self, left, right):
        """Step both encoders level by level, cross-attend where configured, fuse every level."""
        fused = []
        levels = zip(self.left_encoder.levels, self.right_encoder.levels, self.fusion,
                     strict=True)
        for level, (left_level, right_level, fusion) in enumerate(levels, start=1):
            left, right = left_level(left), right_level(right)
            if str(level) in self.attention:
                left, right = self.attention[str(level)](left, right)
            fused.append(fusion(torch.cat([left, right], dim=1)))
        return fused


def check_attention_levels(levels, channels, num_heads):
    """Each attention level must exist and have channels divisible by num_heads and by 4."""
    key = 'model.depth_net.BinauralAttentionUNet'
    for level in levels:
        if level not in range(1, len(channels) + 1):
            raise ConfigError(f'{key}.attention_levels: level {level} does not exist; '
                              f'use levels 1..{len(channels)}')
        if channels[level - 1] % num_heads or channels[level - 1] % 4:
            raise ConfigError(f'{key}: level {level} has {channels[level - 1]} channels, which '
                              f'must be divisible by num_heads ({num_heads}) and by 4; change '
                              'num_heads, base_channels or attention_levels')
