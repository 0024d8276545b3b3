"""Supervised losses: hand-computed values, sparse/dense masking, registry, multi-scale wrapper."""
import math

import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.losses.depth_losses import L1Loss
from packnet_sfm.losses.loss_base import LOSS_REGISTRY, LossBase, register_loss
from packnet_sfm.losses.scale_adaptive_loss import ScaleAdaptiveLoss
from packnet_sfm.losses.supervised_loss import SupervisedLoss, get_loss_func, loss_namespace

# One image of 2x2: the bottom-right pixel has no ground truth (0).
PRED = torch.tensor([[[[1., 2.], [3., 4.]]]])
GT = torch.tensor([[[[2., 2.], [1., 0.]]]])
ALL = torch.ones_like(GT, dtype=torch.bool)
# On the three valid pixels pred - gt = -1, 0, 2; dense adds 4 - 0 = 4.

LN2, LN3 = math.log(2), math.log(3)


def silog_by_hand(lam):
    """SIlog of PRED vs GT on the valid pixels: d = -ln2, 0, ln3."""
    mean_sq = (LN2 ** 2 + LN3 ** 2) / 3
    mean = (LN3 - LN2) / 3
    return math.sqrt(mean_sq - lam * mean ** 2)


@pytest.mark.parametrize(('method', 'kwargs', 'expected'), [
    ('sparse-l1', {}, (1 + 0 + 2) / 3),
    ('dense-l1', {}, (1 + 0 + 2 + 4) / 4),
    ('sparse-mse', {}, (1 + 0 + 4) / 3),
    ('dense-mse', {}, (1 + 0 + 4 + 16) / 4),
    # c = 0.2 * 2 = 0.4: |d|=1 -> (1 + .16) / .8, 0 -> 0, 2 -> (4 + .16) / .8
    ('sparse-berhu', {'threshold': 0.2}, (1.45 + 0 + 5.2) / 3),
    # c = 0.6 * 2 = 1.2: 1 -> 1 (L1 side), 0 -> 0, 2 -> (4 + 1.44) / 2.4
    ('sparse-berhu', {'threshold': 0.6}, (1 + 0 + 5.44 / 2.4) / 3),
    ('sparse-silog', {'silog_lambda': 0.85}, silog_by_hand(0.85)),
    ('sparse-combined', {}, 0.237 * 1.0 + 0.637 * silog_by_hand(0.869)),
    ('sparse-combined', {'l1_weight': 2.0, 'silog_weight': 0.5, 'silog_lambda': 0.0},
     2.0 * 1.0 + 0.5 * math.sqrt((LN2 ** 2 + LN3 ** 2) / 3)),
    ('sparse-combined', {'rmse_weight': 0.5},
     0.237 * 1.0 + 0.637 * silog_by_hand(0.869) + 0.5 * math.sqrt(5 / 3)),
])
def test_loss_values_by_hand(method, kwargs, expected):
    loss = get_loss_func(method, **kwargs)
    assert loss(PRED, GT, ALL).item() == pytest.approx(expected, rel=1e-5)


def test_sparse_loss_also_honours_the_callers_mask():
    mask = ALL.clone()
    mask[0, 0, 0, 0] = False          # drops the pixel with error -1
    assert get_loss_func('sparse-l1')(PRED, GT, mask).item() == pytest.approx((0 + 2) / 2)
    assert get_loss_func('dense-l1')(PRED, GT, mask).item() == pytest.approx(7 / 4)


def test_combined_reports_its_terms():
    loss = get_loss_func('sparse-combined')
    loss(PRED, GT, ALL)
    assert loss.metrics['combined/l1'].item() == pytest.approx(1.0)
    assert loss.metrics['combined/silog'].item() == pytest.approx(silog_by_hand(0.869), rel=1e-5)
    assert 'combined/rmse' not in loss.metrics              # off by default
    with_rmse = get_loss_func('sparse-combined', rmse_weight=0.1)
    with_rmse(PRED, GT, ALL)
    assert with_rmse.metrics['combined/rmse'].item() == pytest.approx(math.sqrt(5 / 3))


def test_metrics_are_detached_and_cleared_at_each_call():
    class Reporter(LossBase):
        def forward(self, pred, gt, mask):
            if mask.all():
                self.add_metric('reporter/full', pred.sum())
            return pred.sum()

    reporter = Reporter()
    pred = PRED.clone().requires_grad_()
    reporter(pred, GT, ALL)
    assert not reporter.metrics['reporter/full'].requires_grad
    reporter(pred, GT, ~ALL)
    assert reporter.metrics == {}


@pytest.mark.parametrize('name', ['l1', 'mse', 'berhu', 'silog', 'combined'])
def test_silog_family_has_finite_zero_gradient_at_a_perfect_prediction(name):
    pred = GT.clone().requires_grad_()
    loss = get_loss_func(f'sparse-{name}')(pred, GT, ALL)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(pred.grad).all()


def test_silog_with_lambda_one_is_blind_to_a_global_scale():
    pred = (2 * GT).requires_grad_()
    loss = get_loss_func('sparse-silog', silog_lambda=1.0)(pred, GT, ALL)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-3)
    assert torch.isfinite(pred.grad).all()


