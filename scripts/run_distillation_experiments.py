"""Seed 003's five experiments under one budget, then one comparison table.

    python scripts/run_distillation_experiments.py --data data/batvision_v2
        [--runs runs/distill_v2] [--epochs N] [--batch-size B] [--lr LR] [--image-size S]
        [--base-channels C] [--num-workers W] [--markdown table.md] [KEY VALUE ...]

Trains the RGB teacher (configs/distill_rgb_teacher_v2.yaml), the audio-only baseline, and
the three distilled audio students, which use the teacher's last.ckpt. Every option given, and
every KEY VALUE override, applies to all five runs, so they share epochs, data, batch size,
learning rate and network width. The table holds each run's validation metrics (final, best;
packnet_sfm/utils/compare.py) and its last checkpoint's test metrics (scripts/eval.py).
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from packnet_sfm.trainers.evaluation import read_results
from packnet_sfm.trainers.run import train
from packnet_sfm.utils.cli import non_negative_int, positive_int, run_cli
from packnet_sfm.utils.compare import comparison_table, to_markdown, to_text
from packnet_sfm.utils.errors import writable_file

REPO = Path(__file__).resolve().parents[1]
TEACHER = ('RGB only (teacher)', 'configs/distill_rgb_teacher_v2.yaml')
STUDENTS = [('Audio only', 'configs/distill_audio_only_v2.yaml'),
            ('Audio + KD (depth)', 'configs/distill_kd_depth_v2.yaml'),
            ('Audio + KD (depth + features)', 'configs/distill_kd_depth_features_v2.yaml'),
            ('Audio + KD (adaptive)', 'configs/distill_kd_adaptive_v2.yaml')]
SPLITS = ('train', 'validation', 'test')
NETWORKS = ('RGBDepthUNet', 'BinauralAttentionUNet')
METRICS = ('rmse', 'abs_rel', 'a1')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', required=True, help='a BatVision V2 root (location folders)')
    parser.add_argument('--runs', default='runs/distill_v2', help='folder of the run folders')
    parser.add_argument('--epochs', type=positive_int, help='arch.max_epochs')
    parser.add_argument('--batch-size', type=positive_int, help='batch size of every split')
    parser.add_argument('--lr', type=float, help='model.optimizer.lr')
    parser.add_argument('--image-size', type=positive_int, help='datasets.batvision.image_size')
    parser.add_argument('--base-channels', type=positive_int, help='of the RGB and the audio U-Net')
    parser.add_argument('--num-workers', type=non_negative_int,
                        help='data loader workers of every split')
    parser.add_argument('--markdown', help='also write the table to this Markdown file')
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='overrides as KEY VALUE pairs')
    return parser.parse_args(argv)


def budget_overrides(args):
    """KEY VALUE overrides shared by the five runs."""
    opts = ['checkpoint.filepath', args.runs]
    for split in SPLITS:
        opts += [f'datasets.{split}.path', json.dumps([args.data])]
        opts += [f'datasets.{split}.batch_size', args.batch_size] if args.batch_size else []
        opts += ([f'datasets.{split}.num_workers', args.num_workers]
                 if args.num_workers is not None else [])
    opts += ['arch.max_epochs', args.epochs] if args.epochs else []
    opts += ['model.optimizer.lr', args.lr] if args.lr is not None else []
    opts += ['datasets.batvision.image_size', args.image_size] if args.image_size else []
    for net in NETWORKS:
        opts += ([f'model.depth_net.{net}.base_channels', args.base_channels]
                 if args.base_channels else [])
    return [str(value) for value in opts] + list(args.opts)


def run_experiment(config, opts):
    """(run folder, training minutes, test metrics of its last.ckpt)."""
    started = time.time()
    run_dir, _ = train(REPO / config, opts)
    minutes = (time.time() - started) / 60
    checkpoint = run_dir / 'last.ckpt'
    result = subprocess.run([sys.executable, str(REPO / 'scripts' / 'eval.py'),
                             '--checkpoint', str(checkpoint), '--split', 'test',
                             '--protocol', 'batvision'])
    if result.returncode:
        sys.exit(f'error: scripts/eval.py failed on {checkpoint}')
    return run_dir, minutes, read_results(checkpoint, 'test')['batvision']


def results_table(labels, results):
    """Header and rows: experiment, validation final/best per metric, test metrics, minutes."""
    header, rows = comparison_table([run_dir for run_dir, _, _ in results], METRICS)
    header = ['experiment', *header[1:], *(f'test_{m}' for m in METRICS), 'train_min']
    rows = [[label, *row[1:], *(test[m] for m in METRICS), minutes]
            for label, row, (_, minutes, test) in zip(labels, rows, results, strict=True)]
    return header, rows


def main(argv=None):
    args = parse_args(argv)
    if args.markdown:
        writable_file(args.markdown, '--markdown')
    opts = budget_overrides(args)
    teacher = run_experiment(TEACHER[1], opts)
    teacher_opts = ['model.distillation.teacher_checkpoint', str(teacher[0] / 'last.ckpt')]
    results = [teacher] + [run_experiment(config, opts + teacher_opts)
                           for _, config in STUDENTS]
    labels = [TEACHER[0]] + [label for label, _ in STUDENTS]
    header, rows = results_table(labels, results)
    print(f"\nSeed 003 experiments (shared overrides: {' '.join(opts)})\n")
    print(to_text(header, rows))
    if args.markdown:
        Path(args.markdown).write_text(to_markdown(header, rows))


if __name__ == '__main__':
    run_cli(main)
