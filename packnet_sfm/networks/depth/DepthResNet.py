"""DepthResNet: ResNet encoder + multi-scale decoder predicting depth from one RGB image."""
import math

from torch import nn

from packnet_sfm.networks.layers.depth_decoder import DepthDecoder, sigmoid_to_depth
from packnet_sfm.networks.layers.resnet_encoder import build_encoder
from packnet_sfm.utils.config import ConfigError


class DepthResNet(nn.Module):
    """Monocular depth network (packnet-sfm's DepthResNet).

    Parameters
    ----------
    version : str
        ResNet depth + 'pt' (ImageNet weights from `pretrained_path`) or 'nt', e.g. '18pt'.
    min_depth, max_depth : float
        Output range in metres (the sigmoid maps linearly to inverse depth in between).
    pretrained_path : str
        ImageNet ResNet state dict file, needed by 'pt' versions.
    num_scales : int
        Output depth maps, finest first (scale s is H/2^s x W/2^s).
    """
    input_keys = ('rgb',)
    input_multiple = 32     # five halvings in the encoder, undone by the decoder

    def __init__(self, version='18pt', min_depth=0.1, max_depth=80.0, pretrained_path='',
                 num_scales=4, depth_scale=1.0):
        super().__init__()
        if depth_scale != 1.0:
            raise ConfigError(f"{type(self).__name__} predicts (and reads input depth in) metres "
                              "between min_depth and max_depth; turn depth normalisation off "
                              "(datasets.batvision.depth_norm false)")
        key = f'model.depth_net.{type(self).__name__}'
        if not 0 < min_depth < max_depth:
            raise ConfigError(f'{key}.min_depth ({min_depth:g} m) must lie between 0 and the '
                              f"dataset's max_depth ({max_depth:g} m)")
        self.encoder = build_encoder(version, pretrained_path, key=f'{key}.version')
        self.decoder = DepthDecoder(self.encoder.num_ch_enc, num_scales)
        self.min_depth, self.max_depth = min_depth, max_depth
        self.start_at_middle_depth()

    def start_at_middle_depth(self):
        """Bias the output heads so an untrained net predicts sqrt(min_depth * max_depth), the
        middle of the range in log depth, rather than a saturating sigmoid(0) ~ 2 * min_depth:
        metric supervision then starts with useful gradients."""
        inv_min, inv_max = 1.0 / self.min_depth, 1.0 / self.max_depth
        middle = ((self.min_depth * self.max_depth) ** -0.5 - inv_max) / (inv_min - inv_max)
        for head in self.decoder.heads:
            nn.init.constant_(head.bias, math.log(middle / (1 - middle)))

    def decode(self, features):
        """Depth maps in metres, finest first, from the five encoder levels."""
        return [sigmoid_to_depth(s, self.min_depth, self.max_depth)
                for s in self.decoder(features)]

    def forward(self, rgb, return_features=False):
        """rgb [B,3,H,W] in [0, 1] (H, W multiples of 32) -> {'depth': [[B,1,H/2^s,W/2^s]]}."""
        features = self.encoder(rgb)
        output = {'depth': self.decode(features)}
        if return_features:
            output['features'] = {f'x{i + 1}': f for i, f in enumerate(features)}
        return output
