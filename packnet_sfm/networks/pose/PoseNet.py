"""PoseNet: a small strided CNN regressing the 6-DoF motion from the target to each context."""
import torch
from torch import nn

POSE_SCALE = 0.01  # keeps initial motions small, as SfMLearner / packnet-sfm do


def image_pairs(image, context):
    """Target [B,3,H,W] and N contexts -> [N*B,6,H,W] (target, context) pairs, context-major."""
    return torch.cat([torch.cat([image, c], 1) for c in context], 0)


def split_pairs(vectors, num_context):
    """[N*B,6] pair outputs -> [B,N,6]."""
    return torch.stack(vectors.chunk(num_context, 0), 1)


class PoseNet(nn.Module):
    """Predicts, for every context frame, the pose vector (axis-angle, translation in metres)
    of the transform taking target-camera points into that context camera.

    `forward(image, context)`: image [B,3,H,W] and a list of N context images in [0, 1]
    -> [B,N,6].
    """

    def __init__(self, channels=(16, 32, 64, 128, 256, 256, 256)):
        super().__init__()
        layers, in_channels = [], 6
        for i, out_channels in enumerate(channels):
            kernel = 7 if i == 0 else 5 if i == 1 else 3
            layers += [nn.Conv2d(in_channels, out_channels, kernel, 2, kernel // 2),
                       nn.ReLU(inplace=True)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(in_channels, 6, 1)

    def forward(self, image, context):
        pairs = (image_pairs(image, context) - 0.45) / 0.225
        vectors = self.head(self.features(pairs)).mean(dim=(2, 3))
        return POSE_SCALE * split_pairs(vectors, len(context))
