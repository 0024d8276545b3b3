"""PoseResNet: ResNet encoder over (target, context) pairs with a convolutional pose head."""
from torch import nn

from packnet_sfm.networks.layers.resnet_encoder import build_encoder
from packnet_sfm.networks.pose.PoseNet import POSE_SCALE, image_pairs, split_pairs


class PoseResNet(nn.Module):
    """Same contract as PoseNet; the encoder takes the 6-channel pair (ImageNet weights of the
    first convolution are tiled over the two images).

    Parameters
    ----------
    version : str
        ResNet depth + 'pt' (ImageNet weights from `pretrained_path`) or 'nt', e.g. '18pt'.
    pretrained_path : str
        ImageNet ResNet state dict file, needed by 'pt' versions.
    """

    def __init__(self, version='18pt', pretrained_path=''):
        super().__init__()
        self.encoder = build_encoder(version, pretrained_path, in_channels=6,
                                     key='model.pose_net.PoseResNet.version')
        self.head = nn.Sequential(
            nn.Conv2d(self.encoder.num_ch_enc[-1], 256, 1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 6, 1))

    def forward(self, image, context):
        """image [B,3,H,W], N context images in [0, 1] -> [B,N,6] (axis-angle, translation)."""
        features = self.encoder(image_pairs(image, context))[-1]
        return POSE_SCALE * split_pairs(self.head(features).mean(dim=(2, 3)), len(context))
