"""Shared fixtures: a tiny simulated BatVision V2 set (made once per session) and a tiny run
config pointing at it; `script`, which runs one of scripts/ as a user would, and `load_script`,
which imports a script of scripts/ or bench/ as a module."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from packnet_sfm.datasets.synthetic import generate_batvision

torch.set_num_threads(2)
REPO = Path(__file__).resolve().parents[1]


def load_script(path):
    """A script (not a package module) at `path` as a module."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script(name, *args, **kwargs):
    """scripts/<name> run with `args` from the repository root, its output captured."""
    return subprocess.run([sys.executable, str(REPO / 'scripts' / name), *map(str, args)],
                          capture_output=True, text=True, cwd=REPO, timeout=600, **kwargs)

TINY_CONFIG = """
name: tiny
arch: {{seed: 3, max_epochs: 2, validate_every: 1}}
model:
  optimizer: {{name: AdamW, lr: 0.002}}
  loss: {{supervised_method: sparse-l1}}
  depth_net:
    name: UNetSoundOnly
    UNetSoundOnly: {{generator: unet_128, ngf: 4}}
datasets:
  batvision: {{audio_format: spectrogram, max_depth: 30.0, depth_norm: true, image_size: 128,
              preprocessing: improved}}
  train: {{dataset: [BatvisionV2], path: ['{data}'], split: [train], batch_size: 4,
          num_workers: 0}}
  validation: {{dataset: [BatvisionV2], path: ['{data}'], split: [val], batch_size: 3,
               num_workers: 0}}
  test: {{dataset: [BatvisionV2], path: ['{data}'], split: [test], batch_size: 3,
         num_workers: 0}}
checkpoint: {{filepath: '{runs}', save_top_k: 1}}
log: {{images_every: 1, num_images: 2}}
"""


# Constructor arguments that make each network tiny (equal widths for teacher and student).
TINY_NETWORKS = {'UNetSoundOnly': {'generator': 'unet_128', 'ngf': 4},
                 'BaseResidualUNet': {'base_channels': 4},
                 'BinauralAttentionUNet': {'base_channels': 8},
                 'RGBDepthUNet': {'base_channels': 8},
                 'EchoDelayNet': {'channels': 16, 'num_heads': 2},
                 'EchoTwoStreamNet': {'channels': 16, 'num_heads': 2, 'unet_ngf': 4},
                 'WaveformDepthNet': {'base_channels': 4, 'output_size': 64}}


def tiny_overrides(cfg, data_root, runs):
    """KEY VALUE overrides: tiny networks and images, this data, batch 2, no workers."""
    net = cfg.model.depth_net.name
    opts = [f'model.depth_net.{net}.{key}' for key in TINY_NETWORKS[net]]
    opts = [item for key, value in zip(opts, TINY_NETWORKS[net].values())
            for item in (key, value)]
    with_unet = net in ('UNetSoundOnly', 'EchoTwoStreamNet')      # unet_128: sides of 128
    opts += ['datasets.batvision.image_size', 128 if with_unet else 64,
             'checkpoint.filepath', str(runs), 'arch.max_epochs', 1]
    for split in ('train', 'validation', 'test'):
        count = len(cfg.datasets[split].dataset)
        opts += [f'datasets.{split}.path', [str(data_root)] * count,
                 f'datasets.{split}.batch_size', 2, f'datasets.{split}.num_workers', 0]
    return opts


@pytest.fixture(scope='session')
def tiny_bv2(tmp_path_factory):
    """A simulated V2 root: 2 locations x 8 recordings."""
    root = tmp_path_factory.mktemp('bv2')
    generate_batvision('v2', root, locations=2, samples_per_location=8, seed=7, workers=1)
    return root


@pytest.fixture(scope='session')
def tiny_bv1(tmp_path_factory):
    """A simulated V1 root: one date folder, 8 recordings."""
    root = tmp_path_factory.mktemp('bv1')
    generate_batvision('v1', root, locations=1, samples_per_location=8, seed=5, workers=1)
    return root


@pytest.fixture
def tiny_config(tiny_bv2, tmp_path):
    """Path of a YAML that trains a 4-channel unet_128 for 2 epochs on the tiny set."""
    path = tmp_path / 'tiny.yaml'
    path.write_text(TINY_CONFIG.format(data=tiny_bv2, runs=tmp_path / 'runs'))
    return path


@pytest.fixture(scope='session')
def kitti_synthetic(tmp_path_factory):
    """A synthetic KITTI raw root: 1 drive x 6 frames at 64x128 (split eigen_zhou_files)."""
    from packnet_sfm.datasets.synthetic import kitti
    root = tmp_path_factory.mktemp('kitti_synthetic')
    kitti.write_synthetic_kitti(root, num_drives=1, num_frames=6, height=64, width=128, seed=3)
    return root


@pytest.fixture
def kitti_cfg(kitti_synthetic):
    """cfg(*overrides): defaults with every split on the synthetic KITTI root (64x128 images,
    split eigen_zhou_files, no workers), then the overrides."""
    from configs.default_config import get_cfg_defaults
    from packnet_sfm.utils.config import merge_opts

    def make(*opts):
        cfg = get_cfg_defaults()
        for split in ('train', 'validation', 'test'):
            merge_opts(cfg, [f'datasets.{split}.dataset', '[KITTI]', f'datasets.{split}.path',
                             f"['{kitti_synthetic}']", f'datasets.{split}.split',
                             '[data_splits/eigen_zhou_files.txt]',
                             f'datasets.{split}.num_workers', '0'])
        return merge_opts(cfg, ['datasets.kitti.image_shape', '[64, 128]', *opts])
    return make
