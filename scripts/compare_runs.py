"""Compare runs: final and best validation metrics of each run folder, as one table.

    python scripts/compare_runs.py runs/A runs/B [--metrics rmse abs_rel a1] [--group-seeds]
                                   [--csv out.csv] [--markdown out.md]

With --group-seeds, runs whose config.yaml differ only in arch.seed (and checkpoint.filepath)
form one row: the mean and standard deviation over their seeds.
"""
import argparse
from pathlib import Path

from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.compare import (
    comparison_table,
    grouped_table,
    to_markdown,
    to_text,
    write_csv,
)
from packnet_sfm.utils.errors import writable_file


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('run_dirs', nargs='+', help='run folders holding val_metrics.jsonl')
    parser.add_argument('--metrics', nargs='+', default=['rmse', 'abs_rel', 'a1'],
                        help='metrics to compare (a1/a2/a3 higher is better, others lower)')
    parser.add_argument('--group-seeds', action='store_true',
                        help='one row per group of runs that differ only in arch.seed: '
                             'mean and std over the seeds')
    parser.add_argument('--csv', help='also write the table to this CSV file')
    parser.add_argument('--markdown', help='also write the table to this Markdown file')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    for option, path in (('--csv', args.csv), ('--markdown', args.markdown)):
        if path:
            writable_file(path, option)
    table = grouped_table if args.group_seeds else comparison_table
    header, rows = table(args.run_dirs, args.metrics)
    print(to_text(header, rows))
    if args.csv:
        write_csv(args.csv, header, rows)
    if args.markdown:
        Path(args.markdown).write_text(to_markdown(header, rows))


if __name__ == '__main__':
    run_cli(main)
