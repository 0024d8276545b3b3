"""Depth metrics against hand-computed values: per image, averaging, crop, median scaling."""
import math
from pathlib import Path

import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.utils.config import ConfigError
from packnet_sfm.utils.depth import (
    METRIC_NAMES,
    compute_depth_metrics,
    compute_depth_metrics_per_image,
    crop_mask,
    depth2inv,
    inv2depth,
)
from packnet_sfm.utils.protocols import PROTOCOLS, protocol_from_config

# Image 0: valid gt 1, 2, 3 (bottom-right 0 = invalid) against pred 2, 2, 2.
#   |d| = 1, 0, 1; ratios max(g/p, p/g) = 2, 1, 1.5.
# Image 1: no valid pixel. Image 2: a perfect prediction.
GT = torch.tensor([[[[1., 2.], [3., 0.]]], [[[0., 0.], [0., 0.]]], [[[1., 1.], [1., 1.]]]])
PRED = torch.tensor([[[[2., 2.], [2., 5.]]], [[[3., 3.], [3., 3.]]], [[[1., 1.], [1., 1.]]]])
IMAGE0 = {
    'abs_rel': (1 / 1 + 0 / 2 + 1 / 3) / 3,
    'sq_rel': (1 / 1 + 0 / 2 + 1 / 3) / 3,
    'rmse': math.sqrt((1 + 0 + 1) / 3),
    'rmse_log': math.sqrt((math.log(2) ** 2 + 0 + math.log(1.5) ** 2) / 3),
    'log10': (math.log10(2) + 0 + math.log10(1.5)) / 3,
    'mae': (1 + 0 + 1) / 3,
    'a1': 1 / 3,        # only ratio 1 < 1.25
    'a2': 2 / 3,        # 1.5 < 1.5625
    'a3': 2 / 3,        # 2 > 1.953125
}
PERFECT = {'abs_rel': 0, 'sq_rel': 0, 'rmse': 0, 'rmse_log': 0, 'log10': 0, 'mae': 0,
           'a1': 1, 'a2': 1, 'a3': 1}


def test_per_image_values_and_validity():
    per_image = compute_depth_metrics_per_image(GT, PRED)
    assert per_image['valid'].tolist() == [True, False, True]
    for name in METRIC_NAMES:
        assert per_image[name][0].item() == pytest.approx(IMAGE0[name], abs=1e-9), name
        assert math.isnan(per_image[name][1].item()), name
        assert per_image[name][2].item() == pytest.approx(PERFECT[name], abs=1e-9), name


def test_average_leaves_out_images_without_valid_pixels():
    metrics = compute_depth_metrics(GT, PRED)
    assert metrics['num_images'] == 2
    for name in METRIC_NAMES:
        expected = (IMAGE0[name] + PERFECT[name]) / 2
        assert metrics[name] == pytest.approx(expected, abs=1e-9), name
        assert isinstance(metrics[name], float)


def test_no_valid_image_gives_nan_and_zero_count():
    metrics = compute_depth_metrics(torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2))
    assert metrics['num_images'] == 0
    assert all(math.isnan(metrics[name]) for name in METRIC_NAMES)


def test_min_and_max_depth_select_pixels_and_clamp_the_prediction():
    gt = torch.tensor([[[[0.5, 1.0], [2.0, 40.0]]]])
    pred = torch.tensor([[[[9.0, 9.0], [50.0, 9.0]]]])
    # Only gt 2 is in (1, 30]; its prediction 50 is clamped to 30: abs_rel = 28 / 2.
    metrics = compute_depth_metrics(gt, pred, min_depth=1.0, max_depth=30.0)
    assert metrics['abs_rel'] == pytest.approx(14.0)
    assert metrics['mae'] == pytest.approx(28.0)


def test_gt_at_max_depth_is_evaluated():
    gt = torch.tensor([[[[30.0, 0.0]]]])
    metrics = compute_depth_metrics(gt, torch.tensor([[[[15.0, 1.0]]]]), max_depth=30.0)
    assert metrics['abs_rel'] == pytest.approx(0.5)


def test_zero_prediction_is_clamped_to_a_millimetre():
    metrics = compute_depth_metrics(torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 2))
    assert metrics['abs_rel'] == pytest.approx(1 - 1e-3)
    assert metrics['a3'] == 0.0


def test_non_finite_ground_truth_is_ignored():
    gt = torch.tensor([[[[2.0, float('inf')], [float('nan'), 4.0]]]])
    metrics = compute_depth_metrics(gt, torch.full((1, 1, 2, 2), 3.0))
    assert metrics['mae'] == pytest.approx(1.0)


