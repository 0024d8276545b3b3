"""The RGB-path parts of SemiSupModel: photometric self-supervision (pose network + multi-view
photometric loss) and the extra terms of depth-completion networks (SAN)."""
import inspect

from torch import nn

from packnet_sfm.geometry.pose import Pose
from packnet_sfm.losses.loss_base import LOSS_REGISTRY
from packnet_sfm.losses.multiview_photometric_loss import MultiViewPhotometricLoss
from packnet_sfm.losses.supervised_loss import split_method
from packnet_sfm.networks.pose import build_pose_net
from packnet_sfm.utils.config import ConfigError


class SelfSupervision(nn.Module):
    """Photometric loss of the target image against its context frames, warped with the
    predicted depth and the poses a pose network predicts."""

    def __init__(self, pose_net, photometric_loss):
        super().__init__()
        self.pose_net = pose_net
        self.photometric_loss = photometric_loss

    @classmethod
    def from_config(cls, cfg):
        return cls(build_pose_net(cfg),
                   MultiViewPhotometricLoss(**cfg.model.loss.photometric))

    @property
    def metrics(self):
        return self.photometric_loss.metrics

    def forward(self, batch, depths):
        """Scalar loss for depths (metres, finest first) of batch['rgb'] (needs 'rgb_context'
        and 'intrinsics'). The networks see the colour-jittered frames; the photometric loss
        compares the unjittered ones ('rgb_original', 'rgb_context_original') when the
        augmentation kept them, as packnet-sfm does."""
        context = batch.get('rgb_context')
        if not context or 'intrinsics' not in batch:
            raise ConfigError("model.loss.supervised_loss_weight < 1 needs context frames and "
                              "intrinsics in the batch: set datasets.kitti.back_context and/or "
                              "forward_context > 0 (KITTI datasets provide intrinsics)")
        vectors = self.pose_net(batch['rgb'], context)
        poses = [Pose.from_vec(vectors[:, i]) for i in range(len(context))]
        return self.photometric_loss(batch.get('rgb_original', batch['rgb']),
                                     batch.get('rgb_context_original', context), depths,
                                     batch['intrinsics'], poses)


class Completion:
    """Depth completion (networks fed `input_depth`): the raw-depth mask for losses that take
    one, and, when the network also returns its RGB-only prediction ('depth_rgb') and a
    'feature_consistency' term (ResNetSAN01 in training), the extra supervised terms
    rgb_loss_weight * supervised(depth_rgb) + feature_consistency_weight * consistency."""

    def __init__(self, supervised_method, rgb_loss_weight=1.0, feature_consistency_weight=1.0):
        forward = LOSS_REGISTRY[split_method(supervised_method)[1]].forward
        self.takes_raw_mask = 'raw_mask' in inspect.signature(forward).parameters
        self.rgb_loss_weight = rgb_loss_weight
        self.feature_consistency_weight = feature_consistency_weight

    @classmethod
    def from_config(cls, cfg):
        return cls(cfg.model.loss.supervised_method, **cfg.model.loss.completion)

    def loss_inputs(self, batch):
        """{'raw_mask': input_depth > 0} when the batch has input depth and the loss takes it."""
        if self.takes_raw_mask and batch.get('input_depth') is not None:
            return {'raw_mask': batch['input_depth'] > 0}
        return {}

    def extra_terms(self, output, supervised_loss, gt, valid):
        """(weighted extra loss, metrics) of the RGB-only branch ('depth_rgb', in the network's
        units like `gt`); (0, {}) without one."""
        if 'depth_rgb' not in output:
            return 0.0, {}
        rgb = supervised_loss(output['depth_rgb'], gt, valid)
        consistency = output['feature_consistency']
        metrics = {'completion/rgb_supervised_loss': rgb.detach(),
                   'completion/feature_consistency': consistency.detach()}
        return (self.rgb_loss_weight * rgb
                + self.feature_consistency_weight * consistency), metrics
