"""An inference-time setting picked on the validation split, then scored once on the test split.

Some settings change what a trained network predicts but not how it trains: EchoTwoStreamNet's
`unet_weight` (no gradient flows through its blend), `evaluation.test_time_mirror`. For the
benchmark runs of one config, each seed's last checkpoint is scored on the validation split
with every value of KEY; the value of lowest mean validation RMSE over the seeds is picked, and
only then is the test split scored, with that value alone. Both splits are compared image by
image with a reference config's runs of the same seeds (their benchmark evaluations; the paired
difference and bootstrap interval of scripts/benchmark_echo.py, official protocol), so the test
split plays no part in the choice.

    python bench/pick_on_validation.py --runs OUT/held-out-rooms/runs --config NAME
        --reference NAME --key KEY --values V ... [--seeds 0 1 2]
"""
import argparse

from packnet_sfm.models import load_trained_model
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import (
    evaluate_split,
    evaluation_protocols,
    read_per_sample,
    results_paths,
)
from packnet_sfm.utils.benchmark import (
    mean_std,
    paired_difference,
    per_image_rmse,
    seed_checkpoint,
)
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.errors import InputError

PROTOCOL = 'batvision'


def scored_rmse(checkpoint, split, overrides):
    """{image: RMSE} of a checkpoint on a split (official protocol), with its config's
    `overrides` (KEY VALUE list)."""
    cfg = load_config(checkpoint, overrides)
    results = evaluate_split(cfg, load_trained_model(cfg, checkpoint), split, SingleProcess(),
                             'cpu', evaluation_protocols(cfg, [PROTOCOL]))
    return per_image_rmse(results[PROTOCOL][1])


def reference_rmse(runs, config, seed, split):
    """{image: RMSE} of a benchmark run's own evaluation of a split (official protocol)."""
    checkpoint = seed_checkpoint(runs, config, seed)
    if not results_paths(checkpoint, split)[1].is_file():
        raise InputError(f'{checkpoint}: no {split} evaluation next to it; let the benchmark '
                         'finish (it evaluates every run), or run scripts/eval.py on it')
    return per_image_rmse(read_per_sample(checkpoint, split)[PROTOCOL])


def seeds_mean_std(tables):
    """(mean, std) over the seeds of each seed's mean per-image RMSE ({image: RMSE} each)."""
    return mean_std([sum(table.values()) / len(table) for table in tables])


def pick_on_validation(score, values, seeds):
    """(picked value, {value: validation tables}, the picked value's test tables), a table
    being one seed's {image: RMSE} from `score(value, seed, split)`. The pick has the lowest
    mean validation RMSE over the seeds (the first of equals); only it is scored on test."""
    val = {value: [score(value, seed, 'val') for seed in seeds] for value in values}
    picked = min(values, key=lambda value: seeds_mean_std(val[value])[0])
    return picked, val, [score(picked, seed, 'test') for seed in seeds]


def comparison_cell(reference, tables):
    """'mean ± std m, -x.x% [low, high] m' of `tables` and their paired difference."""
    (mean, std), diff = seeds_mean_std(tables), paired_difference(reference, tables)
    return (f'{mean:.3f} ± {std:.3f} | {100 * diff.relative:+.1f}% '
            f'[{diff.low:+.3f}, {diff.high:+.3f}] ({diff.verdict})')


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--runs', required=True, help="a benchmark's runs folder")
    parser.add_argument('--config', required=True, help='the config name (folder) to tune')
    parser.add_argument('--reference', required=True, help='the config name to compare with')
    parser.add_argument('--key', required=True, help='a setting read only at inference')
    parser.add_argument('--values', nargs='+', required=True, help="the KEY's values to try")
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    args = parser.parse_args()

    def score(value, seed, split):
        return scored_rmse(seed_checkpoint(args.runs, args.config, seed), split,
                           [args.key, value])

    reference = {split: [reference_rmse(args.runs, args.reference, seed, split)
                         for seed in args.seeds] for split in ('val', 'test')}
    picked, val, test = pick_on_validation(score, args.values, args.seeds)
    print(f'{args.config} vs {args.reference}, seeds {" ".join(map(str, args.seeds))}, '
          f'official protocol: RMSE (m), mean ± std over seeds, and the paired difference '
          f'[95% interval]\n\n| split | {args.key} | RMSE | vs {args.reference} |\n'
          '|---|---|---|---|')
    for value in args.values:
        mark = ' (picked)' if value == picked else ''
        print(f'| val | {value}{mark} | {comparison_cell(reference["val"], val[value])} |')
    print(f'| test | {picked} | {comparison_cell(reference["test"], test)} |')
    for split in ('val', 'test'):
        mean, std = seeds_mean_std(reference[split])
        print(f'| {split} | ({args.reference}) | {mean:.3f} ± {std:.3f} | |')


if __name__ == '__main__':
    run_cli(main)