def test_registry_matches_the_exact_name(monkeypatch):
    class XL1(L1Loss):
        pass

    monkeypatch.setitem(LOSS_REGISTRY, 'x-l1', XL1)
    assert type(get_loss_func('sparse-x-l1').loss) is XL1
    assert type(get_loss_func('sparse-l1').loss) is L1Loss
    assert type(get_loss_func('dense-scale-adaptive').loss) is ScaleAdaptiveLoss


def test_register_loss_refuses_a_taken_name():
    with pytest.raises(ValueError, match='already registered by L1Loss'):
        register_loss('l1')(L1Loss)


def test_unknown_loss_lists_the_known_ones():
    with pytest.raises(ValueError, match='unknown loss') as error:
        get_loss_func('sparse-l2')
    for name in ('l1', 'mse', 'berhu', 'silog', 'combined', 'scale-adaptive'):
        assert name in str(error.value)


@pytest.mark.parametrize('method', ['semi-l1', 'l1', 'sparsel1'])
def test_unknown_prefix_lists_the_known_ones(method):
    with pytest.raises(ValueError, match='sparse-, dense-'):
        get_loss_func(method)


def test_unknown_parameter_names_the_config_key():
    with pytest.raises(ValueError, match=r'model\.loss\.combined: l2_weight not accepted'):
        get_loss_func('sparse-combined', l2_weight=1.0)


@pytest.mark.parametrize('name', sorted(set(LOSS_REGISTRY) - {'x-l1'}))
def test_every_registered_loss_builds_from_the_default_config(name):
    """from_config passes model.loss.<namespace>; a key the loss does not accept raises."""
    cfg = get_cfg_defaults().model.loss
    cfg.supervised_method = f'sparse-{name}'
    assert type(SupervisedLoss.from_config(cfg).loss.loss) is LOSS_REGISTRY[name]


def test_config_namespace_reaches_the_loss():
    cfg = get_cfg_defaults().model.loss
    cfg.supervised_method = 'dense-scale-adaptive'
    cfg.scale_adaptive.lambda_sg = 0.25
    assert loss_namespace(cfg.supervised_method) == 'scale_adaptive'
    assert SupervisedLoss.from_config(cfg).loss.loss.lambda_sg == 0.25


def test_supervised_loss_resizes_and_averages_scales():
    gt = torch.full((1, 1, 2, 4), 2.0)
    fine = torch.tensor([[[[1., 2., 3., 4.], [2., 2., 2., 2.]]]])   # |d| = 1,0,1,2,0,0,0,0
    coarse = torch.tensor([[[[0., 4.]]]])   # bilinear, align_corners False: rows 0, 1, 3, 4
    loss = SupervisedLoss(supervised_method='sparse-l1', supervised_num_scales=2)
    value = loss([fine, coarse], gt, torch.ones_like(gt, dtype=torch.bool))
    assert loss.metrics['supervised_loss/scale_0'].item() == pytest.approx(4 / 8)
    assert loss.metrics['supervised_loss/scale_1'].item() == pytest.approx((2 + 1 + 1 + 2) / 4)
    assert value.item() == pytest.approx((0.5 + 1.5) / 2)
    one_scale = SupervisedLoss(supervised_method='sparse-l1', supervised_num_scales=1)
    assert one_scale([fine, coarse], gt).item() == pytest.approx(0.5)
    assert one_scale(coarse, gt).item() == pytest.approx(1.5)


def test_supervised_loss_averages_inner_metrics_over_scales():
    loss = SupervisedLoss(supervised_method='sparse-combined', supervised_num_scales=2)
    loss([PRED, PRED + 1], GT, ALL)     # second scale: |d| = 0, 1, 3
    assert loss.metrics['combined/l1'].item() == pytest.approx((1 + 4 / 3) / 2)


def test_supervised_loss_keeps_the_image_layout_for_spatial_losses():
    torch.manual_seed(0)
    gt = torch.rand(2, 1, 8, 8) + 0.5
    gt[:, :, :2] = 0
    pred = torch.rand(2, 1, 8, 8) + 0.5
    valid = torch.rand(2, 1, 8, 8) > 0.2
    supervised = SupervisedLoss(supervised_method='sparse-scale-adaptive', num_scales=2)
    expected = ScaleAdaptiveLoss(num_scales=2)(pred, gt, valid & (gt > 0))
    assert supervised([pred], gt, valid).item() == pytest.approx(expected.item(), rel=1e-6)


def test_supervised_loss_needs_enough_predicted_scales():
    loss = SupervisedLoss(supervised_method='sparse-l1', supervised_num_scales=3)
    with pytest.raises(ValueError, match='supervised_num_scales is 3 but the network predicts 2'):
        loss([PRED, PRED], GT)


@pytest.mark.parametrize('name', ['l1', 'mse', 'berhu', 'silog', 'combined', 'scale-adaptive'])
def test_all_invalid_batch_gives_zero_and_zero_gradients(name):
    pred = torch.rand(2, 1, 8, 8, requires_grad=True)
    loss = SupervisedLoss(supervised_method=f'sparse-{name}')([pred], torch.zeros(2, 1, 8, 8))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.equal(pred.grad, torch.zeros_like(pred))
