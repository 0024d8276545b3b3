"""DepthResNet: ResNet encoder + multi-scale decoder predicting depth from one RGB image."""
from torch import nn

from packnet_sfm.networks.layers.depth_decoder import DepthDecoder, sigmoid_to_depth
from packnet_sfm.networks.layers.resnet_encoder import build_encoder


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

    def __init__(self, version='18pt', min_depth=0.1, max_depth=80.0, pretrained_path='',
                 num_scales=4):
        super().__init__()
        self.encoder = build_encoder(version, pretrained_path,
                                     key='model.depth_net.DepthResNet.version')
        self.decoder = DepthDecoder(self.encoder.num_ch_enc, num_scales)
        self.min_depth, self.max_depth = min_depth, max_depth

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
