"""The supervised loss works in the network's units, as the seeds' loss weights were tuned:
depth normalised by max_depth on V1 (depth_norm), metres on V2. Hand-computed values of the
seed 002 Combined loss (0.237 L1 + 0.637 SIlog, lambda 0.869) on the same tensors."""
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from packnet_sfm.datasets.builder import depth_units
from packnet_sfm.models import build_model
from packnet_sfm.utils.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'


class FixedDepth(nn.Module):
    """A depth network that always answers `depth` (in the network's units)."""
    input_keys = ('audio',)

    def __init__(self, depth):
        super().__init__()
        self.depth = depth

    def forward(self, audio):
        return {'depth': [self.depth]}


def combined_loss(config, gt, pred):
    """The seed config's loss and metric-space RMSE for batch depth `gt`, prediction `pred`."""
    cfg = load_config(CONFIGS / config, ['model.depth_net.UNetSoundOnly.ngf', '1'])
    model = build_model(cfg, *depth_units(cfg)).train()
    model.depth_net = FixedDepth(pred)
    output = model({'audio': torch.zeros(1, 2, 2, 2), 'depth': gt, 'valid': gt > 0})
    return output['loss'].item(), output['metrics'], output


def silog(pred, gt, lam):
    d = [math.log(p / g) for p, g in zip(pred, gt)]
    mean, mean_sq = sum(d) / len(d), sum(x * x for x in d) / len(d)
    return math.sqrt(mean_sq - lam * mean ** 2)


def test_v1_loss_is_computed_on_normalised_depth():
    # 3 m and 6 m of V1's 12 m, predicted 6 m and 6 m: normalised 0.25, 0.5 vs 0.5, 0.5.
    gt = torch.tensor([0.25, 0.5, 0.0]).view(1, 1, 1, 3)
    pred = torch.tensor([0.5, 0.5, 0.9]).view(1, 1, 1, 3)
    loss, metrics, output = combined_loss('train_unet_batvision_v1.yaml', gt, pred)
    l1 = (0.25 + 0.0) / 2
    expected = 0.237 * l1 + 0.637 * silog([0.5, 0.5], [0.25, 0.5], 0.869)
    assert metrics['combined/l1'].item() == pytest.approx(l1)
    assert loss == pytest.approx(expected, rel=1e-6)
    # the outputs stay in metres
    assert output['depth'][0, 0, 0].tolist() == pytest.approx([6.0, 6.0, 10.8])
    assert output['gt'][0, 0, 0].tolist() == pytest.approx([3.0, 6.0, 0.0])


def test_v2_loss_is_computed_on_metres():
    gt = torch.tensor([3.0, 6.0, 0.0]).view(1, 1, 1, 3)
    pred = torch.tensor([6.0, 6.0, 20.0]).view(1, 1, 1, 3)
    loss, metrics, _ = combined_loss('train_unet_batvision_v2.yaml', gt, pred)
    l1 = (3.0 + 0.0) / 2
    assert metrics['combined/l1'].item() == pytest.approx(l1)
    assert loss == pytest.approx(0.237 * l1 + 0.637 * silog([6, 6], [3, 6], 0.869), rel=1e-6)
