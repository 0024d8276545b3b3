#!/usr/bin/env python
"""Generate a physically simulated BatVision V1 or V2 dataset in the real on-disk format.

Example: python scripts/make_synthetic_batvision.py --version v2 --output data/bv2 \
             --locations 4 --samples-per-location 75 --seed 0
Rerunning the same command resumes an interrupted run (complete samples are skipped).
"""
import argparse
import os

from packnet_sfm.datasets.synthetic import generate_batvision
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.errors import writable_folder


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--version', choices=('v1', 'v2'), required=True)
    parser.add_argument('--output', required=True, help='dataset root to create or complete')
    parser.add_argument('--locations', type=int, required=True,
                        help='rooms (V2 location folders, V1 date folders)')
    parser.add_argument('--samples-per-location', type=int, required=True)
    parser.add_argument('--seed', type=int, required=True)
    parser.add_argument('--workers', type=int, default=min(os.cpu_count() or 1, 4),
                        help='worker processes (default: min(cpu count, 4))')
    parser.add_argument('--held-out-locations', type=int, default=0,
                        help='use the last K locations only for val/test (default 0: every '
                             'location split ~70/15/15)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    writable_folder(args.output, '--output')
    report = generate_batvision(args.version, args.output, args.locations,
                                args.samples_per_location, args.seed, workers=args.workers,
                                held_out_locations=args.held_out_locations)
    print(f'{args.output}: wrote {report.written} samples, skipped {report.skipped} complete '
          f'ones, {report.seconds:.1f} s ({report.samples_per_second:.2f} samples/s)')


if __name__ == '__main__':
    run_cli(main)
