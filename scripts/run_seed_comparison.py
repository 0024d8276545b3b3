"""The seed 001 comparison on simulated BatVision V2: U-Net vs Base+Residual (plain, adaptive)
vs binaural attention, same data, epochs and optimiser, at a CPU-feasible size. Generates the
data if needed, trains each experiment config with the same overrides (scripts/train.py),
evaluates last.ckpt on the test split (scripts/eval.py), measures the residual of the
Base+Residual runs, and writes a Markdown summary with the seed 001 claims checked.

    python scripts/run_seed_comparison.py                  # 4 models, 8 epochs: ~25 min, 2 cores
    python scripts/run_seed_comparison.py --epochs 20 --jobs 3 --runs runs/seed_comparison_20ep \
        --experiments unet base_residual base_residual_adaptive

Rerunning skips finished experiments and resumes interrupted ones from their last.ckpt.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from packnet_sfm.datasets.audio import PREPROCESSINGS
from packnet_sfm.datasets.builder import build_dataset, build_loader
from packnet_sfm.datasets.synthetic import generate_batvision
from packnet_sfm.models import load_trained_model
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import read_results
from packnet_sfm.trainers.run import run_name
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.cli import positive_int, run_cli
from packnet_sfm.utils.config import load_config

REPO = Path(__file__).resolve().parents[1]
BASELINE = 'unet'
# name -> (config, network overrides given the channel widths)
EXPERIMENTS = {
    'unet': ('configs/train_unet_batvision_v2.yaml',
             lambda a: ['model.depth_net.UNetSoundOnly.generator', 'unet_128',
                        'model.depth_net.UNetSoundOnly.ngf', a.unet_ngf]),
    'base_residual': ('configs/train_base_residual_v2.yaml',
                      lambda a: ['model.depth_net.BaseResidualUNet.base_channels', a.base_channels,
                                 'model.loss.base_residual.warmup_epochs', a.warmup_epochs]),
    'base_residual_adaptive': ('configs/train_base_residual_adaptive_v2.yaml',
                               lambda a: ['model.depth_net.BaseResidualUNet.base_channels',
                                          a.base_channels,
                                          'model.loss.base_residual.warmup_epochs',
                                          a.warmup_epochs]),
    'binaural_attention': ('configs/train_binaural_attention_v2.yaml',
                           lambda a: ['model.depth_net.BinauralAttentionUNet.base_channels',
                                      a.base_channels]),
}
TABLE_METRICS = ('rmse', 'abs_rel', 'a1')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', default='data/batvision_v2_seed_comparison')
    parser.add_argument('--runs', default='runs/seed_comparison')
    parser.add_argument('--locations', type=positive_int, default=5)
    parser.add_argument('--samples-per-location', type=positive_int, default=60)
    parser.add_argument('--seed', type=int, default=0, help='data and training seed')
    parser.add_argument('--epochs', type=positive_int, default=8)
    parser.add_argument('--warmup-epochs', type=int, default=None,
                        help='Base+Residual warm-up (default: a quarter of the epochs, as 20/80)')
    parser.add_argument('--image-size', type=positive_int, default=128,
                        help='multiple of 128 (U-Net)')
    parser.add_argument('--batch-size', type=positive_int, default=8)
    parser.add_argument('--preprocessing', default='improved', choices=PREPROCESSINGS,
                        help="'improved': nearest-resized depth with an explicit valid mask")
    parser.add_argument('--unet-ngf', type=positive_int, default=16)
    parser.add_argument('--base-channels', type=positive_int, default=8,
                        help='BaseResidualUNet and BinauralAttentionUNet width')
    parser.add_argument('--jobs', type=positive_int, default=2, help='experiments trained at once')
    parser.add_argument('--experiments', nargs='+', choices=EXPERIMENTS, default=list(EXPERIMENTS))
    args = parser.parse_args(argv)
    if args.warmup_epochs is None:
        args.warmup_epochs = max(1, round(args.epochs / 4))
    return args


def overrides(args, name):
    """KEY VALUE overrides shared by every experiment, then the network's own."""
    common = ['name', name, 'arch.seed', args.seed, 'arch.max_epochs', args.epochs,
              'arch.validate_every', 2, 'log.images_every', max(1, args.epochs // 2),
              'datasets.batvision.image_size', args.image_size,
              'datasets.batvision.preprocessing', args.preprocessing,
              'checkpoint.filepath', args.runs]
    for split in ('train', 'validation', 'test'):
        common += [f'datasets.{split}.path', f'[{args.data}]',
                   f'datasets.{split}.batch_size', args.batch_size,
                   f'datasets.{split}.num_workers', 0]
    return [str(item) for item in common + EXPERIMENTS[name][1](args)]


def run_dir_of(args, name):
    config = REPO / EXPERIMENTS[name][0]
    return Path(args.runs) / run_name(load_config(config, overrides(args, name)))


def run(command, log_path):
    """Run a command with its output in `log_path`; return the wall time in seconds."""
    started = time.time()
    with open(log_path, 'w') as log:
        log.write(' '.join(command) + '\n')
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, 'OMP_NUM_THREADS': '1'})
    if result.returncode:
        sys.exit(f'error: {command[1]} failed; see {log_path}')
    return time.time() - started


