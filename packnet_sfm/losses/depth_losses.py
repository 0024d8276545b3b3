"""Pixel-wise supervised depth losses (SPEC 6.1-6.3), each registered under its name.

Every loss is called `loss(pred, gt, mask)` on [B,1,H,W] depth (in the network's units, see
SemiSupModel) and a bool mask of the same shape, reduces over the masked pixels of the whole
batch, and returns 0 (with a graph that still backpropagates) when no pixel is masked in.
"""
import torch

from packnet_sfm.losses.loss_base import LossBase, masked_mean, register_loss


def safe_sqrt(x):
    """sqrt(x) for x > 0, else 0, with a finite (zero) gradient at and below 0."""
    positive = x > 0
    return torch.where(positive, torch.sqrt(torch.where(positive, x, torch.ones_like(x))),
                       torch.zeros_like(x))


@register_loss('l1')
class L1Loss(LossBase):
    """Mean absolute error over the masked pixels."""

    def forward(self, pred, gt, mask):
        return masked_mean((pred - gt).abs(), mask)


@register_loss('mse')
class MSELoss(LossBase):
    """Mean squared error over the masked pixels."""

    def forward(self, pred, gt, mask):
        return masked_mean((pred - gt) ** 2, mask)


@register_loss('berhu')
class BerHuLoss(LossBase):
    """Reverse Huber: |d| where |d| <= c, else (d^2 + c^2) / 2c, c = threshold * max|d| (batch)."""

    def __init__(self, threshold=0.2):
        super().__init__()
        self.threshold = threshold

    def forward(self, pred, gt, mask):
        diff = (pred - gt).abs()
        masked_diff = torch.where(mask, diff, torch.zeros_like(diff))
        c = (self.threshold * masked_diff.max()).detach().clamp(min=1e-12)
        self.add_metric('berhu/c', c)
        berhu = torch.where(diff <= c, diff, (diff ** 2 + c ** 2) / (2 * c))
        return masked_mean(berhu, mask)


@register_loss('silog')
class SilogLoss(LossBase):
    """Scale-invariant log error: sqrt(max(mean(d^2) - lambda * mean(d)^2, 0)), d = log p - log g.

    Depths are clamped to `eps` before the logarithm; the square root has a zero gradient at 0.
    """

    def __init__(self, silog_lambda=0.85, eps=1e-6):
        super().__init__()
        self.silog_lambda = silog_lambda
        self.eps = eps

    def forward(self, pred, gt, mask):
        d = torch.log(pred.clamp(min=self.eps)) - torch.log(gt.clamp(min=self.eps))
        variance = masked_mean(d ** 2, mask) - self.silog_lambda * masked_mean(d, mask) ** 2
        return safe_sqrt(variance)


@register_loss('combined')
class CombinedLoss(LossBase):
    """l1_weight * L1 + silog_weight * SIlog (BatVision V1 defaults), + rmse_weight * RMSE over
    the batch's masked pixels (ours, off by default): L1 and SIlog pull a depth the input
    leaves uncertain to its median, RMSE, the benchmarks' metric, to its mean."""

    def __init__(self, l1_weight=0.237, silog_weight=0.637, silog_lambda=0.869,
                 rmse_weight=0.0):
        super().__init__()
        self.l1_weight, self.silog_weight = l1_weight, silog_weight
        self.rmse_weight = rmse_weight
        self.l1 = L1Loss()
        self.silog = SilogLoss(silog_lambda=silog_lambda)
        self.mse = MSELoss()

    def forward(self, pred, gt, mask):
        l1 = self.l1(pred, gt, mask)
        silog = self.silog(pred, gt, mask)
        self.add_metric('combined/l1', l1)
        self.add_metric('combined/silog', silog)
        loss = self.l1_weight * l1 + self.silog_weight * silog
        if self.rmse_weight > 0:
            rmse = safe_sqrt(self.mse(pred, gt, mask))
            self.add_metric('combined/rmse', rmse)
            loss = loss + self.rmse_weight * rmse
        return loss
