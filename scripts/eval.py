"""Evaluate a checkpoint on a split: prints a metrics table and writes `metrics.json` and a
per-sample CSV next to the checkpoint.

    python scripts/eval.py --checkpoint RUN/last.ckpt [--config Y.yaml] [--split test|val]
                           [KEY VALUE ...]
"""
import argparse
import csv
import json
from pathlib import Path

import torch

from packnet_sfm.datasets.builder import build_dataset, build_loader
from packnet_sfm.models import load_trained_model
from packnet_sfm.trainers.distributed import setup_distributed
from packnet_sfm.trainers.evaluation import evaluate, evaluation_options
from packnet_sfm.trainers.trainer import select_device
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.depth import METRIC_NAMES

SPLIT_KEYS = {'test': 'test', 'val': 'validation'}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='a training checkpoint (.ckpt)')
    parser.add_argument('--config', help="a YAML to use instead of the checkpoint's config")
    parser.add_argument('--split', choices=SPLIT_KEYS, default='test')
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='overrides as KEY VALUE pairs')
    args = parser.parse_args()

    cfg = load_config(args.config or args.checkpoint, args.opts)
    world = setup_distributed(cfg.arch.distributed)
    device = select_device(cfg.arch.device, world)
    model = load_trained_model(cfg, args.checkpoint, device)
    split_key = SPLIT_KEYS[args.split]
    loader = build_loader(cfg, split_key, build_dataset(cfg, split_key), world)
    metrics, rows = evaluate(model, loader, world, device, evaluation_options(cfg),
                             desc=f'eval {args.split}')
    if world.is_main:
        write_results(Path(args.checkpoint), args.split, metrics, rows)


def write_results(checkpoint, split, metrics, rows):
    print(metrics_table(metrics))
    folder = checkpoint.parent
    stem = f'{checkpoint.stem}_{split}'
    (folder / 'metrics.json').write_text(json.dumps(
        {'checkpoint': str(checkpoint), 'split': split, **metrics}, indent=2))
    with open(folder / f'{stem}_per_sample.csv', 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['idx', 'filename', 'valid', *METRIC_NAMES])
        writer.writeheader()
        writer.writerows(rows)
    print(f"Wrote {folder / 'metrics.json'} and {folder / f'{stem}_per_sample.csv'}")


def metrics_table(metrics):
    names = [*METRIC_NAMES, 'num_images']
    header = ' | '.join(f'{n:>8}' for n in names)
    values = ' | '.join(f'{metrics[n]:8.4f}' if n != 'num_images' else f'{metrics[n]:8d}'
                        for n in names)
    return f'{header}\n{"-" * len(header)}\n{values}'


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    run_cli(main)
