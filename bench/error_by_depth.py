"""Where does a depth model's squared error come from? For trained checkpoints, on a split
(default test; `train`: the training recordings, unaugmented, which tells what a model fails
to fit from what it fails to transfer), over the pixels with ground truth (gt > 0, as the
official protocol scores them): the mean per-image RMSE, and by band of true depth the
fraction of the pixels, their share of the summed squared error, the mean signed error
(prediction minus truth, metres; negative: too near) and the mean per-image RMSE were the
band predicted exactly (what the band costs). With --by-location, one row per location (the
recording's folder: a room of the simulated sets), its shares of its own squared error.

    python bench/error_by_depth.py RUN/last.ckpt ... [--split test|val|train] [--edges 2 4 6]
                                                     [--by-location]
"""
import argparse

import torch

from packnet_sfm.datasets.builder import ANALYSIS_SPLITS
from packnet_sfm.trainers.evaluation import split_outputs
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.errors import InputError


def band_sums(gt, error, edges):
    """[3, bands] float64 of pixels with true depth `gt` and signed `error` (1-D, metres): the
    pixel count, the summed squared error and the summed error per band (below edges[0],
    between consecutive edges, from edges[-1] on)."""
    band = torch.bucketize(gt, torch.tensor(edges, dtype=gt.dtype), right=True)
    bands, error = len(edges) + 1, error.double()
    return torch.stack([torch.bincount(band, minlength=bands).double(),
                        torch.bincount(band, weights=error ** 2, minlength=bands),
                        torch.bincount(band, weights=error, minlength=bands)])


def image_band_sums(outputs, edges, by_location, source):
    """(group, `band_sums` over the gt > 0 pixels) of each image of evaluation `outputs`
    ('gt', 'depth' [B,1,H,W] and 'location'); the group is 'all', or the image's location."""
    for output in outputs:
        groups = output['location'] if by_location else ['all'] * len(output['gt'])
        if groups is None:
            raise InputError(f'--by-location: the dataset of {source} names no locations '
                             '(BatVision does; KITTI does not); leave the option out')
        for group, gt, depth in zip(groups, output['gt'], output['depth'], strict=True):
            valid = gt > 0
            yield group, band_sums(gt[valid], (depth - gt)[valid], edges)


def summarise(images):
    """{group: (mean per-image RMSE, [(pixel fraction, share of the squared error, mean
    signed error, mean per-image RMSE with the band exact)] per band)} of (group,
    `band_sums`) pairs."""
    sums, rmses = {}, {}
    for group, image in images:
        sums[group] = sums.get(group, 0) + image
        count, squared = image[0].sum(), image[1]
        rmse = [squared.sum() / count] + [(squared.sum() - s) / count for s in squared]
        rmses.setdefault(group, []).append(torch.stack(rmse).sqrt())
    result = {}
    for group in sorted(sums):
        count, squared, signed = sums[group]
        total = squared.sum().clamp(min=torch.finfo(squared.dtype).tiny)    # a perfect group
        as_is, *exact = torch.stack(rmses[group]).mean(dim=0).tolist()
        result[group] = (as_is, [(float(n / count.sum()), float(s / total),
                                  float(e / max(n, 1)), rmse)
                                 for n, s, e, rmse in zip(count, squared, signed, exact)])
    return result


def error_by_depth(checkpoint, cfg, split, edges, by_location=False):
    """`summarise` of a checkpoint's evaluation outputs on a split (`cfg`: its config)."""
    outputs = split_outputs(cfg, checkpoint, split)
    return summarise(image_band_sums(outputs, edges, by_location, checkpoint))


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('checkpoints', nargs='+')
    parser.add_argument('--split', choices=ANALYSIS_SPLITS, default='test')
    parser.add_argument('--edges', nargs='+', type=float, default=[2.0, 4.0, 6.0],
                        help='band edges in metres, increasing')
    parser.add_argument('--by-location', action='store_true',
                        help='one row per location (shares of its own squared error)')
    args = parser.parse_args()
    names = [f'< {args.edges[0]:g} m'] + [f'{low:g}-{high:g} m' for low, high in
                                          zip(args.edges, args.edges[1:])]
    names.append(f'>= {args.edges[-1]:g} m')
    configs = [load_config(checkpoint) for checkpoint in args.checkpoints]  # each one readable
    print('Each band of true depth: its pixels, its share of the squared error, its mean '
          'signed error (m), the RMSE (m) were it exact\n')
    print('| checkpoint | location | RMSE (m) | ' + ' | '.join(names) + ' |\n|---|---|---|'
          + '---|' * len(names))
    for checkpoint, cfg in zip(args.checkpoints, configs):
        groups = error_by_depth(checkpoint, cfg, args.split, args.edges, args.by_location)
        for group, (rmse, bands) in groups.items():
            cells = [f'{100 * n:.0f}%, {100 * s:.0f}%, {e:+.2f}, {r:.3f}' for n, s, e, r in bands]
            print(f'| {checkpoint} | {group} | {rmse:.3f} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    run_cli(main)
