"""ResNetSAN01: DepthResNet with a sparse auxiliary network (SAN) for depth completion."""
import torch
from torch import nn

from packnet_sfm.networks.depth.DepthResNet import DepthResNet
from packnet_sfm.networks.layers.film import FiLM
from packnet_sfm.networks.layers.sparse_conv import SparseEncoder
from packnet_sfm.utils.config import ConfigError


class ResNetSAN01(DepthResNet):
    """Depth from RGB, optionally completed from sparse input depth (packnet-sfm's SAN).

    Sparse depth goes through mask-aware convolutions to features at every encoder level,
    added to the RGB features as `weight[l] * rgb + depth_features + bias[l]` (learned
    per-level scalars, weight 1 and bias 0 at first: packnet-sfm's SAN fusion, so the sparse
    branch learns from the first step) and optionally FiLM-modulated at `film_scales`,
    wherever the sparse features are valid; elsewhere, and without input depth, the RGB
    features pass unchanged.

    Parameters (besides DepthResNet's)
    ----------
    use_film : bool
        FiLM-modulate the fused features at the levels in `film_scales` (0 = stride 2).
    film_scales : list of int
        Encoder levels (0..4) that FiLM modulates.

    In training with input depth the output also holds 'depth_rgb' (RGB-only prediction) and
    'feature_consistency' (mean squared distance of the RGB features to the detached RGB+D
    features); 'depth' is then the RGB+D prediction, as in evaluation.
    """
    input_keys = ('rgb', 'input_depth')

    def __init__(self, version='18pt', min_depth=0.1, max_depth=80.0, use_film=False,
                 film_scales=(0,), pretrained_path='', num_scales=4, depth_scale=1.0):
        super().__init__(version, min_depth, max_depth, pretrained_path, num_scales, depth_scale)
        channels = self.encoder.num_ch_enc
        if use_film and not set(film_scales) <= set(range(len(channels))):
            raise ConfigError(f"model.depth_net.ResNetSAN01.film_scales {list(film_scales)} must "
                              f"be encoder levels in 0..{len(channels) - 1}")
        self.sparse_encoder = SparseEncoder(channels, max_depth)
        self.weight = nn.Parameter(torch.ones(len(channels)))
        self.bias = nn.Parameter(torch.zeros(len(channels)))
        self.films = nn.ModuleDict(
            {str(s): FiLM(channels[s], channels[s]) for s in film_scales} if use_film else {})

    def fuse(self, rgb_features, input_depth):
        """RGB features with the sparse-depth features mixed in where those are valid."""
        depth_features, masks = self.sparse_encoder(input_depth)
        fused = []
        for level, (rgb, depth, mask) in enumerate(zip(rgb_features, depth_features, masks)):
            mixed = self.weight[level] * rgb + depth + self.bias[level]
            if str(level) in self.films:
                mixed = self.films[str(level)](mixed, depth, mask)
            fused.append(rgb + mask * (mixed - rgb))
        return fused

    def forward(self, rgb, input_depth=None, return_features=False):
        """rgb [B,3,H,W] in [0, 1], input_depth [B,1,H,W] metres (0 = no measurement) or None
        -> {'depth': [[B,1,H/2^s,W/2^s]] finest first, ...} (see the class docstring)."""
        rgb_features = self.encoder(rgb)
        features = rgb_features if input_depth is None else self.fuse(rgb_features, input_depth)
        output = {'depth': self.decode(features)}
        if self.training and input_depth is not None:
            output['depth_rgb'] = self.decode(rgb_features)
            output['feature_consistency'] = sum(
                ((f.detach() - r) ** 2).mean() for f, r in zip(features, rgb_features)
            ) / len(features)
        if return_features:
            output['features'] = {f'x{i + 1}': f for i, f in enumerate(features)}
        return output
