"""Knowledge distillation (seed 003): the loss terms against hand values, the adaptive schedule,
the frozen teacher, and tiny teacher -> student runs on the simulated V2 set."""
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from packnet_sfm.losses.distillation_loss import DistillationLoss, kd_weight
from packnet_sfm.models import load_trained_model
from packnet_sfm.models.DistillationModel import DistillationModel
from packnet_sfm.models.SemiSupModel import SemiSupModel
from packnet_sfm.networks.depth.BinauralAttentionUNet import BinauralAttentionUNet
from packnet_sfm.networks.depth.RGBDepthUNet import RGBDepthUNet
from packnet_sfm.trainers import run as run_module
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


# ---------------------------------------------------------------------------- schedule
@pytest.mark.parametrize('schedule, first, middle, last', [('constant', 1.0, 1.0, 1.0),
                                                           ('linear', 1.0, 0.55, 0.1),
                                                           ('cosine', 1.0, 0.55, 0.1)])
def test_schedule_weight_at_first_middle_and_last_epoch(schedule, first, middle, last):
    weights = [kd_weight(epoch, 11, schedule, final_kd_fraction=0.1) for epoch in (0, 5, 10)]
    assert weights == pytest.approx([first, middle, last])


def test_linear_and_cosine_schedules_differ_between_the_ends():
    # p = 2/10: linear 1 - 0.9 * 0.2; cosine 0.1 + 0.9 * (1 + cos(0.2 pi)) / 2
    assert kd_weight(2, 11, 'linear', 0.1) == pytest.approx(0.82)
    assert kd_weight(2, 11, 'cosine', 0.1) == pytest.approx(0.1 + 0.45 * (1 + 0.80901699))


def test_schedule_edges_and_bad_name():
    assert kd_weight(0, 1, 'linear', 0.1) == 1.0          # a single epoch is the first
    assert kd_weight(30, 11, 'linear', 0.1) == pytest.approx(0.1)  # resumed past the end
    with pytest.raises(ValueError, match='model.distillation.schedule'):
        kd_weight(0, 10, 'exponential')


# ---------------------------------------------------------------------------- loss terms
def test_depth_term_is_the_squared_error_in_metres_over_valid_pixels():
    student = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    teacher = torch.tensor([[[[1.0, 4.0], [0.0, 4.0]]]])
    valid = torch.tensor([[[[True, True], [False, True]]]])
    loss = DistillationLoss(lambda_kd=0.5)
    value = loss(student, teacher, valid)
    # squared errors on valid pixels: 0, 4, 0 -> mean 4/3; times lambda_kd 0.5
    assert value.item() == pytest.approx(2 / 3)
    assert loss.metrics['kd_depth'].item() == pytest.approx(4 / 3)
    assert 'kd_feat' not in loss.metrics and not loss.uses_features


def test_feature_term_sums_the_mse_of_each_level():
    depth, valid = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1, dtype=torch.bool)
    student = {'x3': torch.tensor([[[[1.0, 2.0]]]]), 'x4': torch.tensor([[[[3.0]]]])}
    teacher = {'x3': torch.zeros(1, 1, 1, 2), 'x4': torch.ones(1, 1, 1, 1)}
    loss = DistillationLoss(lambda_kd=1.0, lambda_feat=0.1,
                            feature_channels={'x3': (1, 1), 'x4': (1, 1)})
    value = loss(depth + 2, depth, valid, student, teacher)
    # x3: (1 + 4) / 2 = 2.5; x4: (3 - 1)^2 = 4; total 1.0 * 4 (depth) + 0.1 * 6.5
    assert loss.metrics['kd_feat/x3'].item() == pytest.approx(2.5)
    assert loss.metrics['kd_feat/x4'].item() == pytest.approx(4.0)
    assert loss.metrics['kd_feat'].item() == pytest.approx(6.5)
    assert value.item() == pytest.approx(4.65)
    assert len(loss.adapters) == 0


def test_adapter_maps_student_channels_to_the_teacher_where_they_differ():
    loss = DistillationLoss(lambda_kd=0.0, lambda_feat=1.0, feature_channels={'x5': (2, 1)})
    assert list(loss.adapters) == ['x5']
    with torch.no_grad():
        loss.adapters['x5'].weight.copy_(torch.tensor([1.0, -1.0]).view(1, 2, 1, 1))
        loss.adapters['x5'].bias.fill_(0.5)
    student = {'x5': torch.tensor([3.0, 1.0]).view(1, 2, 1, 1)}   # adapted: 3 - 1 + 0.5 = 2.5
    teacher = {'x5': torch.full((1, 1, 1, 1), 0.5)}
    depth, valid = torch.zeros(1, 1, 1, 1), torch.ones(1, 1, 1, 1, dtype=torch.bool)
    assert loss(depth, depth, valid, student, teacher).item() == pytest.approx(4.0)


