"""Statistics of a benchmark of depth models trained with several seeds (scripts/benchmark_echo.py):
mean and standard deviation over seeds, the paired per-image bootstrap of a difference, the
difference location by location, and the floors a model must beat (the constant and the
per-pixel-mean predictors); the machine the runs were trained on, and the time per step of
several steps taking turns."""
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from packnet_sfm.utils.errors import InputError


def usable_cores():
    """CPU cores this process may run on."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    return cores or 1


def cpu_model():
    """The CPU's model name (/proc/cpuinfo on Linux, else what `platform` knows)."""
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description():
    """The CUDA device's name (else the CPU's model), the usable cores and torch's version:
    what a run was trained and timed on. The same data and seeds repeat to the digit on one
    machine, not across machines (other kernels round differently)."""
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else cpu_model()
    return f'{device}, {usable_cores()} cores, torch {torch.__version__}'


def interleaved_seconds(steps, data, device):
    """Median seconds per call of each of `steps` {label: step}, each called with every item
    of `data` in turn (A B C A B C ...) so that a drift of the machine's speed hits all alike;
    the first round warms up and is not counted."""
    times = {label: [] for label in steps}
    for index, batch in enumerate(data):
        for label, step in steps.items():
            if device.type == 'cuda':
                torch.cuda.synchronize()
            started = time.perf_counter()
            step(batch)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            if index:                   # not the warm-up round (it may compile)
                times[label].append(time.perf_counter() - started)
    return {label: statistics.median(values) for label, values in times.items()}


def mean_std(values):
    """(mean, sample standard deviation with n - 1) of the finite values; the std is NaN for
    a single value and both are NaN for none."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    return float(np.mean(finite)), std


def per_image_rmse(rows):
    """{image: rmse} of the valid rows of one protocol (images named by file, else index)."""
    return {row['filename'] or str(row['idx']): row['rmse'] for row in rows if row['valid']}


def seed_checkpoint(runs, config, seed):
    """The last checkpoint of one benchmark run: RUNS/CONFIG/seed_K/*/last.ckpt."""
    found = sorted(Path(runs).glob(f'{config}/seed_{seed}/*/last.ckpt'))
    if not found:
        raise InputError(f'{runs}/{config}/seed_{seed}: no */last.ckpt; run the benchmark for '
                         'this config and seed first, or check --runs and --configs')
    return found[0]


def paired_matrices(reference, other):
    """(images, R, O): R and O are [S, N] arrays of a per-image value of two models on the
    same images and seeds, `images` the names of their N columns.

    `reference` and `other` are lists with one {image: value} dict per seed, in the same seed
    order; a list of one dict (a floor, the same for every seed) stands for every seed. The N
    images are those with a finite value in every dict of both, sorted by name.
    """
    seeds = max(len(reference), len(other))
    if {len(reference), len(other)} - {1, seeds}:
        raise ValueError(f'cannot pair {len(reference)} seeds with {len(other)}')
    images = shared_images(reference, other)

    def matrix(runs):
        rows = np.array([[run[image] for image in images] for run in runs], dtype=np.float64)
        return np.broadcast_to(rows, (seeds, len(images)))

    return images, matrix(reference), matrix(other)


def shared_images(reference, other):
    """The images with a finite value in every {image: value} dict of both lists, sorted."""
    return sorted(set.intersection(*[{k for k, v in t.items() if math.isfinite(v)}
                                     for t in [*reference, *other]]))


def location_of(image):
    """The recording location of an image: the first folder of its path
    ('Room008/audio/audio_0' -> 'Room008'; a V1 date folder likewise)."""
    return image.split('/', 1)[0]


