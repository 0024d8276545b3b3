"""Base + Residual depth from binaural echoes (seeds 000/001).

One audio encoder feeds two decoders: the base decoder predicts the room's coarse structure,
the residual decoder a bounded correction of it:

    base     = sigmoid(raw_base) * max_depth                      in [0, max_depth]
    residual = tanh(raw_residual) * residual_scale * max_depth    in +-residual_scale*max_depth
    final    = clamp(base + residual, 0, max_depth)

With `detach_base=True` (the curriculum after warm-up) final = clamp(base.detach() +
residual): the reconstruction loss then trains the residual branch and the encoder only.
With `prior_depth` (metres) the base head's bias starts the base at that depth instead of
max_depth / 2 (15 m at 30 m, in rooms of 2-6 m); the residual starts around 0.
Parameters: 7,444,738 / 29,764,098 / 119,026,690 at base_channels 32 / 64 / 128.
"""
import torch
import torch.nn as nn

from packnet_sfm.networks.layers.depth_prior import init_sigmoid_head
from packnet_sfm.networks.layers.unet_blocks import UNetDecoder, UNetEncoder, named_features


class BaseResidualUNet(nn.Module):
    """Audio [B, in_channels, H, W] -> {'depth': [final], 'base': [base], 'residual': [residual]}.

    forward(audio, detach_base=False, return_features=False); with return_features the output
    also holds 'features': encoder x1..x5 and decoder levels 'base_d1'.., 'residual_d1'...
    """

    input_keys = ('audio',)

    def __init__(self, base_channels=64, max_depth=1.0, residual_scale=0.2, in_channels=2,
                 prior_depth=0.0, depth_scale=1.0):
        super().__init__()
        self.max_depth = max_depth
        self.residual_scale = residual_scale
        self.audio_channels = in_channels
        self.encoder = UNetEncoder(in_channels, base_channels)
        self.base_decoder = UNetDecoder(self.encoder.channels)
        self.residual_decoder = UNetDecoder(self.encoder.channels)
        self.base_head = nn.Conv2d(base_channels, 1, kernel_size=1)
        self.residual_head = nn.Conv2d(base_channels, 1, kernel_size=1)
        init_sigmoid_head(self.base_head, prior_depth, max_depth, depth_scale,
                          'model.depth_net.BaseResidualUNet.prior_depth')

    def forward(self, audio, detach_base=False, return_features=False):
        encoded = self.encoder(audio)
        base_decoded = self.base_decoder(encoded)
        residual_decoded = self.residual_decoder(encoded)
        base = torch.sigmoid(self.base_head(base_decoded[-1])) * self.max_depth
        residual = (torch.tanh(self.residual_head(residual_decoded[-1]))
                    * self.residual_scale * self.max_depth)
        final = torch.clamp((base.detach() if detach_base else base) + residual,
                            0.0, self.max_depth)
        output = {'depth': [final], 'base': [base], 'residual': [residual]}
        if return_features:
            output['features'] = {**named_features('x', encoded),
                                  **named_features('base_d', base_decoded),
                                  **named_features('residual_d', residual_decoded)}
        return output
