"""No loss lets NaN or inf in pixels it leaves out reach its value or its gradient (a
selection before the arithmetic, never 0 * NaN)."""
import math

import pytest
import torch

from packnet_sfm.losses.base_residual_loss import BaseResidualLoss
from packnet_sfm.losses.distillation_loss import DistillationLoss
from packnet_sfm.losses.loss_base import LOSS_REGISTRY
from packnet_sfm.losses.supervised_loss import get_loss_func

POISON = (math.nan, math.inf, -math.inf)


def poisoned_batch(seed=0):
    """Prediction (a leaf) and GT [2,1,8,8] in metres, the mask, and the clean copies: the
    first 6 pixels of each row are valid; the others hold NaN/inf in GT and prediction."""
    generator = torch.Generator().manual_seed(seed)
    gt = 1 + 4 * torch.rand(2, 1, 8, 8, generator=generator)
    pred = 1 + 4 * torch.rand(2, 1, 8, 8, generator=generator)
    valid = torch.zeros_like(gt, dtype=torch.bool)
    valid[..., :6] = True
    poisoned_gt, poisoned_pred = gt.clone(), pred.clone()
    for column, value in zip((6, 7, 7), POISON):
        poisoned_gt[..., column] = value
        poisoned_pred[..., 7 - column + 6] = value
    return poisoned_pred.requires_grad_(), poisoned_gt, valid, pred.requires_grad_(), gt


def clean_and_poisoned(make_loss, call):
    """(value, gradient) of a loss on the poisoned batch and on its clean twin."""
    results = []
    for pred, gt in [poisoned_batch()[0:2], poisoned_batch()[3:5]]:
        valid = poisoned_batch()[2]
        value = call(make_loss(), pred, gt, valid)
        value.backward()
        results.append((value.detach(), pred.grad))
    return results


@pytest.mark.parametrize('name', sorted(LOSS_REGISTRY))
@pytest.mark.parametrize('mode', ['sparse', 'dense'])
def test_registered_losses_ignore_poison_outside_the_mask(name, mode):
    def call(loss, pred, gt, valid):
        if mode == 'dense':       # dense sees every finite GT: poison only where GT is NaN/inf
            gt = torch.where(valid, gt, torch.full_like(gt, math.nan))
        return loss(pred, gt, valid)

    (poisoned, poisoned_grad), (clean, clean_grad) = clean_and_poisoned(
        lambda: get_loss_func(f'{mode}-{name}'), call)
    assert torch.isfinite(poisoned) and torch.isfinite(poisoned_grad).all()
    if mode == 'sparse':
        torch.testing.assert_close(poisoned, clean)
        valid = poisoned_batch()[2]
        torch.testing.assert_close(poisoned_grad[valid], clean_grad[valid])
        assert not poisoned_grad[~valid].any()


def test_base_residual_loss_ignores_poison_outside_the_mask():
    """The final depth is poisoned where GT is invalid. Base and residual get finite values
    there: the structure term scores the base wherever the low-passed GT is defined (also
    next to holes) and the sparsity term covers every pixel, by definition."""
    def call(loss, pred, gt, valid):
        finite = torch.where(valid, pred, torch.ones_like(pred))
        return loss(pred, finite * 0.9, finite * 0.1, gt, valid)
    (poisoned, grad), (clean, _) = clean_and_poisoned(
        lambda: BaseResidualLoss(lowpass_kernel=3), call)
    assert torch.isfinite(poisoned) and torch.isfinite(grad).all()
    torch.testing.assert_close(poisoned, clean)


def test_distillation_loss_ignores_poison_outside_the_mask():
    def call(loss, pred, teacher, valid):
        return loss(pred, teacher, valid)
    (poisoned, grad), (clean, _) = clean_and_poisoned(lambda: DistillationLoss(), call)
    torch.testing.assert_close(poisoned, clean)
    assert torch.isfinite(grad).all()
