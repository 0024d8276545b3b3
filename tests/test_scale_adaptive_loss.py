"""Scale-adaptive (G2-MonoDepth) loss: hand-computed case, an independent per-image reference,
masking (invalid pixels never matter, terms do not shrink with holes), raw mask, gradients."""
import numpy as np
import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.losses.scale_adaptive_loss import ScaleAdaptiveLoss
from packnet_sfm.losses.supervised_loss import SupervisedLoss, get_loss_func

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_Y = SOBEL_X.T

# 3x3 image with ground truth on the four corners only (centre and edges invalid).
# GT corners 1, 1, 3, 3: mu 2, s 1 -> G^ = -1, -1, 1, 1.
# Pred corners 2, 2, 2, 6: mu 3, s (1+1+1+3)/4 = 1.5 -> P^ = -2/3, -2/3, -2/3, 2.
# R = P^ - G^ = 1/3, 1/3, -5/3, 1 -> L_rel = (1/3 + 1/3 + 5/3 + 1) / 4 = 5/6.
# L_abs = (1 + 1 + 1 + 3) / 4 = 1.5.
# One Sobel window: gx = -R00 + R02 - R20 + R22 = 8/3, gy = -R00 - R02 + R20 + R22 = -4/3,
# L_grad = (8/3 + 4/3) / 4 = 1.
CORNER_GT = torch.tensor([[[[1., 0., 1.], [0., 0., 0.], [3., 0., 3.]]]])
CORNER_PRED = torch.tensor([[[[2., 7., 2.], [9., 5., 8.], [2., 4., 6.]]]])
CORNER_MASK = CORNER_GT > 0


def test_hand_computed_case():
    loss = ScaleAdaptiveLoss()
    value = loss(CORNER_PRED, CORNER_GT, CORNER_MASK)
    assert loss.metrics['scale_adaptive/abs'].item() == pytest.approx(1.5)
    assert loss.metrics['scale_adaptive/rel'].item() == pytest.approx(5 / 6, rel=1e-5)
    assert loss.metrics['scale_adaptive/grad'].item() == pytest.approx(1.0, rel=1e-5)
    assert value.item() == pytest.approx(1.5 + 5 / 6 + 0.5 * 1.0, rel=1e-5)


def test_without_absolute_term():
    loss = ScaleAdaptiveLoss(use_absolute=False, lambda_sg=2.0)
    value = loss(CORNER_PRED, CORNER_GT, CORNER_MASK)
    assert value.item() == pytest.approx(5 / 6 + 2.0 * 1.0, rel=1e-5)
    assert 'scale_adaptive/abs' not in loss.metrics


def test_raw_mask_selects_the_absolute_pixels():
    loss = ScaleAdaptiveLoss()
    raw = torch.zeros_like(CORNER_MASK)
    raw[0, 0, 0, 0] = raw[0, 0, 2, 2] = True          # |2 - 1| and |6 - 3|
    loss(CORNER_PRED, CORNER_GT, CORNER_MASK, raw_mask=raw)
    assert loss.metrics['scale_adaptive/abs'].item() == pytest.approx((1 + 3) / 2)
    assert loss.metrics['scale_adaptive/rel'].item() == pytest.approx(5 / 6, rel=1e-5)
    raw[0, 0, 1, 1] = True                             # a raw point without GT is ignored
    loss(CORNER_PRED, CORNER_GT, CORNER_MASK, raw_mask=raw)
    assert loss.metrics['scale_adaptive/abs'].item() == pytest.approx((1 + 3) / 2)


def reference_loss(pred, gt, mask, raw_mask=None, lambda_sg=0.5, num_scales=4, eps=1e-6,
                   use_absolute=True, use_inv_depth=False):
    """Plain per-image numpy loops over the formulas of SPEC 6.4 (power-of-two sizes)."""
    pred, gt = (t[:, 0].double().numpy() for t in (pred, gt))
    mask = mask[:, 0].numpy()
    raw = mask if raw_mask is None else raw_mask[:, 0].numpy() & mask
    if use_inv_depth:
        pred = np.where(mask, 1 / np.where(mask, pred, 1), 0)
        gt = np.where(mask, 1 / np.where(mask, gt, 1), 0)
    rel_sum = grad_sum = abs_sum = 0.0
    for p, g, m, v in zip(pred, gt, mask, raw, strict=True):
        standard = []
        for y in (p, g):
            mu = y[m].mean()
            s = np.abs(y[m] - mu).mean() + eps
            standard.append((y - mu) / s)
        residual = np.where(m, standard[0] - standard[1], 0.0)
        rel_sum += np.abs(residual[m]).sum()
        abs_sum += np.abs(p[v] - g[v]).sum()
        for k in range(num_scales):
            r = residual[::2 ** k, ::2 ** k]
            for i in range(r.shape[0] - 2):
                for j in range(r.shape[1] - 2):
                    window = r[i:i + 3, j:j + 3]
                    grad_sum += abs((window * SOBEL_X).sum()) + abs((window * SOBEL_Y).sum())
    count = mask.sum()
    total = rel_sum / count + lambda_sg * grad_sum / count
    return total + abs_sum / raw.sum() if use_absolute else total


