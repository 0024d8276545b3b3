"""Check a dataset root before a run: every file its splits reference, with the loader's own
checks (audio and camera headers, depth dtype, shape and valid pixels), in parallel. Prints a
summary and the first problems; exits 0 only when nothing is wrong.

    python scripts/check_dataset.py ROOT --format batvision_v1|batvision_v2
        [--split train val test] [--workers N] [--max-depth M] [--report FILE]
"""
import argparse
import csv
import os
import sys
from functools import partial

from packnet_sfm.datasets.BatvisionV1Dataset import BatvisionV1Dataset
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.datasets.check import check_split, summary
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.errors import InputError

# format -> (loader, max_depth of its seed configs: the echo window the audio must cover)
FORMATS = {'batvision_v1': (BatvisionV1Dataset, 12.0), 'batvision_v2': (BatvisionV2Dataset, 30.0)}


def make_loader(loader, root, max_depth, split):
    """The split's loader as training would build it, camera images included."""
    return loader(root, split=split, max_depth=max_depth, load_rgb=True)


def write_report(path, reports):
    try:
        with open(path, 'w', newline='') as file:
            writer = csv.writer(file)
            writer.writerow(['split', 'file', 'kind', 'message'])
            writer.writerows([report.split, p.file, p.kind, p.message]
                             for report in reports for p in report.problems)
    except OSError as error:
        raise InputError(f"Cannot write --report {path} ({error.strerror}); choose another "
                         f"path") from error


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='dataset root')
    parser.add_argument('--format', required=True, choices=FORMATS)
    parser.add_argument('--split', nargs='+', default=['train', 'val', 'test'])
    parser.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument('--max-depth', type=float,
                        help='metres; sets the echo window (default: the seed configs\')')
    parser.add_argument('--report', help='write every problem to this CSV file')
    parser.add_argument('--show', type=int, default=10, help='problems printed (default 10)')
    args = parser.parse_args()
    if not os.path.isdir(args.root):
        raise InputError(f"Dataset root {args.root} is not a folder; give the folder that "
                         f"holds the dataset")
    loader, max_depth = FORMATS[args.format]
    make = partial(make_loader, loader, args.root, args.max_depth or max_depth)
    reports = [check_split(make, split, max(args.workers, 1)) for split in args.split]
    print(summary(reports, args.show))
    if args.report:
        write_report(args.report, reports)
        print(f'Wrote every problem to {args.report}')
    if any(report.problems for report in reports):
        sys.exit(1)


if __name__ == '__main__':
    run_cli(main)
