"""The RGB path's training modes: self-supervision alone (w = 0), checkpoints that stand alone
without the ImageNet weights they started from, and the sparse branch of ResNetSAN01."""
from pathlib import Path

import pytest
import torch
from conftest import script

from packnet_sfm.datasets.builder import depth_units
from packnet_sfm.models import build_model
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[1]
SPLIT = '[data_splits/eigen_zhou_files.txt]'


def synthetic_overrides(root, runs):
    """Point a KITTI config at the synthetic root (train = validation = test split)."""
    opts = ['datasets.kitti.image_shape', '[64, 128]', 'checkpoint.filepath', str(runs),
            'log.images_every', '0']
    for split in ('train', 'validation', 'test'):
        opts += [f'datasets.{split}.path', f"['{root}']", f'datasets.{split}.split', SPLIT,
                 f'datasets.{split}.num_workers', '0', f'datasets.{split}.batch_size', '2']
    return opts


@pytest.mark.slow
def test_photometric_loss_alone_lowers_the_photometric_loss(kitti_synthetic, tmp_path):
    cfg = load_config(REPO / 'configs/train_selfsup_resnet_kitti.yaml',
                      synthetic_overrides(kitti_synthetic, tmp_path) +
                      ['model.depth_net.DepthResNet.version', '18nt',
                       'model.optimizer.lr', '0.001'])
    assert cfg.model.loss.supervised_loss_weight == 0.0 and cfg.evaluation.use_gt_scale
    trainer = Trainer(cfg, tmp_path / 'run', SingleProcess())
    epochs = [trainer.train_epoch(epoch)[0] for epoch in range(2)]   # (summary, bad samples)
    assert set(epochs[0]) == {'loss', 'self_supervised_loss', 'photometric/reprojection',
                              'photometric/smoothness', 'photometric/automasked_fraction'}
    assert epochs[1]['photometric/reprojection'] < epochs[0]['photometric/reprojection']
    assert epochs[0]['loss'] == pytest.approx(epochs[0]['self_supervised_loss'])


@pytest.mark.slow
def test_a_pretrained_checkpoint_evaluates_and_resumes_without_its_imagenet_weights(
        kitti_synthetic, tmp_path):
    from packnet_sfm.inference import TorchPredictor
    from packnet_sfm.networks.layers.resnet_encoder import ResnetEncoder
    from packnet_sfm.trainers.run import train
    from packnet_sfm.utils.checkpoint import load_checkpoint

    weights = tmp_path / 'resnet18_imagenet.pth'
    torch.manual_seed(0)
    imagenet = ResnetEncoder(18).state_dict()
    torch.save({**imagenet, 'fc.weight': torch.zeros(1000, 512)}, weights)
    opts = synthetic_overrides(kitti_synthetic, tmp_path / 'runs') + [
        'arch.max_epochs', '1', 'model.depth_net.name', 'DepthResNet',
        'model.depth_net.DepthResNet.version', '18pt',
        'model.depth_net.DepthResNet.pretrained_path', str(weights)]
    run_dir, _ = train(REPO / 'configs/train_resnet_san_kitti.yaml', opts)
    checkpoint = run_dir / 'last.ckpt'
    weights.unlink()
    cfg = load_config(checkpoint)
    with pytest.raises(FileNotFoundError):   # what reading the weights file again would do
        build_model(cfg, *depth_units(cfg))

    evaluated = script('eval.py', '--checkpoint', checkpoint, '--split', 'test')
    assert evaluated.returncode == 0, evaluated.stderr
    assert 'abs_rel' in evaluated.stdout
    predictor = TorchPredictor(checkpoint)          # what scripts/infer.py loads
    assert predictor({'rgb': torch.rand(1, 3, 64, 128)}).shape == (1, 1, 64, 128)
    train(checkpoint, ['arch.max_epochs', '2'])
    assert load_checkpoint(checkpoint)['epoch'] == 2


@pytest.mark.parametrize('overrides, message', [
    (['datasets.kitti.image_shape', '[64, 100]'],
     'datasets.kitti.image_shape [64, 100] does not suit DepthResNet, whose input sides must be '
     'multiples of 32; change datasets.kitti.image_shape or the network'),
    (['datasets.kitti.image_shape', '[64]'], 'datasets.kitti.image_shape [64] must be [height, '
                                             'width], both positive'),
    (['model.depth_net.DepthResNet.min_depth', '100'],
     "model.depth_net.DepthResNet.min_depth (100 m) must lie between 0 and the dataset's "
     'max_depth (80 m)'),
    (['model.loss.supervised_method', 'sparse-scale-adaptive',
      'model.loss.scale_adaptive.num_scales', '0'],
     'model.loss.scale_adaptive.num_scales must be >= 1, got 0'),
])
def test_bad_rgb_settings_name_the_key(kitti_cfg, overrides, message):
    """Each was a traceback from inside torch or OpenCV, or a run on a reversed depth range."""
    cfg = kitti_cfg('model.depth_net.name', 'DepthResNet', 'model.depth_net.DepthResNet.version',
                    '18nt', *overrides)
    with pytest.raises(ConfigError) as error:
        build_model(cfg, *depth_units(cfg))
    assert str(error.value) == message
