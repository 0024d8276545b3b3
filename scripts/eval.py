"""Evaluate a checkpoint on one or several splits under one or several protocols: prints a
metrics table per protocol and writes `<ckpt>_<split>_metrics.json` and
`<ckpt>_<split>_per_sample.csv` next to the checkpoint for each split (with `--tag T`:
`<ckpt>_<split>_T_*`, so that an evaluation with other data or settings, given as KEY VALUE
overrides, keeps the run's own results; the overrides are recorded in the JSON).

    python scripts/eval.py --checkpoint RUN/last.ckpt [--config Y.yaml] [--split test|val]...
                           [--protocol NAME ...] [--tag T] [KEY VALUE ...]

Protocols (default: the config's evaluation.protocol): batvision, batvision_published,
kitti_eigen, custom (see packnet_sfm/utils/protocols.py).
"""
import argparse
import csv
import json
from pathlib import Path

import torch

from packnet_sfm.datasets.builder import EVAL_SPLITS
from packnet_sfm.models import load_trained_model
from packnet_sfm.trainers.distributed import setup_distributed
from packnet_sfm.trainers.evaluation import evaluate_split, evaluation_protocols, results_paths
from packnet_sfm.trainers.trainer import autocast_settings, select_device
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config, split_overrides
from packnet_sfm.utils.depth import METRIC_NAMES
from packnet_sfm.utils.errors import file_name_part
from packnet_sfm.utils.protocols import protocol_from_config


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='a training checkpoint (.ckpt)')
    parser.add_argument('--config', help="a YAML to use instead of the checkpoint's config")
    parser.add_argument('--split', action='append', choices=EVAL_SPLITS,
                        help='a split to evaluate; repeat it for several (default: test)')
    parser.add_argument('--protocol', nargs='+', default=[], metavar='NAME',
                        help='evaluation protocols to report (default: evaluation.protocol)')
    parser.add_argument('--tag', default='', help='results named <ckpt>_<split>_TAG_*')
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='overrides as KEY VALUE pairs')
    args = parser.parse_args()
    args.protocol, overrides = split_overrides(args.protocol)
    args.opts = overrides + args.opts
    if args.tag:
        file_name_part(args.tag, '--tag')

    cfg = load_config(args.config or args.checkpoint, args.opts)
    world = setup_distributed(cfg.arch.distributed)
    device = select_device(cfg.arch.device, world)
    model = load_trained_model(cfg, args.checkpoint, device)
    protocols = evaluation_protocols(cfg, args.protocol)
    for split in args.split or ['test']:
        results = evaluate_split(cfg, model, split, world, device, protocols,
                                 autocast_settings(cfg.arch.amp, device)[0])
        if world.is_main:
            write_results(Path(args.checkpoint), split, results, cfg, args.tag, args.opts)


def write_results(checkpoint, split, results, cfg, tag, overrides):
    """Print a table per protocol; write every protocol's metrics (with the overrides) and
    per-sample rows."""
    for name, (metrics, _) in results.items():
        print(metrics_table(name, protocol_from_config(cfg, name).description, metrics))
    metrics_path, samples_path = results_paths(checkpoint, split, tag)
    metrics_path.write_text(json.dumps(
        {'checkpoint': str(checkpoint), 'split': split, 'overrides': overrides,
         'protocols': {name: metrics for name, (metrics, _) in results.items()}}, indent=2))
    with open(samples_path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['protocol', 'idx', 'filename', 'valid',
                                               *METRIC_NAMES])
        writer.writeheader()
        writer.writerows({'protocol': name, **row} for name, (_, rows) in results.items()
                         for row in rows)
    print(f'Wrote {metrics_path} and {samples_path}')


def metrics_table(name, description, metrics):
    names = [*METRIC_NAMES, 'num_images']
    header = ' | '.join(f'{n:>8}' for n in names)
    values = ' | '.join(f'{metrics[n]:8.4f}' if n != 'num_images' else f'{metrics[n]:8d}'
                        for n in names)
    return f'protocol {name}: {description}\n{header}\n{"-" * len(header)}\n{values}'


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    run_cli(main)