def test_use_adapters_adds_one_even_where_channels_match():
    channels = {'x3': (4, 4), 'x4': (8, 8)}
    assert len(DistillationLoss(lambda_feat=1.0, feature_channels=channels).adapters) == 0
    adapters = DistillationLoss(lambda_feat=1.0, feature_channels=channels,
                                use_adapters=True).adapters
    assert {level: adapter.weight.shape[:2] for level, adapter in adapters.items()} == \
        {'x3': (4, 4), 'x4': (8, 8)}


# ---------------------------------------------------------------------------- the model
def tiny_model(**distillation):
    torch.manual_seed(0)
    teacher = SemiSupModel(RGBDepthUNet(base_channels=4, max_depth=30.0), max_depth=30.0)
    student = BinauralAttentionUNet(base_channels=4, num_heads=2, max_depth=30.0)
    return DistillationModel(student, teacher, max_depth=30.0, **distillation)


def tiny_batch():
    generator = torch.Generator().manual_seed(1)
    return {'audio': torch.rand(2, 2, 16, 16, generator=generator),
            'rgb': torch.rand(2, 3, 16, 16, generator=generator),
            'depth': 30 * torch.rand(2, 1, 16, 16, generator=generator),
            'valid': torch.rand(2, 1, 16, 16, generator=generator) > 0.3}


def test_teacher_stays_frozen_in_eval_mode_and_out_of_the_checkpoint():
    model = tiny_model(lambda_kd=0.1, lambda_feat=0.5, use_adapters=True)
    teacher = model.teacher
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.train()
    model(tiny_batch())['loss'].backward()
    optimizer.step()
    assert not teacher.training and not any(m.training for m in teacher.modules())
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.grad is not None for p in model.distillation_loss.adapters.parameters())
    assert model.depth_net.head.weight.grad.abs().sum() > 0
    teacher_ids = {id(p) for p in teacher.parameters()}
    assert not teacher_ids & {id(p) for p in model.parameters()}
    keys = model.state_dict().keys()
    assert not any(k.startswith('teacher') for k in keys)
    assert 'distillation_loss.adapters.x3.weight' in keys
    model.double()
    assert next(teacher.parameters()).dtype == torch.float64


def test_training_loss_is_the_scheduled_mix_of_task_and_distillation():
    model = tiny_model(lambda_kd=0.1, lambda_feat=0.5, feature_levels=('x4', 'x5'),
                       schedule='linear', final_kd_fraction=0.1, max_epochs=3)
    batch = tiny_batch()
    model.train()
    model.set_epoch(1)
    output = model(batch)
    m = {k: v.item() for k, v in output['metrics'].items()}
    assert m['w_kd'] == pytest.approx(0.55) and m['w_task'] == pytest.approx(1.45)
    assert m['kd_feat'] == pytest.approx(m['kd_feat/x4'] + m['kd_feat/x5'])
    assert output['loss'].item() == pytest.approx(
        1.45 * m['task'] + 0.55 * (0.1 * m['kd_depth'] + 0.5 * m['kd_feat']), rel=1e-5)
    teacher_depth = model.teacher.infer(batch)
    squared = (output['depth'] - teacher_depth)[batch['valid']] ** 2
    assert m['kd_depth'] == pytest.approx(squared.mean().item(), rel=1e-5)
    assert 'features' not in output


def test_eval_mode_is_the_student_alone_without_rgb():
    model = tiny_model(lambda_kd=0.1, lambda_feat=0.5).eval()
    batch = {k: v for k, v in tiny_batch().items() if k != 'rgb'}
    output = model(batch)
    assert set(output['metrics']) == {'supervised_loss/scale_0'}
    assert output['loss'].item() == pytest.approx(output['metrics']['supervised_loss/scale_0'])


def test_training_without_rgb_says_to_load_it():
    model = tiny_model(lambda_kd=0.1).train()
    batch = {k: v for k, v in tiny_batch().items() if k != 'rgb'}
    with pytest.raises(ValueError, match='datasets.batvision.load_rgb true'):
        model(batch)


def test_unknown_feature_level_names_the_key_and_the_shared_levels():
    with pytest.raises(ConfigError, match="feature_levels: \\['x9'\\].*'d1'"):
        tiny_model(lambda_feat=1.0, feature_levels=('x3', 'x9'))


