"""End to end: the CLI run and its outputs, resume equivalence, the non-finite-loss error,
eval and infer scripts."""
import json
import math

import numpy as np
import pytest
import torch
from conftest import script

from packnet_sfm.trainers import run as run_module
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import results_paths
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.config import ConfigError, load_config


@pytest.mark.slow
def test_two_epoch_cli_run_then_resume_eval_and_infer(tiny_config, tiny_bv2, tmp_path):
    result = script('train.py', tiny_config)
    assert result.returncode == 0, result.stderr
    run_dir = next((tmp_path / 'runs').iterdir())
    assert run_dir.name == 'UNetSoundOnly_batvisionv2_BS4_Lr0.002_AdamW_tiny'
    assert 'Epoch 2: Loss=' in result.stdout and 'Checkpoint:' in result.stdout
    assert list((run_dir / 'tensorboard').glob('events.out.tfevents.*'))
    assert (run_dir / 'results' / 'epoch_0002_prediction.png').is_file()
    assert (run_dir / 'config.yaml').is_file()
    lines = (run_dir / 'val_metrics.jsonl').read_text().splitlines()
    assert [json.loads(line)['epoch'] for line in lines] == [1, 2]
    assert len(list(run_dir.glob('epoch=*-rmse=*.ckpt'))) == 1
    state = torch.load(run_dir / 'last.ckpt', weights_only=True)
    assert state['epoch'] == 2 and state['config']['name'] == 'tiny'

    resumed = script('train.py', run_dir / 'last.ckpt', 'arch.max_epochs', 3)
    assert resumed.returncode == 0, resumed.stderr
    assert 'Epoch 3: Loss=' in resumed.stdout and 'Epoch 2:' not in resumed.stdout
    assert load_checkpoint(run_dir / 'last.ckpt')['epoch'] == 3

    evaluated = script('eval.py', '--checkpoint', run_dir / 'last.ckpt', '--split', 'test',
                       '--protocol', 'batvision', 'batvision_published')
    assert evaluated.returncode == 0, evaluated.stderr
    metrics_path, samples_path = results_paths(run_dir / 'last.ckpt', 'test')
    assert metrics_path.name == 'last_test_metrics.json'
    results = json.loads(metrics_path.read_text())
    assert results['split'] == 'test' and list(results['protocols']) == [
        'batvision', 'batvision_published']
    official = results['protocols']['batvision']
    assert official['num_images'] > 0 and official['rmse'] > 0
    assert 'protocol batvision: gt > 0 m' in evaluated.stdout
    assert 'protocol batvision_published: 0.5 m <= gt <= 30 m' in evaluated.stdout
    rows = samples_path.read_text().splitlines()
    assert rows[0].startswith('protocol,idx,filename')
    assert len(rows) == 1 + official['num_images'] + results['protocols'][
        'batvision_published']['num_images']

    # Other data under a tag, the overrides after --protocol: the run's test results stay.
    on_train = script('eval.py', '--checkpoint', run_dir / 'last.ckpt', '--protocol',
                      'batvision', 'datasets.test.split', "['train']", '--tag', 'train')
    assert on_train.returncode == 0, on_train.stderr
    assert json.loads(metrics_path.read_text()) == results
    tagged_metrics, tagged_samples = results_paths(run_dir / 'last.ckpt', 'test', 'train')
    assert tagged_metrics.name == 'last_test_train_metrics.json'
    tagged = json.loads(tagged_metrics.read_text())
    assert tagged['overrides'] == ['datasets.test.split', "['train']"]
    assert list(tagged['protocols']) == ['batvision']
    filenames = {row.split(',')[2] for row in rows[1:]}
    assert filenames.isdisjoint(row.split(',')[2]
                                for row in tagged_samples.read_text().splitlines()[1:])

    wav = next(tiny_bv2.glob('*/audio/*.wav'))
    inferred = script('infer.py', '--checkpoint', run_dir / 'last.ckpt', '--input', wav,
                      '--output', tmp_path / 'pred')
    assert inferred.returncode == 0, inferred.stderr
    depth = np.load(tmp_path / 'pred' / f'{wav.stem}.npy')
    assert depth.shape == (128, 128) and 0 <= depth.min() and depth.max() <= 30.0
    assert (tmp_path / 'pred' / f'{wav.stem}.png').is_file()


