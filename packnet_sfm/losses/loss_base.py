"""Base class of every loss, the loss registry, and the masked reductions the losses share."""
import torch
from torch import nn

# Loss name (the part of `supervised_method` after the first dash) -> loss class.
LOSS_REGISTRY = {}


def register_loss(name):
    """Class decorator: make a loss available to `get_loss_func` as '<sparse|dense>-<name>'."""
    def register(cls):
        if name in LOSS_REGISTRY:
            raise ValueError(f"Loss name '{name}' is already registered by "
                             f"{LOSS_REGISTRY[name].__name__}")
        LOSS_REGISTRY[name] = cls
        return cls
    return register


class LossBase(nn.Module):
    """A loss that reports named terms through `add_metric`; `metrics` is emptied at each call."""

    def __init__(self):
        super().__init__()
        self.metrics = {}
        self.register_forward_pre_hook(_clear_metrics)

    def add_metric(self, name, value):
        """Record `value` (detached) under `name` for logging."""
        self.metrics[name] = value.detach() if torch.is_tensor(value) else torch.tensor(value)


def _clear_metrics(module, args):
    module.metrics = {}


def select_valid(mask, *tensors, fill=1.0):
    """`tensors` with the pixels outside `mask` replaced by `fill` (a selection, not a
    product), so that NaN or inf there reaches neither the loss nor, as 0 * NaN, the
    gradient. Apply it to the inputs, before any arithmetic."""
    filled = [torch.where(mask, t, torch.full_like(t, fill)) for t in tensors]
    return filled[0] if len(filled) == 1 else filled


def masked_sum(x, mask, dims=None):
    """Sum of `x` over pixels where `mask` is True; other pixels (even NaN or inf) are ignored."""
    values = torch.where(mask, x, torch.zeros_like(x))
    return values.sum() if dims is None else values.sum(dim=dims)


def masked_mean(x, mask, dims=None):
    """Mean of `x` over pixels where `mask` is True; 0 (still differentiable) when none is."""
    count = mask.sum() if dims is None else mask.sum(dim=dims)
    return masked_sum(x, mask, dims) / count.clamp(min=1)
