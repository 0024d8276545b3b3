"""Check a dataset root before a run: every file its splits reference, with the loader's own
checks (audio, camera and image headers, depth dtype, shape and valid pixels, calibration,
LiDAR records), in parallel. Prints a summary and the first problems; exits 0 only when
nothing is wrong.

    python scripts/check_dataset.py ROOT --format batvision_v1|batvision_v2
        [--split train val test] [--workers N] [--max-depth M] [--report FILE]
    python scripts/check_dataset.py KITTI_ROOT --format kitti --split SPLIT_FILE ...
        [--depth-type groundtruth|velodyne]
"""
import argparse
import csv
import os
import sys
from functools import partial

from packnet_sfm.datasets.BatvisionV1Dataset import BatvisionV1Dataset
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.datasets.check import check_split, summary
from packnet_sfm.datasets.KITTIDataset import KITTIDataset
from packnet_sfm.utils.cli import non_negative_int, positive_int, run_cli
from packnet_sfm.utils.errors import InputError, writable_file

# format -> (loader, max_depth of its seed configs: the echo window the audio must cover)
BATVISION = {'batvision_v1': (BatvisionV1Dataset, 12.0),
             'batvision_v2': (BatvisionV2Dataset, 30.0)}
FORMATS = (*BATVISION, 'kitti')


def batvision_loader(loader, root, max_depth, split):
    """The split's loader as training would build it, camera images included."""
    return loader(root, split=split, max_depth=max_depth, load_rgb=True)


def kitti_loader(root, depth_type, split):
    """The split file's frames as evaluation reads them (no context frames)."""
    return KITTIDataset(root, split, depth_type=depth_type, training=False)


def split_loader(args):
    """A function from a split name (BatVision) or split file (KITTI) to its loader."""
    if args.format == 'kitti':
        if not args.split:
            raise InputError("--format kitti needs --split with the split files to check, "
                             "e.g. data_splits/eigen_test_files.txt")
        return partial(kitti_loader, args.root, args.depth_type)
    loader, max_depth = BATVISION[args.format]
    return partial(batvision_loader, loader, args.root, args.max_depth or max_depth)


def write_report(path, reports):
    with open(path, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(['split', 'file', 'kind', 'message'])
        writer.writerows([report.split, p.file, p.kind, p.message]
                         for report in reports for p in report.problems)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('root', help='dataset root')
    parser.add_argument('--format', required=True, choices=FORMATS)
    parser.add_argument('--split', nargs='+',
                        help='BatVision: splits (default train val test); KITTI: split files')
    parser.add_argument('--workers', type=positive_int, default=min(os.cpu_count() or 1, 8))
    parser.add_argument('--max-depth', type=float,
                        help='metres; sets the echo window (default: the seed configs\')')
    parser.add_argument('--depth-type', choices=('groundtruth', 'velodyne'),
                        default='groundtruth', help='KITTI ground truth to check')
    parser.add_argument('--report', help='write every problem to this CSV file')
    parser.add_argument('--show', type=non_negative_int, default=10,
                        help='problems printed (default 10)')
    args = parser.parse_args()
    if not os.path.isdir(args.root):
        raise InputError(f"Dataset root {args.root} is not a folder; give the folder that "
                         f"holds the dataset")
    if args.report:
        writable_file(args.report, '--report')
    make = split_loader(args)
    splits = args.split or ['train', 'val', 'test']
    reports = [check_split(make, split, args.workers) for split in splits]
    print(summary(reports, args.show))
    if args.report:
        write_report(args.report, reports)
        print(f'Wrote every problem to {args.report}')
    if any(report.problems for report in reports):
        sys.exit(1)


if __name__ == '__main__':
    run_cli(main)
