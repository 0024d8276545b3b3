"""U-Net depth from RGB: the teacher for audio-student distillation (seed 003).

Built from the same encoder and decoder blocks as BinauralAttentionUNet, so with equal
`base_channels` its features x1..x5 (base * 1, 2, 4, 8, 8 channels at 1, 1/2, 1/4, 1/8, 1/16
of the input) and d1..d4 (base * 8, 4, 2, 1 channels at 1/8, 1/4, 1/2, 1) match the audio
network's level by level. 19,586,305 parameters at base_channels 64.
"""
import torch
import torch.nn as nn

from packnet_sfm.networks.layers.depth_prior import init_sigmoid_head
from packnet_sfm.networks.layers.unet_blocks import UNetDecoder, UNetEncoder, named_features


class RGBDepthUNet(nn.Module):
    """RGB [B, 3, H, W] in [0, 1] -> {'depth': [sigmoid * max_depth]} at the input resolution.

    forward(rgb, return_features=False); with return_features the output also holds
    'features': {'x1'..'x5', 'd1'..'d4'}.
    """

    input_keys = ('rgb',)

    def __init__(self, base_channels=64, max_depth=1.0, prior_depth=0.0, depth_scale=1.0):
        super().__init__()
        self.max_depth = max_depth
        self.encoder = UNetEncoder(3, base_channels)
        self.decoder = UNetDecoder(self.encoder.channels)
        self.head = nn.Conv2d(base_channels, 1, kernel_size=1)
        init_sigmoid_head(self.head, prior_depth, max_depth, depth_scale,
                          'model.depth_net.RGBDepthUNet.prior_depth')

    def forward(self, rgb, return_features=False):
        encoded = self.encoder(rgb)
        decoded = self.decoder(encoded)
        output = {'depth': [torch.sigmoid(self.head(decoded[-1])) * self.max_depth]}
        if return_features:
            output['features'] = {**named_features('x', encoded), **named_features('d', decoded)}
        return output
