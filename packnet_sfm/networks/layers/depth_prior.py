"""Depth heads that start at the data's typical depth instead of the middle of their range.

A sigmoid head `sigmoid(raw) * max_depth` with a zero bias starts at max_depth / 2 (15 m for
BatVision's 30 m, in rooms of 2-6 m); a log-depth head `exp(raw)` starts at 1 unit. Setting
the bias of the head's last convolution from a prior depth (metres) makes the first
prediction that depth everywhere, so training starts from the constant predictor.
"""
import math

import torch

from packnet_sfm.utils.config import ConfigError


def prior_in_units(prior_depth, max_depth, depth_scale, key):
    """`prior_depth` (metres) in the network's units, checked to lie in (0, max_depth)."""
    prior = prior_depth / depth_scale
    if not 0.0 < prior < max_depth:
        raise ConfigError(f'{key} is {prior_depth} m; it must lie strictly between 0 and the '
                          f'largest depth, {max_depth * depth_scale:g} m')
    return prior


def init_sigmoid_head(conv, prior_depth, max_depth, depth_scale, key):
    """Bias of `conv` (a head read as sigmoid(out) * max_depth) so it starts at prior_depth
    metres; a prior of 0 keeps the default initialisation (near the middle of the range)."""
    if not prior_depth:
        return
    fraction = prior_in_units(prior_depth, max_depth, depth_scale, key) / max_depth
    with torch.no_grad():
        conv.bias.fill_(math.log(fraction / (1.0 - fraction)))
