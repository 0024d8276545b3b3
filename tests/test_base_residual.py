"""Base + Residual: each loss term against hand-computed values, the mask-aware low-pass, the
adaptive weights, the curriculum's gradient cut, the residual bound, the decomposition picture
and the epoch line."""
import re

import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.losses.base_residual_loss import BaseResidualLoss, TermWeights, masked_lowpass
from packnet_sfm.models import build_model
from packnet_sfm.trainers import run as run_module
from packnet_sfm.utils.visualization import make_grid

torch.set_num_threads(1)

MAX_DEPTH = 12.0


def depth_map(rows):
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_lowpass_of_a_constant_with_holes_is_the_constant():
    valid = torch.rand(1, 1, 8, 9, generator=torch.Generator().manual_seed(0)) > 0.4
    gt = torch.where(valid, 4.0, 0.0)
    structure, covered = masked_lowpass(gt, valid, kernel=4)
    assert covered.float().mean() > 0.9
    assert torch.allclose(structure[covered], torch.tensor(4.0))
    assert (structure[~covered] == 0).all()
    plain = torch.nn.functional.avg_pool2d(gt, 4, stride=1)    # what ignoring the mask gives
    assert plain.min() < 3.0


def test_lowpass_averages_valid_pixels_and_marks_empty_windows():
    gt = depth_map([[2.0, 0.0, 0.0, 0.0],
                    [6.0, 0.0, 0.0, 0.0]])
    valid = gt > 0
    structure, covered = masked_lowpass(gt, valid, kernel=2)
    # Even kernel: the window of (r, c) spans rows r..r+1, columns c..c+1 (zero-padded).
    assert structure[0, 0].tolist() == [[4.0, 0.0, 0.0, 0.0], [6.0, 0.0, 0.0, 0.0]]
    assert covered[0, 0].tolist() == [[True, False, False, False], [True, False, False, False]]
    odd, _ = masked_lowpass(gt, valid, kernel=3)    # centred 3x3 windows
    assert odd[0, 0].tolist() == [[4.0, 4.0, 0.0, 0.0], [4.0, 4.0, 0.0, 0.0]]


def test_each_term_and_the_weighted_sum_match_hand_values():
    gt = depth_map([[2.0, 4.0], [0.0, 6.0]])
    valid = gt > 0
    final = depth_map([[3.0, 4.0], [9.0, 4.0]])
    base = depth_map([[5.0, 5.0], [5.0, 5.0]])
    residual = depth_map([[1.0, -2.0], [0.5, -0.5]])
    loss = BaseResidualLoss(weights=TermWeights(recon=1.0, base=0.8, sparse=0.2),
                            lowpass_kernel=2)
    total = loss(final, base, residual, gt, valid)
    recon = (1 + 0 + 2) / 3                     # |final - gt| on the 3 valid pixels
    # Structure target (2x2 windows, zero padded): (0,0) mean(2,4,6)=4, (0,1) mean(4,6)=5,
    # (1,0) 6, (1,1) 6, all covered -> |5 - target| = 1, 0, 1, 1.
    struct = (1 + 0 + 1 + 1) / 4
    sparse = (1 + 2 + 0.5 + 0.5) / 4
    metrics = {k: v.item() for k, v in loss.metrics.items()}
    assert metrics == pytest.approx({'loss_recon': recon, 'loss_base': struct,
                                     'loss_sparse': sparse})
    assert total.item() == pytest.approx(recon + 0.8 * struct + 0.2 * sparse)


def test_adaptive_weights_switch_after_warmup_and_fixed_weights_never_do():
    adaptive = BaseResidualLoss(adaptive=True, warmup_epochs=20)
    fixed = BaseResidualLoss(adaptive=False, warmup_epochs=20)
    for epoch, expected in [(0, (0.5, 1.5, 0.3)), (19, (0.5, 1.5, 0.3)), (20, (1.0, 0.5, 0.3))]:
        adaptive.set_epoch(epoch)
        fixed.set_epoch(epoch)
        assert adaptive.weights == TermWeights(*expected)
        assert fixed.weights == TermWeights(recon=1.0, base=0.8, sparse=0.2)


def test_bad_kernel_names_the_key():
    with pytest.raises(ValueError, match='model.loss.base_residual.lowpass_kernel'):
        BaseResidualLoss(lowpass_kernel=0)


def base_residual_model(**loss_overrides):
    cfg = get_cfg_defaults()
    cfg.model.name = 'BaseResidualModel'
    cfg.model.depth_net.name = 'BaseResidualUNet'
    cfg.model.depth_net.BaseResidualUNet.base_channels = 4
    for key, value in loss_overrides.items():
        cfg.model.loss.base_residual[key] = value
    torch.manual_seed(0)
    return build_model(cfg, depth_scale=MAX_DEPTH, max_depth=1.0)   # normalised depth