def relative_by_location(reference, other):
    """{location: mean value of `other` / mean value of `reference` - 1} over the images of
    each location and every seed, both paired as in `paired_matrices`; locations sorted. In
    held-out rooms the room, not the image, is what a model must generalise to: a lead that
    holds in every room is worth more than one carried by a single room."""
    images, ref, oth = paired_matrices(reference, other)
    locations = np.array([location_of(image) for image in images])
    return {location: float(oth[:, locations == location].mean()
                            / ref[:, locations == location].mean() - 1)
            for location in sorted(set(locations))}


def paired_bootstrap(differences, resamples=10000, confidence=0.95, seed=0):
    """(low, high): percentile interval of the mean of `differences` [S, N] (seeds x images)
    when the seeds (rows) and the images (columns) are both resampled with replacement,
    independently, `resamples` times."""
    differences = np.asarray(differences, dtype=np.float64)
    seeds, images = differences.shape
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, 1000):     # chunks keep the [chunk, N] weights small
        count = min(1000, resamples - start)
        seed_weights = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=count)
        image_weights = rng.multinomial(images, np.full(images, 1 / images), size=count)
        means.append(((seed_weights @ differences) * image_weights).sum(1) / (seeds * images))
    tail = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(means), [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedDifference:
    """Per-image `other - reference` over the shared images and seeds."""

    mean: float         # mean difference
    low: float          # bootstrap interval of the mean
    high: float
    relative: float     # mean difference / mean of the reference
    seeds: int
    images: int

    @classmethod
    def undefined(cls, seeds=0):
        """The difference of two models that share no image or no seed."""
        return cls(math.nan, math.nan, math.nan, math.nan, seeds, 0)

    @property
    def verdict(self):
        """'lower' or 'higher' when the interval excludes 0, else 'no clear difference'."""
        if self.high < 0:
            return 'lower'
        if self.low > 0:
            return 'higher'
        return 'no clear difference'


def paired_difference(reference, other, resamples=10000, confidence=0.95, seed=0):
    """The PairedDifference of `other` vs `reference` (per-seed {image: value} lists, see
    `paired_matrices`); NaN everywhere when they share no seed or no image."""
    if not reference or not other:
        return PairedDifference.undefined()
    _, ref, oth = paired_matrices(reference, other)
    seeds, images = ref.shape
    if images == 0:
        return PairedDifference.undefined(seeds)
    differences = oth - ref
    low, high = paired_bootstrap(differences, resamples, confidence, seed)
    mean = float(differences.mean())
    return PairedDifference(mean, low, high, mean / float(ref.mean()), seeds, images)


def ground_truth_metres(batch, depth_scale):
    """A batch's depth in metres, 0 where it is not valid (as the models' 'gt')."""
    return batch['depth'] * depth_scale * batch['valid']


def depth_floors(batches, depth_scale):
    """(mean depth, per-pixel mean depth map [1,H,W]) in metres over the valid pixels of
    `batches` (dicts with 'depth' and 'valid'); a pixel never valid gets the mean depth."""
    total = count = None
    for batch in batches:
        gt, valid = ground_truth_metres(batch, depth_scale).double(), batch['valid']
        total = gt.sum(0) if total is None else total + gt.sum(0)
        count = valid.sum(0) if count is None else count + valid.sum(0)
    if count is None or count.sum() == 0:
        raise ValueError('no valid depth pixel to average')
    mean = float(total.sum() / count.sum())
    per_pixel = torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, mean))
    return mean, per_pixel.float()


class FloorPredictor(nn.Module):
    """Predicts the same depth map (metres) for every input; answers `evaluation_output` like a
    model ('depth' and 'gt'), so the evaluator scores it exactly as it scores the networks."""

    def __init__(self, depth_map, depth_scale):
        super().__init__()
        self.register_buffer('depth_map', torch.as_tensor(depth_map, dtype=torch.float32))
        self.depth_scale = depth_scale

    def evaluation_output(self, batch):
        gt = ground_truth_metres(batch, self.depth_scale)
        return {'depth': self.depth_map.expand_as(gt).to(gt.dtype), 'gt': gt}
