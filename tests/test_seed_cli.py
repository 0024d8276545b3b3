"""The seed notes' `--flag value` command lines: each flag maps to the right config key and
value, the variants to their configs, the printed command is equivalent, and one runs as
written through scripts/train.py."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from packnet_sfm.utils.config import ConfigError, load_config
from packnet_sfm.utils.seed_cli import (
    ELSEWHERE,
    SWITCHES,
    VALUE_FLAGS,
    equivalent_command,
    translate,
)

REPO = Path(__file__).resolve().parents[1]
V1 = ['--dataset', 'batvisionv1']


def value(cfg, key):
    for part in key.split('.'):
        cfg = cfg[part]
    return cfg


def translated(script, argv):
    return load_config(*translate(script, argv))


# Each flag the layer claims, on a seed command, with the config values it must give.
FLAG_CASES = [
    ('train.py', ['--experiment_name', 'x'], {'name': 'x'}),
    ('train.py', ['--name', 'y'], {'name': 'y'}),
    ('train.py', ['--learning_rate', '0.0005'], {'model.optimizer.lr': 0.0005}),
    ('train.py', ['--optimizer', 'Adam'], {'model.optimizer.name': 'Adam'}),
    ('train.py', ['--batch_size', '64'], {'datasets.train.batch_size': 64,
                                          'datasets.validation.batch_size': 64,
                                          'datasets.test.batch_size': 64}),
    ('train_base_residual.py', ['--epochs', '10'], {'arch.max_epochs': 10}),
    ('train_rgb_depth.py', ['--nb_epochs', '200'], {'arch.max_epochs': 200}),
    ('train.py', ['--max-epochs', '5'], {'arch.max_epochs': 5}),
    ('train.py', ['--validation_iter', '5'], {'arch.validate_every': 5}),
    ('train.py', ['--best_metric', 'abs_rel'], {'checkpoint.monitor': 'abs_rel'}),
    ('train.py', ['--dataset', 'batvisionv2', '--criterion', 'SIlog'],
     {'model.loss.supervised_method': 'sparse-silog'}),
    ('train.py', ['--dataset', 'batvisionv2', '--criterion', 'L1'],
     {'model.loss.supervised_method': 'sparse-l1'}),
    ('train.py', [*V1, '--criterion', 'Combined'],
     {'model.loss.supervised_method': 'sparse-combined'}),
    ('train.py', ['--supervised-method', 'sparse-berhu'],
     {'model.loss.supervised_method': 'sparse-berhu'}),
    ('train.py', [*V1, '--silog_lambda', '0.85'], {'model.loss.silog.silog_lambda': 0.85,
                                                    'model.loss.combined.silog_lambda': 0.85}),
    ('train.py', [*V1, '--l1_weight', '0.3'], {'model.loss.combined.l1_weight': 0.3}),
    ('train.py', [*V1, '--silog_weight', '0.7'], {'model.loss.combined.silog_weight': 0.7}),
    ('train.py', ['configs/train_resnet_san_kitti.yaml', '--lambda-sg', '0.3'],
     {'model.loss.scale_adaptive.lambda_sg': 0.3}),
    ('train.py', ['--dataset', 'batvisionv2', '--audio_format', 'spectrogram'],
     {'datasets.batvision.audio_format': 'spectrogram'}),
    ('train_base_residual.py', ['--base_channels', '32'],
     {'model.depth_net.BaseResidualUNet.base_channels': 32}),
    ('train_rgb_depth.py', ['--base_channels', '32'],
     {'model.depth_net.RGBDepthUNet.base_channels': 32}),
    ('train_base_residual.py', ['--lambda_recon', '0.9'],
     {'model.loss.base_residual.lambda_recon': 0.9}),
    ('train_base_residual.py', ['--lambda_base', '0.5'],
     {'model.loss.base_residual.lambda_base': 0.5}),
    ('train_base_residual.py', ['--lambda_sparse', '0.1'],
     {'model.loss.base_residual.lambda_sparse': 0.1}),
    ('train_base_residual.py', ['--lowpass_kernel', '12'],
     {'model.loss.base_residual.lowpass_kernel': 12}),
    ('train_base_residual.py', ['--warmup_epochs', '10'],
     {'model.loss.base_residual.warmup_epochs': 10}),
    ('train.py', ['--use_wandb'], {'log.wandb.enabled': True}),
    ('train.py', ['--save_best_model', '--best_metric', 'rmse'],
     {'checkpoint.save_top_k': 1, 'checkpoint.monitor': 'rmse'}),
    ('train_base_residual.py', ['--use_adaptive_loss'],
     {'model.loss.base_residual.adaptive': True}),
]


@pytest.mark.parametrize('script, argv, expected', FLAG_CASES)
def test_each_flag_maps_to_its_key_and_value(script, argv, expected):
    cfg = translated(script, argv)
    assert {key: value(cfg, key) for key in expected} == expected
    if '--dataset' not in argv and not argv[0].startswith('configs/'):
        assert cfg.datasets.train.dataset == ['BatvisionV2']        # the default dataset


def test_every_claimed_flag_is_tested():
    tested = {arg for _, argv, _ in FLAG_CASES for arg in argv if arg.startswith('--')}
    assert set(VALUE_FLAGS) | set(SWITCHES) <= tested


@pytest.mark.parametrize('script, dataset, config', [
    ('train.py', 'batvisionv1', 'train_unet_batvision_v1.yaml'),
    ('train.py', 'batvisionv2', 'train_unet_batvision_v2.yaml'),
    ('train_base_residual.py', 'batvisionv2', 'train_base_residual_v2.yaml'),
    ('train_rgb_depth.py', 'batvisionv2', 'distill_rgb_teacher_v2.yaml')])
def test_the_dataset_picks_the_seed_config(script, dataset, config):
    assert translate(script, ['--dataset', dataset]) == (REPO / 'configs' / config, [])


@pytest.mark.parametrize('flags, config', [
    (['--criterion', 'SIlog'], 'train_unet_batvision_v1_silog.yaml'),
    (['--criterion', 'L1'], 'train_unet_batvision_v1_l1.yaml'),
    (['--audio_format', 'waveform'], 'train_unet_batvision_v1_waveform.yaml')])
def test_v1_variants_start_from_their_config(flags, config):
    path, opts = translate('train.py', [*V1, *flags, '--experiment_name', 'x'])
    assert path == REPO / 'configs' / config and opts == ['name', 'x']


def test_the_seed_002_command_and_its_printed_equivalent_give_one_config():
    argv = shlex.split('--dataset batvisionv1 --use_wandb --save_best_model --learning_rate '
                       '0.001 --batch_size 128 --silog_lambda 0.85 --experiment_name v1_step3')
    config, opts = translate('train.py', argv)
    line = equivalent_command(config, opts)
    assert line.startswith('python scripts/train.py configs/train_unet_batvision_v1.yaml ')
    words = shlex.split(line)
    assert load_config(REPO / words[2], words[3:]) == load_config(config, opts)


@pytest.mark.parametrize('argv, message', [
    (['--dataset', 'batvisionv1', '--checkpoints', '50'], r'--checkpoints is not a flag here: '
                                                          r'resume .*last\.ckpt'),
    (['--gpus', '0'], 'CUDA_VISIBLE_DEVICES'),
    (['--frobnicate', '1'], r'--frobnicate has no equivalent here: see .*configs/README\.md'),
    ([*V1, '--criterion', 'L1', '--audio_format', 'waveform'], 'each have a config'),
    (['configs/train_unet_batvision_v2.yaml', '--dataset', 'batvisionv1'], 'not both')])
def test_flags_without_an_equivalent_are_clear_errors(argv, message):
    with pytest.raises(ConfigError, match=message):
        translate('train.py', argv)


def test_every_flag_is_listed_in_the_configs_readme():
    readme = (REPO / 'configs' / 'README.md').read_text()
    for flag in [*VALUE_FLAGS, *SWITCHES, *ELSEWHERE]:
        assert f'`{flag}' in readme, flag


@pytest.mark.slow
def test_a_seed_command_runs_as_written(tiny_bv2, tmp_path):
    shrink = ['model.depth_net.UNetSoundOnly.generator', 'unet_128',
              'model.depth_net.UNetSoundOnly.ngf', '4', 'datasets.batvision.image_size', '128',
              'checkpoint.filepath', str(tmp_path)]
    for split in ('train', 'validation', 'test'):
        shrink += [f'datasets.{split}.path', f'[{tiny_bv2}]', f'datasets.{split}.num_workers', '0']
    command = ['--dataset', 'batvisionv2', '--learning_rate', '0.002', '--batch_size', '4',
               '--criterion', 'L1', '--epochs', '1', '--experiment_name', 'seed_style', *shrink]
    result = subprocess.run([sys.executable, str(REPO / 'scripts' / 'train.py'), *command],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    printed = re.search(r'^Equivalent: (.*)$', result.stdout, re.MULTILINE).group(1)
    assert printed.startswith('python scripts/train.py configs/train_unet_batvision_v2.yaml ')
    assert 'model.loss.supervised_method sparse-l1' in printed
    run_dir = tmp_path / 'UNetSoundOnly_batvisionv2_BS4_Lr0.002_AdamW_seed_style'
    assert (run_dir / 'last.ckpt').is_file() and 'Epoch 1: Loss=' in result.stdout
    assert load_config(run_dir / 'last.ckpt').model.loss.supervised_method == 'sparse-l1'
