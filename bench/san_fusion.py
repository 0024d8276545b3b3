"""ResNetSAN01's sparse-feature fusion: packnet-sfm's additive `weight * rgb + sparse + bias`
(ours) against the earlier gate `weight * rgb + bias * sparse` with bias starting at 0, as a
reference run in the same process. Prints, for each, the sparse encoder's gradient norm on the
first step and the validation abs_rel of configs/overfit_resnet_san_kitti.yaml every 4 epochs.

    python scripts/make_synthetic_kitti.py --root data/kitti_synthetic
    python bench/san_fusion.py [--data data/kitti_synthetic] [--epochs 16] [--seed 42]
"""
import argparse
import json
import tempfile
from pathlib import Path

import torch

from packnet_sfm.datasets.builder import build_dataset, depth_units
from packnet_sfm.models import build_model
from packnet_sfm.networks.depth.ResNetSAN01 import ResNetSAN01
from packnet_sfm.trainers.run import train
from packnet_sfm.utils.cli import positive_int
from packnet_sfm.utils.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'overfit_resnet_san_kitti.yaml'


def gated_fuse(self, rgb_features, input_depth):
    """The reference: sparse features scaled by the per-level `bias` (0 at first)."""
    depth_features, masks = self.sparse_encoder(input_depth)
    fused = []
    for level, (rgb, depth, mask) in enumerate(zip(rgb_features, depth_features, masks)):
        mixed = self.weight[level] * rgb + self.bias[level] * depth
        if str(level) in self.films:
            mixed = self.films[str(level)](mixed, depth, mask)
        fused.append(rgb + mask * (mixed - rgb))
    return fused


def first_step_gradients(cfg):
    """(sparse encoder, RGB encoder) gradient norms of the first training batch."""
    torch.manual_seed(cfg.arch.seed)
    model = build_model(cfg, *depth_units(cfg)).train()
    batch = next(iter(torch.utils.data.DataLoader(build_dataset(cfg, 'train'), batch_size=4)))
    model(batch)['loss'].backward()

    def norm(module):
        grads = [p.grad.norm() ** 2 for p in module.parameters() if p.grad is not None]
        return float(sum(grads) ** 0.5) if grads else 0.0
    return norm(model.depth_net.sparse_encoder), norm(model.depth_net.encoder), \
        float((batch['input_depth'] > 0).float().mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default='data/kitti_synthetic')
    parser.add_argument('--epochs', type=positive_int, default=16)
    parser.add_argument('--seed', type=int, default=42)
    args = parser.parse_args()
    opts = [f'datasets.{split}.path' for split in ('train', 'validation', 'test')]
    opts = [item for key in opts for item in (key, f"['{args.data}']")]
    opts += ['arch.max_epochs', str(args.epochs), 'arch.validate_every', '4',
             'arch.seed', str(args.seed), 'log.images_every', '0']
    additive = ResNetSAN01.fuse
    with tempfile.TemporaryDirectory() as runs:
        for name, fuse in (('gate at 0 (reference)', gated_fuse), ('additive', additive)):
            ResNetSAN01.fuse = fuse
            cfg = load_config(CONFIG, opts + ['checkpoint.filepath', runs])
            sparse, rgb, density = first_step_gradients(cfg)
            run_dir, _ = train(CONFIG, opts + ['checkpoint.filepath', runs, 'name', name[:4]])
            curve = [(row['epoch'], round(row['abs_rel'], 4)) for row in
                     map(json.loads, (run_dir / 'val_metrics.jsonl').read_text().splitlines())]
            print(f'{name}: input depth on {density:.0%} of pixels; first-step gradient norm '
                  f'sparse encoder {sparse:.3g}, RGB encoder {rgb:.3g}; val abs_rel {curve}')
    ResNetSAN01.fuse = additive


if __name__ == '__main__':
    main()
