"""Statistics that compare simulated BatVision V2 recordings and depth maps with real ones.

    python -m packnet_sfm.datasets.synthetic.realism V2_ROOT [V2_ROOT ...]

``recording_statistics`` and ``depth_statistics`` take what a V2 root holds (a stereo WAV
read as (2, n) floats in [-1, 1], a uint16 millimetre depth map); ``dataset_statistics``
summarises a whole V2 root. The echo window is the loaders' cut at 30 m: the first
``int(2 * 30 / 340 * 44100)`` = 7782 samples.
"""
import argparse
import csv
import os

import numpy as np
import soundfile as sf

from .acoustics import SAMPLE_RATE, SPEED_OF_SOUND

ECHO_SAMPLES = int(2 * 30.0 / SPEED_OF_SOUND * SAMPLE_RATE)   # 7782, as the V2 loaders cut
BAND_EDGES = (500.0, 2000.0, 6000.0, 12000.0)                 # Hz
BAND_NAMES = ('<0.5 kHz', '0.5-2 kHz', '2-6 kHz', '6-12 kHz', '>12 kHz')
FLOOR_WINDOW = (10000, 20000)      # samples 0.23-0.45 s: after the echoes of any room here


def band_energy_fractions(audio, fs=SAMPLE_RATE, samples=ECHO_SAMPLES):
    """Fraction of the energy of the first ``samples`` (both channels) in each band of
    ``BAND_EDGES``; (5,) summing to 1."""
    power = (np.abs(np.fft.rfft(audio[:, :samples], axis=-1)) ** 2).sum(axis=0)
    band = np.digitize(np.fft.rfftfreq(samples, 1 / fs), BAND_EDGES)
    return np.bincount(band, power, minlength=len(BAND_EDGES) + 1) / power.sum()


def noise_floor(audio, window=FLOOR_WINDOW):
    """RMS (full scale, both channels) of the recording once the echoes have died away."""
    return float(np.sqrt(np.mean(audio[:, window[0]:window[1]] ** 2)))


def interaural_correlation(audio, samples=ECHO_SAMPLES):
    """Pearson correlation of the left and right channels over the echo window."""
    return float(np.corrcoef(audio[:, :samples])[0, 1])


def recording_statistics(audio, fs=SAMPLE_RATE):
    """{name: value} of one (2, n) recording."""
    return {'band_energy': band_energy_fractions(audio, fs), 'noise_floor': noise_floor(audio),
            'interaural_correlation': interaural_correlation(audio)}


def depth_statistics(millimetres):
    """{name: value} of one uint16 V2 depth map (0 = invalid)."""
    metres = millimetres[millimetres > 0] / 1000.0
    return {'invalid_fraction': float(np.mean(millimetres == 0)),
            'max_depth': float(metres.max()) if metres.size else 0.0}


def read_wav(path):
    """A V2 recording as (2, n) float64 in [-1, 1]."""
    samples, _ = sf.read(path, dtype='float64')
    return samples.T


def v2_recordings(root):
    """(audio path, depth path) of every sample listed in a V2 root's split CSVs, once."""
    pairs = []
    for location in sorted(os.listdir(root)):
        for split in ('train', 'val', 'test'):
            path = os.path.join(root, location, f'{split}.csv')
            if not os.path.isfile(path):
                continue
            with open(path, newline='') as handle:
                for row in csv.DictReader(handle):
                    pairs.append((os.path.join(root, row['audio path'], row['audio file name']),
                                  os.path.join(root, row['depth path'], row['depth file name'])))
    return list(dict.fromkeys(pairs))


def dataset_statistics(root):
    """Per-recording statistics of a V2 root: {name: array over recordings}."""
    rows = [{**recording_statistics(read_wav(audio)), **depth_statistics(np.load(depth))}
            for audio, depth in v2_recordings(root)]
    return {name: np.array([row[name] for row in rows]) for name in rows[0]}


def _summary(values):
    return f'{np.median(values):.4g} ({np.min(values):.4g}-{np.max(values):.4g})'


def main(argv=None):
    """Print the statistics of V2 roots side by side: median (min-max) over recordings."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument('roots', nargs='+', help='BatVision V2 roots')
    args = parser.parse_args(argv)
    for root in args.roots:
        stats = dataset_statistics(root)
        bands = ', '.join(f'{name} {100 * np.median(stats["band_energy"][:, i]):.1f}%'
                          for i, name in enumerate(BAND_NAMES))
        print(f'{root} ({len(stats["noise_floor"])} recordings)\n'
              f'  echo-window energy (median): {bands}\n'
              + ''.join(f'  {name}: {_summary(stats[name])}\n'
                        for name in ('noise_floor', 'interaural_correlation', 'invalid_fraction',
                                     'max_depth')), end='')


if __name__ == '__main__':
    main()