COSINE = ['model.scheduler.name', 'cosine', 'model.scheduler.min_lr', '0.0']


@pytest.fixture
def epoch_learning_rates(monkeypatch):
    """The learning rate of every epoch trained (that of its first step), by run name, in
    order."""
    rates = {}
    real_train_step = Trainer.train_step

    def recording(self, batch, epoch):
        epochs = rates.setdefault(self.cfg.name, {})
        epochs.setdefault(epoch, self.optimizer.param_groups[0]['lr'])
        return real_train_step(self, batch, epoch)

    monkeypatch.setattr(Trainer, 'train_step', recording)
    return rates


def cosine(base, epoch, max_epochs):
    return base * (1 + math.cos(math.pi * epoch / max_epochs)) / 2


@pytest.mark.slow
def test_resume_continues_the_schedule_exactly(tiny_config, epoch_learning_rates):
    straight_dir, straight = run_module.train(tiny_config, [*COSINE, 'arch.max_epochs', '4',
                                                            'name', 'straight'])
    first_dir, _ = run_module.train(tiny_config, [*COSINE, 'arch.max_epochs', '1',
                                                  'name', 'split'])
    resumed_dir, resumed = run_module.train(first_dir / 'last.ckpt', ['arch.max_epochs', '4'])
    assert resumed_dir == first_dir
    expected = [cosine(0.002, epoch, 4) for epoch in range(4)]
    for name in ('straight', 'split'):
        assert list(epoch_learning_rates[name].values()) == pytest.approx(expected, rel=1e-12)
    assert resumed == straight
    a = load_checkpoint(straight_dir / 'last.ckpt')['state_dict']
    b = load_checkpoint(resumed_dir / 'last.ckpt')['state_dict']
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_warm_up_sets_the_rate_of_each_first_step_then_the_schedule(tiny_config, monkeypatch):
    rates = []
    real_train_step = Trainer.train_step

    def recording(self, batch, epoch):
        rates.append((epoch, self.optimizer.param_groups[0]['lr']))
        return real_train_step(self, batch, epoch)

    monkeypatch.setattr(Trainer, 'train_step', recording)
    cfg = load_config(tiny_config, [*COSINE, 'arch.max_epochs', '2', 'datasets.train.batch_size',
                                    '2', 'model.scheduler.warmup_steps', '3'])
    Trainer(cfg, tiny_config.parent / 'run', SingleProcess()).fit()
    assert [lr for epoch, lr in rates if epoch == 0] == pytest.approx(
        [0.002 / 3, 0.002 * 2 / 3, 0.002, 0.002, 0.002, 0.002])
    assert [lr for epoch, lr in rates if epoch == 1] == pytest.approx([cosine(0.002, 1, 2)] * 6)


@pytest.mark.slow
def test_resume_with_more_epochs_follows_the_longer_schedule(tiny_config, epoch_learning_rates):
    run_dir, _ = run_module.train(tiny_config, [*COSINE, 'arch.max_epochs', '2', 'name', 'grow'])
    run_module.train(run_dir / 'last.ckpt', ['arch.max_epochs', '4'])
    assert list(epoch_learning_rates['grow'].values()) == pytest.approx(
        [cosine(0.002, 0, 2), cosine(0.002, 1, 2), cosine(0.002, 2, 4), cosine(0.002, 3, 4)],
        rel=1e-12)
    epochs = [json.loads(line)['epoch'] for line in
              (run_dir / 'val_metrics.jsonl').read_text().splitlines()]
    assert epochs == [1, 2, 3, 4]


@pytest.mark.slow
def test_every_n_epochs_checkpoints_resume_from_any_of_them(tiny_config):
    run_dir, _ = run_module.train(tiny_config, ['arch.max_epochs', '4',
                                                'checkpoint.every_n_epochs', '2'])
    assert sorted(p.name for p in run_dir.glob('epoch_*.ckpt')) == [
        'epoch_0002.ckpt', 'epoch_0004.ckpt']
    assert load_checkpoint(run_dir / 'epoch_0002.ckpt')['epoch'] == 2
    run_module.train(run_dir / 'epoch_0002.ckpt', ['arch.max_epochs', '3'])
    epochs = [json.loads(line)['epoch'] for line in
              (run_dir / 'val_metrics.jsonl').read_text().splitlines()]
    assert epochs == [1, 2, 3]      # epochs 3-4 of the first run were replaced