def tiny_batch(size=16):
    generator = torch.Generator().manual_seed(1)
    depth = torch.rand(2, 1, size, size, generator=generator) * 0.9 + 0.05
    return {'audio': torch.randn(2, 2, size, size, generator=generator), 'depth': depth,
            'valid': torch.rand(2, 1, size, size, generator=generator) > 0.3}


def decoder_gradients(model, batch):
    """Summed |grad| of the base and residual decoders after one backward of the model loss."""
    model.zero_grad(set_to_none=True)
    model(batch)['loss'].backward()

    def total(module):
        return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)

    return total(model.depth_net.base_decoder), total(model.depth_net.residual_decoder)


RECON_ONLY = {'lambda_recon': 1.0, 'lambda_base': 0.0, 'lambda_sparse': 0.0}


def test_curriculum_cuts_the_reconstruction_gradient_into_the_base_after_warmup():
    model = base_residual_model(curriculum=True, warmup_epochs=2, **RECON_ONLY)
    batch = tiny_batch()
    model.set_epoch(1)      # last warm-up epoch
    base_grad, residual_grad = decoder_gradients(model, batch)
    assert base_grad > 0 and residual_grad > 0
    model.set_epoch(2)
    base_grad, residual_grad = decoder_gradients(model, batch)
    assert base_grad == 0 and residual_grad > 0


def test_without_curriculum_the_base_keeps_the_reconstruction_gradient():
    model = base_residual_model(curriculum=False, warmup_epochs=2, **RECON_ONLY)
    model.set_epoch(5)
    base_grad, _ = decoder_gradients(model, tiny_batch())
    assert base_grad > 0


def test_full_loss_after_warmup_still_trains_the_base_through_the_structure_term():
    model = base_residual_model(curriculum=True, warmup_epochs=0)
    base_grad, residual_grad = decoder_gradients(model, tiny_batch())
    assert base_grad > 0 and residual_grad > 0


def test_outputs_are_in_metres_and_residual_within_its_bound():
    model = base_residual_model()
    with torch.no_grad():
        for param in model.depth_net.residual_head.parameters():
            param.fill_(50.0)               # saturate tanh: residual at +bound
        output = model(tiny_batch())
    bound = 0.2 * MAX_DEPTH
    assert output['residual'].abs().max() <= bound + 1e-5
    assert output['residual'].max() == pytest.approx(bound, rel=1e-5)
    assert 0 <= output['base'].min() and output['base'].max() <= MAX_DEPTH
    assert 0 <= output['depth'].min() and output['depth'].max() <= MAX_DEPTH
    assert set(output['metrics']) == {'loss_recon', 'loss_base', 'loss_sparse'}
    # the loss terms are in the network's units: normalised depth here
    assert output['metrics']['loss_sparse'].item() == pytest.approx(bound / MAX_DEPTH, rel=1e-5)


def test_decomposition_picture_has_four_panels_per_row():
    model = base_residual_model().eval()
    batch = tiny_batch()
    with torch.no_grad():
        output = model(batch)
    pictures = model.pictures(batch, output, num_images=2)
    assert set(pictures) == {'prediction', 'decomposition'}
    one_panel = make_grid([[('x', pictures['decomposition'][:4, :4])]])
    panel_width, row_height = one_panel.shape[1], one_panel.shape[0]
    assert pictures['decomposition'].shape == (2 * row_height, 4 * panel_width, 3)


def test_network_without_decomposition_is_refused_by_name():
    cfg = get_cfg_defaults()
    cfg.model.name = 'BaseResidualModel'
    cfg.model.depth_net.name = 'BinauralAttentionUNet'
    cfg.model.depth_net.BinauralAttentionUNet.base_channels = 8
    with pytest.raises(ValueError, match="BaseResidualModel needs .* got BinauralAttentionUNet"):
        build_model(cfg, depth_scale=1.0, max_depth=30.0)


@pytest.mark.slow
def test_training_run_prints_the_terms_and_writes_the_decomposition(tiny_config, capsys):
    overrides = ['model.name', 'BaseResidualModel', 'model.depth_net.name', 'BaseResidualUNet',
                 'model.depth_net.BaseResidualUNet.base_channels', 4,
                 'datasets.batvision.image_size', 64, 'arch.max_epochs', 1]
    run_dir, metrics = run_module.train(tiny_config, overrides)
    printed = capsys.readouterr().out
    assert re.search(r'Epoch 1: Loss=[\d.]+ \(recon=[\d.]+, base=[\d.]+, sparse=[\d.]+\)',
                     printed)
    assert (run_dir / 'results' / 'epoch_0001_decomposition.png').is_file()
    assert metrics['rmse'] > 0