def train_and_evaluate(args, name):
    """Train (unless already finished) and evaluate one experiment; returns its row."""
    run_dir = run_dir_of(args, name)
    checkpoint = run_dir / 'last.ckpt'
    finished = checkpoint.is_file() and load_checkpoint(checkpoint)['epoch'] == args.epochs
    Path(args.runs).mkdir(parents=True, exist_ok=True)
    seconds = None
    if not finished:
        # An interrupted run resumes from its last.ckpt (which holds the config) up to
        # --epochs; a folder without one (a run killed before its first epoch) starts over.
        if checkpoint.is_file():
            start = [str(checkpoint), 'arch.max_epochs', str(args.epochs)]
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
            start = [EXPERIMENTS[name][0], *overrides(args, name)]
        seconds = run([sys.executable, 'scripts/train.py', *start],
                      Path(args.runs) / f'{name}_train.log')
    run([sys.executable, 'scripts/eval.py', '--checkpoint', str(checkpoint), '--split', 'test',
         '--protocol', 'batvision'], Path(args.runs) / f'{name}_eval.log')
    metrics = read_results(checkpoint, 'test')['batvision']
    return {'name': name, 'run_dir': str(run_dir), 'train_seconds': seconds,
            **{m: metrics[m] for m in (*TABLE_METRICS, 'num_images')},
            **model_statistics(checkpoint)}


@torch.no_grad()
def model_statistics(checkpoint):
    """Parameter count; for Base+Residual also the test mean |residual| and |final - base| (m)."""
    cfg = load_config(checkpoint)
    model = load_trained_model(cfg, checkpoint)
    stats = {'parameters': sum(p.numel() for p in model.depth_net.parameters())}
    if cfg.model.name != 'BaseResidualModel':
        return stats
    loader = build_loader(cfg, 'test', build_dataset(cfg, 'test'), SingleProcess())
    residual_sum = pixels = 0.0
    for batch in loader:
        output = model(batch)
        residual_sum += float(output['residual'].abs().sum())
        pixels += output['residual'].numel()
    return {**stats, 'mean_abs_residual_m': residual_sum / pixels}


def summary(args, rows):
    """Markdown: the settings, the table, and the seed 001 claims checked against it."""
    baseline = next((r for r in rows if r['name'] == BASELINE), None)
    lines = [f"Simulated BatVision V2 ({args.locations} rooms x {args.samples_per_location} "
             f"recordings, seed {args.seed}), {args.image_size}x{args.image_size} mel "
             f"spectrograms ({args.preprocessing} preprocessing), {args.epochs} epochs, "
             f"batch {args.batch_size}, AdamW lr 2e-3, "
             f"Combined loss; U-Net unet_128 ngf {args.unet_ngf}, other nets base_channels "
             f"{args.base_channels}; Base+Residual warm-up {args.warmup_epochs} epochs. "
             f"Test split, last checkpoint.", '',
             '| experiment | params | RMSE (m) | AbsRel | d1 | RMSE vs U-Net | mean abs residual '
             '(m) | train time (s) |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        relative = (f"{100 * (r['rmse'] / baseline['rmse'] - 1):+.1f}%"
                    if baseline and r is not baseline else '')
        residual = f"{r['mean_abs_residual_m']:.3f}" if 'mean_abs_residual_m' in r else ''
        seconds = f"{r['train_seconds']:.0f}" if r['train_seconds'] else '(earlier run)'
        lines.append(f"| {r['name']} | {r['parameters']:,} | {r['rmse']:.3f} | "
                     f"{r['abs_rel']:.3f} | {r['a1']:.3f} | {relative} | {residual} | {seconds} |")
    lines += ['', 'Seed 001 claims:']
    for r in rows:
        if 'mean_abs_residual_m' not in r:
            continue
        small = r['mean_abs_residual_m'] < 1.0
        lines.append(f"- {r['name']}: mean |residual| {r['mean_abs_residual_m']:.3f} m < 1 m: "
                     f"{'yes' if small else 'no'}")
        if baseline:
            better = r['rmse'] <= 0.95 * baseline['rmse']
            lines.append(f"- {r['name']}: RMSE at least 5% below the U-Net's: "
                         f"{'yes' if better else 'no'} ({r['rmse']:.3f} vs {baseline['rmse']:.3f})")
    return '\n'.join(lines) + '\n'


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    generate_batvision('v2', args.data, locations=args.locations,
                       samples_per_location=args.samples_per_location, seed=args.seed,
                       workers=args.jobs)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(lambda name: train_and_evaluate(args, name), args.experiments))
    text = summary(args, rows)
    (Path(args.runs) / 'summary.md').write_text(text)
    (Path(args.runs) / 'summary.json').write_text(json.dumps(rows, indent=2))
    subprocess.run([sys.executable, 'scripts/compare_runs.py', *[r['run_dir'] for r in rows],
                    '--markdown', str(Path(args.runs) / 'validation.md')], cwd=REPO, check=True)
    print(text)


if __name__ == '__main__':
    run_cli(main)