def random_case(invalid_fraction, size=16, seed=0):
    """Two images: GT in [1, 10] m, prediction = GT with a multiplicative error pattern."""
    generator = torch.Generator().manual_seed(seed)
    gt = 1 + 9 * torch.rand(2, 1, size, size, generator=generator)
    pred = gt * torch.exp(0.3 * torch.randn(2, 1, size, size, generator=generator))
    mask = torch.rand(2, 1, size, size, generator=generator) >= invalid_fraction
    return pred, gt, mask


@pytest.mark.parametrize('invalid_fraction', [0.0, 0.5, 0.95])
@pytest.mark.parametrize('options', [
    {}, {'num_scales': 2, 'lambda_sg': 1.5}, {'use_absolute': False}, {'use_inv_depth': True}])
def test_matches_an_independent_per_image_reference(invalid_fraction, options):
    pred, gt, mask = random_case(invalid_fraction)
    expected = reference_loss(pred, gt, mask, **options)
    assert ScaleAdaptiveLoss(**options)(pred, gt, mask).item() == pytest.approx(expected, rel=1e-5)


def test_matches_the_reference_with_a_raw_mask():
    pred, gt, mask = random_case(0.3)
    raw = torch.rand(mask.shape, generator=torch.Generator().manual_seed(1)) < 0.2
    expected = reference_loss(pred, gt, mask, raw_mask=raw)
    actual = ScaleAdaptiveLoss()(pred, gt, mask, raw_mask=raw)
    assert actual.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('use_inv_depth', [False, True])
def test_invalid_pixels_of_the_prediction_do_not_matter(use_inv_depth):
    pred, gt, mask = random_case(0.5)
    mask[0, 0, 0, :3] = False
    loss = ScaleAdaptiveLoss(use_inv_depth=use_inv_depth)
    junk = torch.linspace(-5.0, 1e4, pred.numel()).view(pred.shape)   # negative, 0, huge
    junk[0, 0, 0, :3] = torch.tensor([0.0, float('inf'), float('nan')])
    changed = torch.where(mask, pred, junk)
    assert loss(changed, gt, mask).item() == loss(pred, gt, mask).item()
    changed.requires_grad_()
    loss(changed, gt, mask).backward()
    assert torch.equal(changed.grad[~mask], torch.zeros(int((~mask).sum())))
    assert torch.isfinite(changed.grad).all()


@pytest.mark.parametrize('invalid_fraction', [0.5, 0.95])
def test_relative_and_gradient_terms_keep_their_magnitude_with_holes(invalid_fraction):
    """Same per-pixel error pattern: the normalised terms stay comparable to the full mask."""
    loss = ScaleAdaptiveLoss()
    pred, gt, full = random_case(0.0, size=32)
    _, _, holes = random_case(invalid_fraction, size=32)
    loss(pred, gt, full)
    full_terms = dict(loss.metrics)
    loss(pred, gt, holes)
    for term in ('rel', 'grad'):
        ratio = loss.metrics[f'scale_adaptive/{term}'] / full_terms[f'scale_adaptive/{term}']
        assert 0.5 < ratio.item() < 3.0, (term, ratio)


def test_relative_and_gradient_terms_ignore_scale_and_shift():
    pred, gt, mask = random_case(0.5)
    loss = ScaleAdaptiveLoss(use_absolute=False)
    assert loss(3 * gt + 2, gt, mask).item() == pytest.approx(0.0, abs=1e-4)
    assert loss(pred, gt, mask).item() > 0.1


@pytest.mark.parametrize('invalid_fraction', [0.0, 0.5, 0.95, 1.0])
def test_gradients_are_finite(invalid_fraction):
    pred, gt, mask = random_case(invalid_fraction)
    pred.requires_grad_()
    value = ScaleAdaptiveLoss()(pred, gt, mask)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.abs().sum() > 0 if mask.any() else value.item() == 0.0


def test_registered_as_scale_adaptive_with_its_config_namespace():
    options = get_cfg_defaults().model.loss.scale_adaptive
    loss = get_loss_func('sparse-scale-adaptive', **options)
    assert isinstance(loss.loss, ScaleAdaptiveLoss)
    gt = CORNER_GT.clone()
    assert loss(CORNER_PRED, gt).item() == pytest.approx(1.5 + 5 / 6 + 0.5, rel=1e-5)


def test_supervised_loss_passes_the_raw_mask_through():
    raw = torch.zeros_like(CORNER_MASK)
    raw[0, 0, 0, 0] = raw[0, 0, 2, 2] = True
    supervised = SupervisedLoss(supervised_method='sparse-scale-adaptive')
    value = supervised([CORNER_PRED], CORNER_GT, raw_mask=raw)
    assert supervised.metrics['scale_adaptive/abs'].item() == pytest.approx(2.0)
    assert value.item() == pytest.approx(2.0 + 5 / 6 + 0.5, rel=1e-5)