def test_median_scaling_per_image():
    gt = torch.tensor([[[[1., 2.], [3., 0.]]], [[[2., 4.], [6., 8.]]]])
    pred = torch.tensor([[[[2., 4.], [6., 100.]]], [[[1., 2.], [3., 4.]]]])
    # Image 0: medians over valid pixels 2 and 4 -> pred * 0.5 = gt.
    # Image 1: torch.median takes the lower middle: 4 and 2 -> pred * 2 = gt.
    scaled = compute_depth_metrics(gt, pred, use_gt_scale=True)
    assert scaled['abs_rel'] == pytest.approx(0.0, abs=1e-12)
    assert scaled['a1'] == 1.0
    raw = compute_depth_metrics(gt, pred)
    assert raw['abs_rel'] == pytest.approx((1.0 + 0.5) / 2)


def test_garg_crop_bounds_on_kitti_resolution():
    mask = crop_mask((375, 1242), 'garg')
    rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
    assert (rows.min().item(), rows.max().item()) == (153, 370)
    assert (cols.min().item(), cols.max().item()) == (44, 1196)
    assert mask.sum().item() == (371 - 153) * (1197 - 44)


def test_garg_crop_excludes_errors_outside_it():
    gt = torch.ones(1, 1, 10, 10)
    pred = torch.full((1, 1, 10, 10), 2.0)
    pred[:, :, 4:9, 0:9] = 1.0      # the Garg crop of 10x10: rows 4..8, columns 0..8
    assert compute_depth_metrics(gt, pred, crop='garg')['abs_rel'] == pytest.approx(0.0)
    assert compute_depth_metrics(gt, pred)['abs_rel'] == pytest.approx(55 / 100)


def test_unknown_crop_is_an_error():
    with pytest.raises(ValueError, match="evaluation.crop 'eigen'"):
        compute_depth_metrics(GT, PRED, crop='eigen')


def test_prediction_is_resized_to_the_ground_truth():
    metrics = compute_depth_metrics(torch.ones(1, 1, 4, 4), torch.full((1, 1, 2, 2), 2.0))
    assert metrics['abs_rel'] == pytest.approx(1.0)


def test_depth_inverse_depth_round_trip():
    depth = torch.tensor([[[[2.0, 0.0], [4.0, -1.0]]]])
    assert torch.equal(depth2inv(depth), torch.tensor([[[[0.5, 0.0], [0.25, 0.0]]]]))
    assert torch.equal(inv2depth(depth2inv(depth)), depth.clamp(min=0))


def test_published_protocol_leaves_out_every_pixel_below_half_a_metre():
    """On the real V2 sample (official preprocessing: hole blends below the sensor's 0.35 m
    minimum), an error confined to gt < 0.5 m moves the official protocol, not the published
    one; a constant median predictor scores worse on the official protocol."""
    root = Path(__file__).parent / 'data' / 'batvision_v2_real_sample'
    gt = BatvisionV2Dataset(str(root), depth_norm=False)[0]['depth'][None]
    near = (gt > 0) & (gt < 0.5)
    assert near.sum() > 100
    wrong_near = torch.where(near, torch.full_like(gt, 20.0), gt)
    official = compute_depth_metrics(gt, wrong_near, **PROTOCOLS['batvision'].options())
    published = compute_depth_metrics(gt, wrong_near,
                                      **PROTOCOLS['batvision_published'].options())
    assert official['abs_rel'] > 1.0
    assert published['abs_rel'] == 0.0 and published['a1'] == 1.0
    median = torch.full_like(gt, gt[gt >= 0.5].median().item())
    constant = {name: compute_depth_metrics(gt, median, **PROTOCOLS[name].options())['abs_rel']
                for name in ('batvision', 'batvision_published')}
    # measured: 0.365 (official; 4.2 with the antialiased resize's many more blends) vs 0.241
    assert constant['batvision'] > constant['batvision_published'] + 0.1


def test_protocols_from_the_config_refuse_ignored_keys():
    cfg = get_cfg_defaults()
    assert protocol_from_config(cfg) is PROTOCOLS['batvision']
    cfg.evaluation.min_depth = 0.5
    with pytest.raises(ConfigError, match="evaluation.min_depth is set but evaluation.protocol"):
        protocol_from_config(cfg)
    cfg.evaluation.protocol = 'custom'
    assert protocol_from_config(cfg).options() == {
        'min_depth': 0.5, 'max_depth': None, 'include_min': False, 'include_max': True,
        'crop': ''}
    with pytest.raises(ConfigError, match="Unknown evaluation protocol 'eigen'.*kitti_eigen"):
        protocol_from_config(cfg, 'eigen')


def test_kitti_eigen_protocol_excludes_its_bounds_and_crops():
    gt = torch.full((1, 1, 100, 100), 10.0)
    gt[..., 0, 0], gt[..., 99, 50] = 80.0, 1e-3         # on the bounds: left out
    pred = torch.full_like(gt, 10.0)
    pred[..., :40, :] = 99.0                            # above the Garg crop: not scored
    metrics = compute_depth_metrics(gt, pred, **PROTOCOLS['kitti_eigen'].options())
    assert metrics['abs_rel'] == 0.0
