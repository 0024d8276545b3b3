"""Does the Base + Residual residual do anything? For trained BaseResidualModel checkpoints,
on a split (default test, protocol batvision): the mean |residual| in metres, and the RMSE of
the base alone against the RMSE of the final depth (base + residual). A collapsed residual
(seed 000's "residual too suppressed") shows as a mean |residual| of a few centimetres and
equal RMSEs.

    python bench/base_residual_decomposition.py RUN/last.ckpt ... [--split test|val|train]
"""
import argparse

import torch

from packnet_sfm.datasets.builder import ANALYSIS_SPLITS
from packnet_sfm.trainers.evaluation import evaluation_protocols, split_outputs
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.depth import compute_depth_metrics_per_image
from packnet_sfm.utils.errors import InputError


def decomposition(checkpoint, split):
    """(mean |residual| over valid pixels in metres, RMSE of the base, RMSE of the final)."""
    cfg = load_config(checkpoint)
    if cfg.model.name != 'BaseResidualModel':
        raise InputError(f'{checkpoint} is a {cfg.model.name} checkpoint; give BaseResidualModel '
                         'ones')
    options, = evaluation_protocols(cfg).values()
    residual_sum, pixels, rmse = 0.0, 0, {'base': [], 'depth': []}
    for output in split_outputs(cfg, checkpoint, split):
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
    parser.add_argument('--split', choices=ANALYSIS_SPLITS, default='test')
    args = parser.parse_args()
    print('| checkpoint | mean abs residual (m) | RMSE base (m) | RMSE final (m) |\n'
          '|---|---|---|---|')
    for checkpoint in args.checkpoints:
        residual, base, final = decomposition(checkpoint, args.split)
        print(f'| {checkpoint} | {residual:.3f} | {base:.3f} | {final:.3f} |')


if __name__ == '__main__':
    run_cli(main)
