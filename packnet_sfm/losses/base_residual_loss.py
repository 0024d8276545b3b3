"""The Base + Residual loss (seeds 000/001):

    L = lambda_recon * L_recon(final, gt) + lambda_base * L_struct(base, lowpass(gt))
        + lambda_sparse * mean |residual|

`lowpass` is a mask-aware box filter of the ground truth (`masked_lowpass`): holes do not pull
the structure towards zero, and pixels whose window holds no valid pixel are left out of
L_struct. L_recon and L_struct are registered supervised losses (`get_loss_func`). With
`adaptive`, the weights follow a two-phase schedule: `warmup_weights` for the first
`warmup_epochs` epochs, `final_weights` after; otherwise (lambda_recon, lambda_base,
lambda_sparse) throughout. All depths are in the network's units (normalised by max_depth with
depth normalisation, metres otherwise; see SemiSupModel).
"""
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F

from packnet_sfm.losses.loss_base import LossBase
from packnet_sfm.losses.supervised_loss import get_loss_func, loss_namespace
from packnet_sfm.utils.config import check_minimums

KEY = 'model.loss.base_residual'


@dataclass(frozen=True)
class TermWeights:
    """Weights of the reconstruction, structure and sparsity terms."""
    recon: float
    base: float
    sparse: float


def masked_lowpass(depth, valid, kernel):
    """Box-filtered `depth` over its `valid` pixels: sum(depth * valid) / sum(valid) in each
    kernel x kernel window (stride 1, same size as the input). Returns (lowpass, covered),
    `covered` marking the pixels whose window holds at least one valid pixel (elsewhere 0)."""
    left, right = (kernel - 1) // 2, kernel // 2
    padding = (left, right, left, right)
    weights = valid.to(depth.dtype)
    depth_sum = F.avg_pool2d(F.pad(torch.where(valid, depth, 0.0), padding), kernel, stride=1)
    valid_sum = F.avg_pool2d(F.pad(weights, padding), kernel, stride=1)
    covered = valid_sum > 0
    return torch.where(covered, depth_sum / valid_sum.clamp(min=1e-12), 0.0), covered


class BaseResidualLoss(LossBase):
    """Called `loss(final, base, residual, gt, valid)` on [B,1,H,W] tensors; reports the
    unweighted terms as metrics 'loss_recon', 'loss_base' and 'loss_sparse'.

    Parameters
    ----------
    recon_method, structure_method : supervised methods of L_recon and L_struct
        (e.g. 'sparse-l1'), with their parameters in `recon_params` / `structure_params`.
    weights : TermWeights used when not `adaptive`.
    lowpass_kernel : box size of the structure target, in pixels.
    adaptive : follow `warmup_weights` for `warmup_epochs` epochs, then `final_weights`.
    """

    def __init__(self, recon_method='sparse-l1', structure_method='sparse-l1',
                 weights=TermWeights(recon=1.0, base=0.8, sparse=0.2), lowpass_kernel=16,
                 adaptive=False, warmup_epochs=20,
                 warmup_weights=TermWeights(recon=0.5, base=1.5, sparse=0.3),
                 final_weights=TermWeights(recon=1.0, base=0.5, sparse=0.3),
                 recon_params=None, structure_params=None):
        super().__init__()
        check_minimums({'lowpass_kernel': lowpass_kernel, 'warmup_epochs': warmup_epochs},
                       {'lowpass_kernel': 1, 'warmup_epochs': 0}, KEY)
        self.recon_loss = get_loss_func(recon_method, **(recon_params or {}))
        self.structure_loss = get_loss_func(structure_method, **(structure_params or {}))
        self.fixed_weights = weights
        self.lowpass_kernel = lowpass_kernel
        self.adaptive = adaptive
        self.warmup_epochs = warmup_epochs
        self.warmup_weights = warmup_weights
        self.final_weights = final_weights
        self.set_epoch(0)

    @classmethod
    def from_config(cls, loss_cfg):
        """Build from the model.loss node: L_recon is `supervised_method`, the rest is read from
        `base_residual`; each supervised loss takes its parameters from its own namespace."""
        node = loss_cfg.base_residual
        terms = [field.name for field in fields(TermWeights)]
        weights = [f'lambda_{term}' for term in terms]
        weights += [f'{stage}.{term}' for stage in ('warmup_weights', 'final_weights')
                    for term in terms]
        check_minimums(node, dict.fromkeys(weights, 0), KEY)

        def params(method):
            return dict(loss_cfg.get(loss_namespace(method), {}))

        return cls(recon_method=loss_cfg.supervised_method,
                   structure_method=node.structure_method,
                   weights=TermWeights(recon=node.lambda_recon, base=node.lambda_base,
                                       sparse=node.lambda_sparse),
                   lowpass_kernel=node.lowpass_kernel, adaptive=node.adaptive,
                   warmup_epochs=node.warmup_epochs,
                   warmup_weights=TermWeights(**node.warmup_weights),
                   final_weights=TermWeights(**node.final_weights),
                   recon_params=params(loss_cfg.supervised_method),
                   structure_params=params(node.structure_method))

    def set_epoch(self, epoch):
        """Pick the weights of `epoch` (0-based): the adaptive schedule, or the fixed ones."""
        if not self.adaptive:
            self.weights = self.fixed_weights
        elif epoch < self.warmup_epochs:
            self.weights = self.warmup_weights
        else:
            self.weights = self.final_weights

    def forward(self, final, base, residual, gt, valid):
        structure, covered = masked_lowpass(gt, valid.bool(), self.lowpass_kernel)
        recon = self.recon_loss(final, gt, valid)
        struct = self.structure_loss(base, structure, covered)
        sparse = residual.abs().mean()
        self.add_metric('loss_recon', recon)
        self.add_metric('loss_base', struct)
        self.add_metric('loss_sparse', sparse)
        w = self.weights
        return w.recon * recon + w.base * struct + w.sparse * sparse
