"""Supervised depth losses chosen by name: '<sparse|dense>-<registered loss>' (e.g. sparse-l1).

`sparse-` evaluates a loss on the pixels with a valid, positive, finite ground truth (and the
caller's mask); `dense-` on every pixel with a finite ground truth. Pixels left out never
reach the loss or its gradient, whatever they hold. The part after the first dash is looked
up by exact name in LOSS_REGISTRY; a new loss needs only `@register_loss('name')` on its class.
An all-invalid batch gives a loss of 0 whose graph still backpropagates (zero gradients).
"""
import inspect

import torch
import torch.nn.functional as F

# Imported for their registrations.
import packnet_sfm.losses.depth_losses  # noqa: F401
import packnet_sfm.losses.scale_adaptive_loss  # noqa: F401
from packnet_sfm.losses.loss_base import LOSS_REGISTRY, LossBase, select_valid
from packnet_sfm.utils.config import ConfigError, check_minimums, check_numbers

MASK_MODES = ('sparse', 'dense')


def split_method(supervised_method):
    """('sparse' | 'dense', loss name) of a supervised_method, or ConfigError naming the options."""
    mode, _, name = supervised_method.partition('-')
    if mode not in MASK_MODES:
        raise ConfigError(f"model.loss.supervised_method '{supervised_method}' must start with "
                          f"one of {', '.join(m + '-' for m in MASK_MODES)}")
    if name not in LOSS_REGISTRY:
        raise ConfigError(f"model.loss.supervised_method '{supervised_method}': unknown loss "
                          f"'{name}'; known: {', '.join(sorted(LOSS_REGISTRY))}")
    return mode, name


def loss_namespace(supervised_method):
    """Name of the config node under model.loss holding the loss's parameters ('-' as '_')."""
    return split_method(supervised_method)[1].replace('-', '_')


def get_loss_func(supervised_method, **kwargs):
    """The loss named by `supervised_method`, built with its own parameters `kwargs`."""
    mode, name = split_method(supervised_method)
    loss_class = LOSS_REGISTRY[name]
    params = inspect.signature(loss_class.__init__).parameters
    unknown = sorted(set(kwargs) - set(params) - {'self'})
    if unknown:
        raise ConfigError(
            f"model.loss.{loss_namespace(supervised_method)}: {', '.join(unknown)} not accepted "
            f"by {loss_class.__name__}; its parameters: "
            f"{', '.join(p for p in params if p != 'self') or 'none'}")
    check_numbers(f'model.loss.{loss_namespace(supervised_method)}', kwargs,
                  {name: param.default for name, param in params.items()})
    return MaskedLoss(loss=loss_class(**kwargs), mode=mode)


class MaskedLoss(LossBase):
    """A registered loss applied to valid-GT pixels (mode 'sparse') or all pixels ('dense').

    Called `loss(pred, gt, mask=None, **extra)`; `extra` (e.g. raw_mask) goes to the inner loss,
    whose metrics are reported as this module's.
    """

    def __init__(self, loss, mode):
        super().__init__()
        self.loss = loss
        self.mode = mode

    def forward(self, pred, gt, mask=None, **extra):
        pixels = self.pixels(gt, mask)
        value = self.loss(*select_valid(pixels, pred, gt), pixels, **extra)
        self.metrics.update(self.loss.metrics)
        return value

    def pixels(self, gt, mask):
        """The pixels the loss sees: every finite GT for dense, mask & valid GT (> 0, finite)
        for sparse. The others (NaN and inf included) are replaced before the loss runs."""
        finite = torch.isfinite(gt)
        if self.mode == 'dense':
            return finite
        has_gt = (gt > 0) & finite
        return has_gt if mask is None else has_gt & mask.bool()


class SupervisedLoss(LossBase):
    """A supervised loss averaged over the first `supervised_num_scales` predicted depth maps.

    Each prediction is resized (bilinear) to the GT resolution. Reports the loss of each scale
    ('supervised_loss/scale_<i>') and the inner loss's metrics averaged over scales.
    """

    def __init__(self, supervised_method='sparse-l1', supervised_num_scales=1, **loss_kwargs):
        super().__init__()
        check_minimums({'supervised_num_scales': supervised_num_scales},
                       {'supervised_num_scales': 1}, 'model.loss')
        self.supervised_method = supervised_method
        self.num_scales = supervised_num_scales
        self.loss = get_loss_func(supervised_method, **loss_kwargs)

    @classmethod
    def from_config(cls, loss_cfg):
        """Build from the model.loss config node (method, number of scales, loss namespace)."""
        method = loss_cfg.supervised_method
        return cls(supervised_method=method, supervised_num_scales=loss_cfg.supervised_num_scales,
                   **loss_cfg.get(loss_namespace(method), {}))

    def forward(self, depths, gt_depth, valid=None, **extra):
        """depths: list of [B,1,h,w] predictions, finest first (or one tensor); gt_depth, valid:
        [B,1,H,W]; `extra` (e.g. raw_mask at GT resolution) goes to the loss."""
        depths = [depths] if torch.is_tensor(depths) else depths
        if len(depths) < self.num_scales:
            raise ConfigError(f"model.loss.supervised_num_scales is {self.num_scales} but the "
                              f"network predicts {len(depths)} scale(s); lower it")
        losses, inner_metrics = [], {}
        for i, depth in enumerate(depths[:self.num_scales]):
            if depth.shape[-2:] != gt_depth.shape[-2:]:
                depth = F.interpolate(depth, size=gt_depth.shape[-2:], mode='bilinear',
                                      align_corners=False)
            losses.append(self.loss(depth, gt_depth, valid, **extra))
            self.add_metric(f'supervised_loss/scale_{i}', losses[-1])
            for name, value in self.loss.metrics.items():
                inner_metrics[name] = inner_metrics.get(name, 0) + value / self.num_scales
        for name, value in inner_metrics.items():
            self.add_metric(name, value)
        return sum(losses) / self.num_scales
