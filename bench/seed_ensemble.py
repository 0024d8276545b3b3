"""Is a model's error seed noise or bias? For the benchmark runs of each config (one per seed),
on a split: the mean per-image RMSE of each seed's prediction and that of the seeds' mean
prediction (official protocol). Averaging removes what differs between seeds, so a large
gain says the error is mostly noise of the training run (which weight averaging, dropout or
more seeds can reduce) and a small one that it is mostly shared by every seed: bias.

With `--blend W` and two configs, also the prediction W * first + (1 - W) * second, seed by
seed: whether two models make different errors (a diagnostic, not a model either is credited
with; it costs both trainings).

    python bench/seed_ensemble.py --runs OUT/held-out-rooms/runs --configs NAME ...
                                  [--seeds 0 1 2] [--split val|test|train] [--blend W]
"""
import argparse

import torch

from packnet_sfm.datasets.builder import ANALYSIS_SPLITS
from packnet_sfm.trainers.evaluation import evaluation_protocols, split_outputs
from packnet_sfm.utils.benchmark import seed_checkpoint
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.depth import compute_depth_metrics_per_image
from packnet_sfm.utils.errors import InputError


def mean_rmse(gt, pred, options):
    """Mean over the images of the per-image RMSE of `pred` against `gt` [N, 1, H, W]."""
    return float(compute_depth_metrics_per_image(gt=gt, pred=pred, **options)['rmse'].mean())


def seed_and_ensemble_rmse(gt, predictions, options):
    """([mean per-image RMSE of each prediction], that of their mean prediction)."""
    single = [mean_rmse(gt, pred, options) for pred in predictions]
    return single, mean_rmse(gt, torch.stack(predictions).mean(0), options)


def blend_rmse(gt, first, second, weight, options):
    """Mean per-image RMSE of weight * first + (1 - weight) * second."""
    return mean_rmse(gt, weight * first + (1 - weight) * second, options)


def split_prediction(checkpoint, split):
    """(ground truth, prediction) of a checkpoint over a whole split, and its protocol."""
    cfg = load_config(checkpoint)
    outputs = list(split_outputs(cfg, checkpoint, split))
    return (torch.cat([o['gt'] for o in outputs]), torch.cat([o['depth'] for o in outputs]),
            evaluation_protocols(cfg)[cfg.evaluation.protocol])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', required=True, help="a benchmark's runs folder")
    parser.add_argument('--configs', nargs='+', required=True, help='config names (folders)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--split', choices=ANALYSIS_SPLITS, default='val')
    parser.add_argument('--blend', type=float, metavar='W',
                        help='with two configs: also W * first + (1 - W) * second')
    args = parser.parse_args()
    if args.blend is not None and (len(args.configs) != 2 or not 0 <= args.blend <= 1):
        raise InputError(f'--blend {args.blend}: give two --configs and a weight in [0, 1]')
    torch.set_grad_enabled(False)
    checkpoints = {config: [seed_checkpoint(args.runs, config, seed) for seed in args.seeds]
                   for config in args.configs}     # every run there before the first row
    print(f'{args.split} split, seeds {" ".join(map(str, args.seeds))}: mean per-image RMSE (m)'
          '\n\n| config | each seed | their mean | the seeds\' mean prediction | gain |\n'
          '|---|---|---|---|---|')
    predictions = {}
    for config in args.configs:
        runs = [split_prediction(checkpoint, args.split) for checkpoint in checkpoints[config]]
        gt, options = runs[0][0], runs[0][2]
        predictions[config] = [pred for _, pred, _ in runs]
        single, ensemble = seed_and_ensemble_rmse(gt, predictions[config], options)
        mean = sum(single) / len(single)
        print(f'| {config} | {" / ".join(f"{s:.3f}" for s in single)} | {mean:.3f} | '
              f'{ensemble:.3f} | {100 * (ensemble / mean - 1):+.1f}% |')
    if args.blend is not None:
        first, second = predictions.values()
        blends = [blend_rmse(gt, a, b, args.blend, options) for a, b in zip(first, second)]
        print(f'\n{args.blend:g} x {args.configs[0]} + {1 - args.blend:g} x {args.configs[1]}, '
              f'seed by seed: {" / ".join(f"{b:.3f}" for b in blends)}, mean '
              f'{sum(blends) / len(blends):.3f}')

if __name__ == '__main__':
    run_cli(main)
