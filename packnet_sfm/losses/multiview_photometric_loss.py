"""Self-supervised multi-view photometric loss (monodepth2 / packnet-sfm)."""
import torch
import torch.nn.functional as F

from packnet_sfm.geometry.warp import view_synthesis
from packnet_sfm.losses.loss_base import LossBase
from packnet_sfm.utils.config import ConfigError

# Added to the identity-reprojection errors so that ties go to the warped views.
AUTOMASK_TIE_BREAK = 1e-5


def ssim_distance(x, y, C1=1e-4, C2=9e-4):
    """Per-pixel (1 - SSIM) / 2 in [0, 1] over 3x3 windows (reflection padding), [B,C,H,W]."""
    x, y = F.pad(x, (1, 1, 1, 1), mode='reflect'), F.pad(y, (1, 1, 1, 1), mode='reflect')
    mu_x, mu_y = F.avg_pool2d(x, 3, 1), F.avg_pool2d(y, 3, 1)
    sigma_x = F.avg_pool2d(x * x, 3, 1) - mu_x ** 2
    sigma_y = F.avg_pool2d(y * y, 3, 1) - mu_y ** 2
    sigma_xy = F.avg_pool2d(x * y, 3, 1) - mu_x * mu_y
    ssim = ((2 * mu_x * mu_y + C1) * (2 * sigma_xy + C2)) / (
        (mu_x ** 2 + mu_y ** 2 + C1) * (sigma_x + sigma_y + C2))
    return ((1 - ssim) / 2).clamp(0, 1)


def edge_aware_smoothness(depth, image):
    """Mean |gradient| of the mean-normalised inverse depth, down-weighted at image edges."""
    inv_depth = 1.0 / depth
    inv_depth = inv_depth / inv_depth.mean(dim=(2, 3), keepdim=True)
    dx = (inv_depth[..., :, 1:] - inv_depth[..., :, :-1]).abs()
    dy = (inv_depth[..., 1:, :] - inv_depth[..., :-1, :]).abs()
    wx = torch.exp(-(image[..., :, 1:] - image[..., :, :-1]).abs().mean(1, keepdim=True))
    wy = torch.exp(-(image[..., 1:, :] - image[..., :-1, :]).abs().mean(1, keepdim=True))
    return (dx * wx).mean() + (dy * wy).mean()


class MultiViewPhotometricLoss(LossBase):
    """Photometric reprojection loss of a target image against its warped context frames.

    Parameters
    ----------
    num_scales : int
        Predicted depth scales used; each is upsampled to full resolution before warping.
    ssim_loss_weight : float
        alpha in alpha * (1 - SSIM) / 2 + (1 - alpha) * |I - I'|.
    smooth_loss_weight : float
        Weight of the edge-aware smoothness term (scale s weighted by 1 / 2^s).
    C1, C2 : float
        SSIM stabilisers.
    photometric_reduce_op : str
        'min' (per-pixel minimum reprojection over contexts) or 'mean'.
    automask : bool
        Add the unwarped contexts as candidates, masking pixels that do not move (static
        camera, objects moving with it); needs photometric_reduce_op 'min'.
    padding_mode : str
        grid_sample padding for pixels warped outside a context image.

    `forward(image, context, depths, K, poses)`: target [B,3,H,W], N context images, depth
    maps (metres, finest first), target intrinsics [B,3,3], N Poses (target -> context)
    -> scalar loss; terms in `metrics`.
    """

    def __init__(self, num_scales=4, ssim_loss_weight=0.85, smooth_loss_weight=0.001,
                 C1=1e-4, C2=9e-4, photometric_reduce_op='min', automask=True,
                 padding_mode='zeros'):
        super().__init__()
        if photometric_reduce_op not in ('min', 'mean'):
            raise ConfigError("model.loss.photometric.photometric_reduce_op must be 'min' or "
                              f"'mean', got '{photometric_reduce_op}'")
        if automask and photometric_reduce_op != 'min':
            raise ConfigError("model.loss.photometric.automask competes the unwarped contexts "
                              "per pixel: it needs photometric_reduce_op 'min' (or automask false)")
        self.num_scales = num_scales
        self.ssim_loss_weight = ssim_loss_weight
        self.smooth_loss_weight = smooth_loss_weight
        self.C1, self.C2 = C1, C2
        self.photometric_reduce_op = photometric_reduce_op
        self.automask = automask
        self.padding_mode = padding_mode

    def photometric_error(self, warped, image):
        """Per-pixel [B,1,H,W] SSIM + L1 error, averaged over channels."""
        l1 = (warped - image).abs()
        ssim = ssim_distance(warped, image, self.C1, self.C2)
        error = self.ssim_loss_weight * ssim + (1 - self.ssim_loss_weight) * l1
        return error.mean(1, keepdim=True)

    def reduce(self, errors):
        """Candidate error maps [B,1,H,W] -> scalar, per-pixel minimum or mean of the means."""
        if self.photometric_reduce_op == 'min':
            return torch.cat(errors, 1).min(1)[0].mean()
        return sum(e.mean() for e in errors) / len(errors)

    def forward(self, image, context, depths, K, poses):
        num_scales = min(self.num_scales, len(depths))
        identity = [self.photometric_error(c, image) + AUTOMASK_TIE_BREAK
                    for c in context] if self.automask else []
        reprojection, masked = 0.0, 0.0
        for depth in depths[:num_scales]:
            full = F.interpolate(depth, image.shape[-2:], mode='bilinear', align_corners=False)
            warped = [self.photometric_error(
                view_synthesis(c, full, K, pose, padding_mode=self.padding_mode), image)
                for c, pose in zip(context, poses)]
            reprojection = reprojection + self.reduce(warped + identity)
            if identity:
                masked += (torch.cat(identity, 1).min(1)[0] < torch.cat(warped, 1).min(1)[0]
                           ).float().mean()
        reprojection = reprojection / num_scales
        smoothness = sum(
            edge_aware_smoothness(depth, F.interpolate(image, depth.shape[-2:], mode='area'))
            / 2 ** s for s, depth in enumerate(depths[:num_scales])) / num_scales
        self.add_metric('photometric/reprojection', reprojection)
        self.add_metric('photometric/smoothness', smoothness)
        if identity:
            self.add_metric('photometric/automasked_fraction', masked / num_scales)
        return reprojection + self.smooth_loss_weight * smoothness