def test_a_bad_monitor_fails_before_training_with_the_metric_names(tiny_config):
    result = script('train.py', tiny_config, 'checkpoint.monitor', 'rmsee')
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert "checkpoint.monitor 'rmsee' is not a validation metric; choose one of abs_rel, " \
        "sq_rel, rmse" in result.stderr
    assert 'Epoch 1' not in result.stdout


@pytest.mark.slow
def test_several_validation_sets_are_reported_apart(tiny_config, tiny_bv2):
    lists = ['datasets.validation.dataset', '[BatvisionV2, BatvisionV2]',
             'datasets.validation.path', f"['{tiny_bv2}', '{tiny_bv2}']",
             'datasets.validation.split', '[val, test]', 'arch.max_epochs', '1']
    run_dir, metrics = run_module.train(tiny_config, [*lists, 'checkpoint.monitor_index', '1'])
    record = json.loads((run_dir / 'val_metrics.jsonl').read_text())
    assert set(record) >= {'rmse', 'BatvisionV2-val/rmse', 'BatvisionV2-val/num_images'}
    assert 'BatvisionV2-test/rmse' not in record          # the monitored set is at the top
    assert metrics['rmse'] == record['rmse'] != record['BatvisionV2-val/rmse']
    best = next(run_dir.glob('epoch=*-rmse=*.ckpt'))
    assert best.name == f"epoch=0001-rmse={record['rmse']:.4f}.ckpt"
    with pytest.raises(ConfigError, match=r'monitor_index 2 .*BatvisionV2-val.*0\.\.1'):
        run_module.train(tiny_config, [*lists, 'checkpoint.monitor_index', '2'])


def test_non_finite_loss_names_epoch_step_and_terms(tiny_config):
    trainer = Trainer(load_config(tiny_config), tiny_config.parent / 'nan_run', SingleProcess())
    real_forward = trainer.model.forward

    def poisoned(batch):
        output = real_forward(batch)
        return {**output, 'loss': output['loss'] * float('nan')}

    trainer.model.forward = poisoned
    with pytest.raises(FloatingPointError, match=r'epoch 1, step 0 .*loss=nan'):
        trainer.fit()


def test_non_finite_gradient_stops_the_run_naming_the_step(tiny_config):
    trainer = Trainer(load_config(tiny_config), tiny_config.parent / 'nan_grad', SingleProcess())
    first = next(trainer.model.parameters())
    first.register_hook(lambda grad: grad * float('nan'))
    before = first.detach().clone()
    with pytest.raises(FloatingPointError, match=r'Non-finite gradient at epoch 1, step 0 .*loss='):
        trainer.fit()
    assert torch.equal(first.detach(), before)          # the poisoned step was not taken


def test_bad_config_key_ends_the_cli_with_one_clear_line(tiny_config):
    result = script('train.py', tiny_config, 'arch.max_epoch', 2)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: Unknown config key 'arch.max_epoch'")
    assert 'Traceback' not in result.stderr


def test_pictures_share_a_colour_scale_set_by_the_ground_truth_shown(tiny_config):
    model = Trainer(load_config(tiny_config), tiny_config.parent / 'pic_run', SingleProcess()).model
    gt = torch.linspace(0.0, 4.0, 101).reshape(1, 1, 1, 101).repeat(2, 1, 1, 1)
    valid = gt > 0
    valid[1] = False  # a sample's holes do not count
    expected = 3.96 + 0.01 * 0.04  # 99th percentile of 0.04, 0.08, ..., 4.0, interpolated
    assert model.picture_depth_range({'valid': valid}, {'gt': gt}, 2) == pytest.approx(expected)
    assert model.picture_depth_range({'valid': valid & False}, {'gt': gt}, 2) == 30.0
