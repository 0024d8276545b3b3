"""End to end: the CLI run and its outputs, resume equivalence, the non-finite-loss error,
eval and infer scripts."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from packnet_sfm.trainers import run as run_module
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.config import load_config

REPO = Path(__file__).resolve().parents[1]


def script(name, *args, **kwargs):
    return subprocess.run([sys.executable, str(REPO / 'scripts' / name), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=600, **kwargs)


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

    evaluated = script('eval.py', '--checkpoint', run_dir / 'last.ckpt', '--split', 'test')
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads((run_dir / 'metrics.json').read_text())
    assert metrics['split'] == 'test' and metrics['num_images'] > 0 and metrics['rmse'] > 0
    assert 'abs_rel' in evaluated.stdout
    assert (run_dir / 'last_test_per_sample.csv').read_text().count('\n') == \
        metrics['num_images'] + 1

    wav = next(tiny_bv2.glob('*/audio/*.wav'))
    inferred = script('infer.py', '--checkpoint', run_dir / 'last.ckpt', '--input', wav,
                      '--output', tmp_path / 'pred')
    assert inferred.returncode == 0, inferred.stderr
    depth = np.load(tmp_path / 'pred' / f'{wav.stem}.npy')
    assert depth.shape == (128, 128) and 0 <= depth.min() and depth.max() <= 30.0
    assert (tmp_path / 'pred' / f'{wav.stem}.png').is_file()


@pytest.mark.slow
def test_resumed_run_ends_with_the_same_metrics_and_weights(tiny_config, tmp_path):
    straight_dir, straight = run_module.train(tiny_config, ['arch.max_epochs', '3',
                                                            'name', 'straight'])
    first_dir, _ = run_module.train(tiny_config, ['arch.max_epochs', '1', 'name', 'split'])
    resumed_dir, resumed = run_module.train(first_dir / 'last.ckpt', ['arch.max_epochs', '3'])
    assert resumed_dir == first_dir
    assert resumed == straight
    a = load_checkpoint(straight_dir / 'last.ckpt')['state_dict']
    b = load_checkpoint(resumed_dir / 'last.ckpt')['state_dict']
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_non_finite_loss_names_epoch_step_and_terms(tiny_config):
    trainer = Trainer(load_config(tiny_config), tiny_config.parent / 'nan_run', SingleProcess())
    real_forward = trainer.model.forward

    def poisoned(batch):
        output = real_forward(batch)
        return {**output, 'loss': output['loss'] * float('nan')}

    trainer.model.forward = poisoned
    with pytest.raises(FloatingPointError, match=r'epoch 1, step 0 .*loss=nan'):
        trainer.fit()


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
