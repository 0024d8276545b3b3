"""Scale-adaptive loss of G2-MonoDepth (SPEC 6.4): absolute + relative + multi-scale gradient."""
import torch
import torch.nn.functional as F

from packnet_sfm.losses.loss_base import LossBase, masked_mean, register_loss
from packnet_sfm.utils.depth import depth2inv

# Sobel kernels for d/dx and d/dy, stacked as two output channels of one convolution.
SOBEL = torch.tensor([[[[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]]],
                      [[[-1., -2., -1.], [0., 0., 0.], [1., 2., 1.]]]])


@register_loss('scale-adaptive')
class ScaleAdaptiveLoss(LossBase):
    """L_abs + L_rel + lambda_sg * L_grad, the official G2-MonoDepth formulation.

    Per image, prediction and GT are standardised with the GT mask M: Y^ = (Y - mu) / s with
    mu the masked mean and s the masked mean absolute deviation + epsilon.
    L_rel = sum(M |P^ - G^|) / sum(M) over the batch.
    L_abs = sum(V |P - G|) / sum(V), V = raw_mask & M when a raw-depth mask is given, else M.
    L_grad = sum over scales k < num_scales and pixels of |Sobel_x R_k| + |Sobel_y R_k|, divided
    by sum(M) at full resolution, where R = M (P^ - G^) and R_k is R subsampled by
    nearest-neighbour to 1/2^k (every 2^k-th pixel), convolved without padding; scales
    smaller than 3x3 contribute nothing.
    Pixels outside M never influence the loss. With `use_inv_depth` everything is computed on
    inverse depth. An empty mask gives 0.
    """

    def __init__(self, lambda_sg=0.5, num_scales=4, epsilon=1e-6, use_absolute=True,
                 use_inv_depth=False):
        super().__init__()
        self.lambda_sg = lambda_sg
        self.num_scales = num_scales
        self.epsilon = epsilon
        self.use_absolute = use_absolute
        self.use_inv_depth = use_inv_depth
        self.register_buffer('sobel', SOBEL.clone(), persistent=False)

    def forward(self, pred, gt, mask, raw_mask=None):
        pred, gt = self.prepare(pred, mask), self.prepare(gt, mask)
        residual = torch.where(mask, self.standardise(pred, mask) - self.standardise(gt, mask),
                               torch.zeros_like(pred))
        rel = masked_mean(residual.abs(), mask)
        grad = self.gradient_sum(residual) / mask.sum().clamp(min=1)
        self.add_metric('scale_adaptive/rel', rel)
        self.add_metric('scale_adaptive/grad', grad)
        loss = rel + self.lambda_sg * grad
        if self.use_absolute:
            abs_mask = mask if raw_mask is None else mask & raw_mask
            absolute = masked_mean((pred - gt).abs(), abs_mask)
            self.add_metric('scale_adaptive/abs', absolute)
            loss = loss + absolute
        return loss

    def prepare(self, depth, mask):
        """Depth (or inverse depth) with masked-out pixels replaced by 1, so they stay finite."""
        depth = torch.where(mask, depth, torch.ones_like(depth))
        return depth2inv(depth, self.epsilon) if self.use_inv_depth else depth

    def standardise(self, depth, mask):
        """(depth - mu) / s per image, mu and s the masked mean and mean absolute deviation."""
        dims = (1, 2, 3)
        mu = masked_mean(depth, mask, dims).view(-1, 1, 1, 1)
        s = masked_mean((depth - mu).abs(), mask, dims).view(-1, 1, 1, 1) + self.epsilon
        return (depth - mu) / s

    def gradient_sum(self, residual):
        """Sum of |Sobel_x| + |Sobel_y| of the residual over the nearest-neighbour pyramid."""
        total = residual.new_zeros(())
        height, width = residual.shape[-2:]
        for k in range(self.num_scales):
            size = (height // 2 ** k, width // 2 ** k)
            if min(size) < 3:
                break
            scaled = F.interpolate(residual, size=size, mode='nearest') if k else residual
            total = total + F.conv2d(scaled, self.sobel.to(residual)).abs().sum()
        return total
