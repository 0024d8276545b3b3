"""Every BatVision config under configs/ loads and trains one step on a tiny simulated set
(networks shrunk by overrides); the seed 002 experiment configs hold the seed's settings."""
import math
from pathlib import Path

import pytest
import torch
from conftest import tiny_overrides

from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import to_device
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.checkpoint import save_checkpoint
from packnet_sfm.utils.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
BATVISION_CONFIGS = sorted(
    path.name for path in CONFIGS.glob('*.yaml')
    if all(name.startswith('Batvision') for name in load_config(path).datasets.train.dataset))

def one_step_trainer(path, data_root, runs, extra=()):
    """A Trainer for the tiny version of config `path` that has taken one training step;
    returns (trainer, the step's loss terms, whether every trained weight stayed equal)."""
    cfg = load_config(path)
    cfg = load_config(path, tiny_overrides(cfg, data_root, runs) + list(extra))
    trainer = Trainer(cfg, runs / cfg.name, SingleProcess())
    before = [p.detach().clone() for p in trainer.model.parameters() if p.requires_grad]
    batch = next(iter(trainer.train_loader))
    terms = trainer.train_step(to_device(batch, trainer.device), epoch=0)
    after = [p for p in trainer.model.parameters() if p.requires_grad]
    unchanged = all(torch.equal(a, b) for a, b in zip(before, after))
    return trainer, terms, unchanged


@pytest.fixture(scope='module')
def teacher_checkpoint(tiny_bv2, tmp_path_factory):
    """A checkpoint of the tiny RGB teacher, for the distillation configs."""
    runs = tmp_path_factory.mktemp('teacher')
    trainer, _, _ = one_step_trainer(CONFIGS / 'distill_rgb_teacher_v2.yaml', tiny_bv2, runs)
    path = runs / 'teacher.ckpt'
    save_checkpoint(trainer.state(1, {}), path)
    return path


def test_every_seed_experiment_has_a_batvision_config():
    assert {'train_unet_batvision_v1.yaml', 'train_unet_batvision_v1_silog.yaml',
            'train_unet_batvision_v1_l1.yaml', 'train_unet_batvision_v1_waveform.yaml',
            'train_unet_batvision_v2.yaml', 'train_base_residual_v2.yaml',
            'train_base_residual_adaptive_v2.yaml',
            'train_binaural_attention_v2.yaml'} <= set(BATVISION_CONFIGS)


@pytest.mark.slow
@pytest.mark.parametrize('name', BATVISION_CONFIGS)
def test_config_trains_one_step_on_tiny_data(name, request, tmp_path):
    cfg = load_config(CONFIGS / name)
    version = cfg.datasets.train.dataset[0]
    data_root = request.getfixturevalue('tiny_bv1' if version == 'BatvisionV1' else 'tiny_bv2')
    extra = []
    if cfg.model.name == 'DistillationModel':
        extra = ['model.distillation.teacher_checkpoint',
                 str(request.getfixturevalue('teacher_checkpoint'))]
    _, terms, unchanged = one_step_trainer(CONFIGS / name, data_root, tmp_path, extra)
    assert math.isfinite(terms['loss']) and terms['loss'] > 0
    assert not unchanged
    if cfg.model.name == 'BaseResidualModel':
        assert {'loss_recon', 'loss_base', 'loss_sparse'} <= set(terms)


V1 = {'datasets.batvision.audio_format': 'spectrogram', 'datasets.batvision.max_depth': 12.0,
      'datasets.batvision.depth_norm': True, 'model.optimizer.name': 'AdamW',
      'model.optimizer.lr': 1e-3, 'datasets.train.batch_size': 128,
      'checkpoint.monitor': 'rmse', 'checkpoint.save_top_k': 1}
V2 = {'datasets.batvision.audio_format': 'mel_spectrogram', 'datasets.batvision.max_depth': 30.0,
      'datasets.batvision.depth_norm': False, 'model.optimizer.lr': 2e-3,
      'datasets.train.batch_size': 256}
COMBINED = {'model.loss.supervised_method': 'sparse-combined',
            'model.loss.combined.l1_weight': 0.237, 'model.loss.combined.silog_weight': 0.637,
            'model.loss.combined.silog_lambda': 0.869}
EXPECTED = {
    'train_unet_batvision_v1.yaml': {**V1, **COMBINED},
    'train_unet_batvision_v1_silog.yaml': {**V1, 'model.loss.supervised_method': 'sparse-silog',
                                           'model.loss.silog.silog_lambda': 0.869},
    'train_unet_batvision_v1_l1.yaml': {**V1, 'model.loss.supervised_method': 'sparse-l1'},
    'train_unet_batvision_v1_waveform.yaml': {
        **V1, **COMBINED, 'datasets.batvision.audio_format': 'waveform',
        'model.depth_net.name': 'WaveformDepthNet',
        'model.depth_net.WaveformDepthNet.output_size': 256},
    'train_unet_batvision_v2.yaml': {**V2, **COMBINED},
    'train_base_residual_v2.yaml': {
        **V2, 'model.name': 'BaseResidualModel', 'model.loss.base_residual.lambda_base': 0.8,
        'model.loss.base_residual.lambda_sparse': 0.2,
        'model.loss.base_residual.lowpass_kernel': 16, 'model.loss.base_residual.adaptive': False,
        'model.loss.base_residual.curriculum': True},
    'train_base_residual_adaptive_v2.yaml': {
        **V2, 'model.name': 'BaseResidualModel', 'model.loss.base_residual.adaptive': True,
        'model.loss.base_residual.warmup_epochs': 20,
        'model.loss.base_residual.warmup_weights.base': 1.5,
        'model.loss.base_residual.final_weights.recon': 1.0,
        'model.loss.base_residual.curriculum': True},
    'train_binaural_attention_v2.yaml': {**V2, 'model.depth_net.name': 'BinauralAttentionUNet'},
}


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_seed_config_holds_the_seed_settings(name):
    cfg = load_config(CONFIGS / name)

    def value(key):
        node = cfg
        for part in key.split('.'):
            node = node[part]
        return node

    assert {key: value(key) for key in EXPECTED[name]} == EXPECTED[name]
