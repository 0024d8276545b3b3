"""Where does a depth model's squared error come from? For trained checkpoints, on a split
(default test; `train`: the training recordings, unaugmented, which tells what a model fails
to fit from what it fails to transfer), over the pixels with ground truth (gt > 0, as the
official protocol scores them): by band of true depth, the fraction of the pixels, their
share of the summed squared error, and the mean signed error (prediction minus truth,
metres; negative: too near).

    python bench/error_by_depth.py RUN/last.ckpt ... [--split test|val|train] [--edges 2 4 6]
"""
import argparse

import torch

from packnet_sfm.datasets.builder import ANALYSIS_SPLITS
from packnet_sfm.trainers.evaluation import split_outputs
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config


def band_sums(gt, error, edges):
    """[3, bands] float64 of pixels with true depth `gt` and signed `error` (1-D, metres): the
    pixel count, the summed squared error and the summed error per band (below edges[0],
    between consecutive edges, from edges[-1] on)."""
    band = torch.bucketize(gt, torch.tensor(edges, dtype=gt.dtype), right=True)
    bands, error = len(edges) + 1, error.double()
    return torch.stack([torch.bincount(band, minlength=bands).double(),
                        torch.bincount(band, weights=error ** 2, minlength=bands),
                        torch.bincount(band, weights=error, minlength=bands)])


def error_by_depth(checkpoint, split, edges):
    """[(pixel fraction, share of the squared error, mean signed error)] per band of true
    depth (`band_sums`) over the split."""
    sums = 0
    for output in split_outputs(load_config(checkpoint), checkpoint, split):
        valid = output['gt'] > 0
        sums = sums + band_sums(output['gt'][valid], (output['depth'] - output['gt'])[valid],
                                edges)
    count, squared, signed = sums
    return [(float(n / count.sum()), float(s / squared.sum()), float(e / max(n, 1)))
            for n, s, e in zip(count, squared, signed)]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--split', choices=ANALYSIS_SPLITS, default='test')
    parser.add_argument('--edges', nargs='+', type=float, default=[2.0, 4.0, 6.0],
                        help='band edges in metres, increasing')
    args = parser.parse_args()
    names = [f'< {args.edges[0]:g} m'] + [f'{low:g}-{high:g} m' for low, high in
                                          zip(args.edges, args.edges[1:])]
    names.append(f'>= {args.edges[-1]:g} m')
    print('Each band of true depth: its pixels, its share of the squared error, its mean '
          'signed error (m)\n')
    print('| checkpoint | ' + ' | '.join(names) + ' |\n|---|' + '---|' * len(names))
    for checkpoint in args.checkpoints:
        bands = error_by_depth(checkpoint, args.split, args.edges)
        cells = [f'{100 * n:.0f}%, {100 * s:.0f}%, {e:+.2f}' for n, s, e in bands]
        print(f'| {checkpoint} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    run_cli(main)
