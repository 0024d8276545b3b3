"""Does the Base + Residual residual do anything? For trained BaseResidualModel checkpoints,
on a split (default test, protocol batvision): the mean |residual| in metres, and the RMSE of
the base alone against the RMSE of the final depth (base + residual). A collapsed residual
(seed 000's "residual too suppressed") shows as a mean |residual| of a few centimetres and
equal RMSEs.

    python bench/base_residual_decomposition.py RUN/last.ckpt ... [--split test|val]
"""
import argparse

import torch

from packnet_sfm.datasets.builder import build_dataset, build_loader
from packnet_sfm.models import load_trained_model
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import evaluation_protocols, to_device
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.depth import compute_depth_metrics_per_image
from packnet_sfm.utils.errors import InputError

SPLIT_KEYS = {'test': 'test', 'val': 'validation'}


@torch.no_grad()
def decomposition(checkpoint, split):
    """(mean |residual| over valid pixels in metres, RMSE of the base, RMSE of the final)."""
    cfg = load_config(checkpoint)
    if cfg.model.name != 'BaseResidualModel':
        raise InputError(f'{checkpoint} is a {cfg.model.name} checkpoint; give BaseResidualModel '
                         'ones')
    model = load_trained_model(cfg, checkpoint)
    options, = evaluation_protocols(cfg).values()
    key = SPLIT_KEYS[split]
    loader = build_loader(cfg, key, build_dataset(cfg, key), SingleProcess())
    residual_sum, pixels, rmse = 0.0, 0, {'base': [], 'depth': []}
    for batch in loader:
        output = model.evaluation_output(to_device(batch, 'cpu'))
        valid = output['gt'] > 0
        residual_sum += float(output['residual'][valid].abs().sum())
        pixels += int(valid.sum())
        for name in rmse:
            metrics = compute_depth_metrics_per_image(output['gt'], output[name], **options)
            rmse[name].append(metrics['rmse'][metrics['valid']])
    base, final = (float(torch.cat(rmse[name]).mean()) for name in ('base', 'depth'))
    return residual_sum / max(pixels, 1), base, final


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--split', choices=SPLIT_KEYS, default='test')
    args = parser.parse_args()
    print('| checkpoint | mean abs residual (m) | RMSE base (m) | RMSE final (m) |\n'
          '|---|---|---|---|')
    for checkpoint in args.checkpoints:
        residual, base, final = decomposition(checkpoint, args.split)
        print(f'| {checkpoint} | {residual:.3f} | {base:.3f} | {final:.3f} |')


if __name__ == '__main__':
    run_cli(main)
