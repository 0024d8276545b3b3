"""Evaluation protocols: which ground-truth pixels the depth metrics score, by name.

`evaluation.protocol` picks one for validation; `scripts/eval.py --protocol A B ...` reports
several in one pass. 'custom' reads `evaluation.min_depth`, `max_depth` and `crop`.
"""
from dataclasses import asdict, dataclass

from packnet_sfm.utils.config import ConfigError


@dataclass(frozen=True)
class Protocol:
    """Pixels with min_depth < gt (<= with include_min) and gt <= max_depth (< without
    include_max; no upper bound when None), inside `crop` ('' or 'garg'). Predictions are
    clamped to [max(min_depth, 1 mm), max_depth] before scoring."""

    description: str
    min_depth: float = 0.0
    max_depth: float | None = None
    include_min: bool = False
    include_max: bool = True
    crop: str = ''

    def options(self):
        """Keyword arguments of `compute_depth_metrics_per_image`."""
        return {k: v for k, v in asdict(self).items() if k != 'description'}


PROTOCOLS = {
    'batvision': Protocol('gt > 0 m, the official BatVision code'),
    'batvision_published': Protocol('0.5 m <= gt <= 30 m, the published BatVision V2 tables',
                                    min_depth=0.5, max_depth=30.0, include_min=True),
    'kitti_eigen': Protocol('0.001 m < gt < 80 m, Garg crop, the KITTI Eigen split',
                            min_depth=1e-3, max_depth=80.0, include_max=False, crop='garg'),
}
CUSTOM = 'custom'
CUSTOM_KEYS = ('min_depth', 'max_depth', 'crop')


def custom_protocol(min_depth, max_depth, crop):
    """min_depth < gt <= max_depth (None: unbounded) inside `crop`."""
    if min_depth < 0 or (max_depth is not None and max_depth <= min_depth):
        raise ConfigError(f'evaluation.min_depth ({min_depth:g}) must be >= 0 and below '
                          f'evaluation.max_depth ({max_depth or 0:g}; 0: no bound), or no pixel '
                          'is scored')
    upper = f' <= {max_depth:g} m' if max_depth else ''
    region = f', {crop} crop' if crop else ''
    return Protocol(f'{min_depth:g} m < gt{upper}{region}', min_depth=min_depth,
                    max_depth=max_depth, crop=crop)


def protocol_from_config(cfg, name=None):
    """The Protocol named `name` (default `evaluation.protocol`); 'custom' is built from
    `evaluation.min_depth`, `max_depth` (0: no bound) and `crop`, which other protocols
    refuse, so that a set key is never ignored."""
    node = cfg.evaluation
    name = name or node.protocol
    changed = [key for key in CUSTOM_KEYS if node[key]]
    if name == CUSTOM:
        return custom_protocol(node.min_depth, node.max_depth or None, node.crop)
    if name not in PROTOCOLS:
        raise ConfigError(f"Unknown evaluation protocol '{name}' (evaluation.protocol or "
                          f"--protocol); use one of {', '.join([*PROTOCOLS, CUSTOM])}")
    if changed:
        raise ConfigError(f"evaluation.{changed[0]} is set but evaluation.protocol is '{name}'; "
                          f"set evaluation.protocol custom to use it, or leave it at its default")
    return PROTOCOLS[name]