def test_empty_teacher_checkpoint_is_a_config_error(tmp_path):
    cfg = tmp_path / 'student.yaml'
    cfg.write_text('model: {name: DistillationModel, depth_net: {name: BinauralAttentionUNet}}\n')
    with pytest.raises(ConfigError, match='model.distillation.teacher_checkpoint is empty'):
        load_trained_model(load_config(cfg), tmp_path / 'none.ckpt')


@pytest.mark.parametrize('key, change', [('echo_room_scale', 'scales'),
                                         ('echo_mix_prob', 'superposes')])
def test_world_changes_are_refused_since_the_teacher_would_not_see_them(key, change, tmp_path):
    cfg = tmp_path / 'student.yaml'
    cfg.write_text('model: {name: DistillationModel, depth_net: {name: BinauralAttentionUNet}}\n'
                   f'datasets: {{augmentation: {{{key}: 0.1}}}}\n')
    with pytest.raises(ConfigError, match=f'{key} {change} the depth the student'):
        load_trained_model(load_config(cfg), tmp_path / 'none.ckpt')


# ---------------------------------------------------------------------------- end to end
TINY_NETS = ['datasets.batvision.image_size', '32', 'datasets.batvision.load_rgb', 'true',
             'model.depth_net.RGBDepthUNet.base_channels', '4',
             'model.depth_net.BinauralAttentionUNet.base_channels', '4',
             'model.depth_net.BinauralAttentionUNet.num_heads', '2', 'log.images_every', '0']


@pytest.mark.slow
def test_tiny_teacher_then_distilled_student_trains_resumes_and_evaluates(tiny_config,
                                                                          capsys):
    teacher_dir, _ = run_module.train(tiny_config, TINY_NETS + [
        'name', 'teacher', 'arch.max_epochs', '1', 'model.depth_net.name', 'RGBDepthUNet'])
    student_opts = TINY_NETS + [
        'name', 'student', 'arch.max_epochs', '1', 'model.name', 'DistillationModel',
        'model.depth_net.name', 'BinauralAttentionUNet',
        'model.distillation.teacher_checkpoint', str(teacher_dir / 'last.ckpt'),
        'model.distillation.lambda_feat', '0.5', 'model.distillation.use_adapters', 'true',
        'model.distillation.schedule', 'linear']
    capsys.readouterr()
    student_dir, metrics = run_module.train(tiny_config, student_opts)
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith('Epoch 1:'))
    for term in ('task=', 'kd_depth=', 'kd_feat=', 'kd_feat/x4=', 'w_kd=1.0000'):
        assert term in line
    assert math.isfinite(metrics['rmse'])
    state = load_checkpoint(student_dir / 'last.ckpt')
    assert not any(k.startswith('teacher') for k in state['state_dict'])
    assert 'distillation_loss.adapters.x5.weight' in state['state_dict']

    run_module.train(student_dir / 'last.ckpt', ['arch.max_epochs', '2'])
    line = next(line for line in capsys.readouterr().out.splitlines()
                if line.startswith('Epoch 2:'))
    assert 'w_kd=0.1000' in line and 'w_task=1.9000' in line    # last epoch of 2

    student = load_trained_model(load_config(student_dir / 'last.ckpt'),
                                 student_dir / 'last.ckpt')
    audio = torch.rand(1, 2, 32, 32)
    assert student.infer({'audio': audio}).shape == (1, 1, 32, 32)


@pytest.mark.slow
def test_experiment_script_runs_the_five_and_prints_one_table(tiny_bv2, tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / 'scripts' / 'run_distillation_experiments.py'),
         '--data', str(tiny_bv2), '--runs', str(tmp_path / 'runs'), '--epochs', '1',
         '--batch-size', '4', '--image-size', '32', '--base-channels', '4', '--num-workers',
         '0', '--markdown', str(tmp_path / 'table.md'), 'log.images_every', '0',
         'model.depth_net.BinauralAttentionUNet.num_heads', '2'],
        capture_output=True, text=True, cwd=tmp_path, timeout=900,
        env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stderr[-3000:]
    table = (tmp_path / 'table.md').read_text().splitlines()
    assert table[0].startswith('| experiment | rmse_final |') and 'test_rmse' in table[0]
    labels = [row.split(' | ')[0].lstrip('| ') for row in table[2:]]
    assert labels == ['RGB only (teacher)', 'Audio only', 'Audio + KD (depth)',
                      'Audio + KD (depth + features)', 'Audio + KD (adaptive)']
    assert len(list((tmp_path / 'runs').glob('*/last.ckpt'))) == 5
    assert 'Audio + KD (adaptive)' in result.stdout
