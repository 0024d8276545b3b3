"""Throughput per core of the BatVision V2 loader (spectrogram path, DataLoader with 1 worker):
cold, from a warm prepared cache, and yielding waveforms for features on the device, next to
a plain reimplementation of the official recipe measured in the same run on the same data
(the generator's throughput is bench/generator.py).

    python bench/data_pipeline.py [--data BATVISION_V2_ROOT] [--seconds 10]

Without --data, a small simulated set is generated in a temporary folder.
"""
import argparse
import csv
import os
import tempfile
import time

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.datasets.cache import CachedDataset
from packnet_sfm.datasets.synthetic import generate_batvision
from packnet_sfm.networks.layers.audio_frontend import AudioFrontEnd
from packnet_sfm.utils.benchmark import machine_description
from packnet_sfm.utils.cli import positive_int

MAX_DEPTH = 30.0
IMAGE_SIZE = 256


class OfficialRecipe(Dataset):
    """The official V2 loader's steps, one sample at a time, with numpy and torch in place of
    torchaudio/torchvision: every location's CSV, depth mm -> m, clip, ToTensor + Resize,
    /max_depth; whole WAV, cut to the echoes of max_depth, T.Spectrogram, Resize."""

    def __init__(self, root, split):
        self.root = root
        self.rows = []
        for location in sorted(os.listdir(root)):
            path = os.path.join(root, location, f'{split}.csv')
            if os.path.isfile(path):
                with open(path, newline='') as file:
                    self.rows += list(csv.DictReader(file))

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, idx):
        row = self.rows[idx]
        depth = np.load(os.path.join(self.root, row['depth path'], row['depth file name']))
        depth = depth.astype(np.float32) / 1000
        depth[depth > MAX_DEPTH] = MAX_DEPTH
        depth = self.resize(torch.from_numpy(depth).unsqueeze(0)) / MAX_DEPTH

        samples, sr = sf.read(os.path.join(self.root, row['audio path'], row['audio file name']),
                              dtype='int32')
        waveform = torch.from_numpy(samples.T.copy()).float() / 2 ** 31
        waveform = waveform[:, :int((2 * MAX_DEPTH / 340) * sr)]
        spec = torch.stft(waveform, n_fft=512, hop_length=16, win_length=64,
                          window=torch.hann_window(64), center=True, pad_mode='reflect',
                          return_complex=True).abs()
        return self.resize(spec), depth

    @staticmethod
    def resize(image):
        return F.interpolate(image[None], size=(IMAGE_SIZE, IMAGE_SIZE), mode='bilinear',
                             align_corners=False, antialias=False)[0]


def as_pair(batch):
    """(audio, depth) of a batch from either dataset."""
    return (batch['audio'], batch['depth']) if isinstance(batch, dict) else tuple(batch)


def samples_per_second(dataset, seconds, batch_size, consume=None):
    """Samples/s of a 1-worker DataLoader over `dataset` (one core loads), repeated until
    `seconds` have passed; `consume(batch)` runs on each batch in the main process (the first
    batch, which includes the worker start, is not timed)."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=1, persistent_workers=True)
    next(iter(loader))
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for batch in loader:
            if consume is not None:
                consume(batch)
            count += len(as_pair(batch)[0])
            if time.perf_counter() - start >= seconds:
                break
    return count / (time.perf_counter() - start)


def largest_difference(loader_set, reference_set, count=4):
    """Largest |loader - reference| over the audio and depth of the first samples."""
    worst = 0.0
    for idx in range(min(count, len(loader_set))):
        for ours, theirs in zip(as_pair(loader_set[idx]), reference_set[idx], strict=True):
            worst = max(worst, (ours - theirs).abs().max().item())
    return worst


def generate(root, per_location):
    """Generate a 2-location simulated V2 set."""
    generate_batvision('v2', root, locations=2, samples_per_location=per_location, seed=0,
                       progress=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', help='BatVision V2 root (default: generate a small set)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--seconds', type=float, default=8.0, help='time per loader measure')
    parser.add_argument('--per-location', type=positive_int, default=12,
                        help='recordings generated in each of the 2 locations (at least 3)')
    parser.add_argument('--batch-size', type=positive_int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as scratch:
        if not args.data:
            generate(os.path.join(scratch, 'bv2'), args.per_location)
        root = args.data or os.path.join(scratch, 'bv2')
        options = dict(split=args.split, audio_format='spectrogram', max_depth=MAX_DEPTH,
                       depth_norm=True, image_size=IMAGE_SIZE)
        ours = BatvisionV2Dataset(root, **options)
        waveforms = BatvisionV2Dataset(root, features_on='device', **options)
        frontend = AudioFrontEnd('spectrogram', IMAGE_SIZE, 'official')
        started = time.perf_counter()
        warm = CachedDataset(ours, os.path.join(scratch, 'cache'), workers=1)
        build_seconds = time.perf_counter() - started
        reference = OfficialRecipe(root, args.split)
        difference = largest_difference(ours, reference)
        rates = {
            'official recipe (reference)': samples_per_second(reference, args.seconds,
                                                              args.batch_size),
            'loader, cold (no cache)': samples_per_second(ours, args.seconds, args.batch_size),
            'loader, warm cache': samples_per_second(warm, args.seconds, args.batch_size),
            'loader, features on device': samples_per_second(waveforms, args.seconds,
                                                             args.batch_size),
            '  + the front end on this CPU': samples_per_second(
                waveforms, args.seconds, args.batch_size,
                consume=lambda batch: frontend(batch['audio'])),
        }

    print(f'machine: {machine_description()}')
    print(f'data: {args.data or "generated"} ({args.split}, {len(ours)} recordings), V2 '
          f'spectrogram {IMAGE_SIZE}x{IMAGE_SIZE}, preprocessing official, batch '
          f'{args.batch_size}, 1 loader worker (one core)')
    reference_rate = rates['official recipe (reference)']
    for name, rate in rates.items():
        print(f'{name:<32}{rate:8.1f} samples/s  {rate / reference_rate:6.2f}x the official')
    print(f'cache build: {len(ours) / build_seconds:.1f} samples/s with 1 worker')
    print(f'largest |loader - official| on audio and depth: {difference:.3g}')


if __name__ == '__main__':
    main()
