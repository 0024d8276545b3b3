"""Predict depth from BatVision recordings: a V2 `.wav`, a V1 `*_left.npy` (its `*_right.npy`
beside it), or a folder of them. Writes `<name>.npy` (depth in metres) and `<name>.png`.

    python scripts/infer.py --checkpoint RUN/last.ckpt --input FILE_OR_DIR --output DIR
"""
import argparse
from pathlib import Path

import numpy as np
import torch

from packnet_sfm.datasets.audio import audio_features, echo_samples
from packnet_sfm.datasets.batvision import BatvisionDataError
from packnet_sfm.datasets.BatvisionV1Dataset import read_ears
from packnet_sfm.datasets.BatvisionV2Dataset import read_stereo_wav
from packnet_sfm.models import load_trained_model
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.progress import progress
from packnet_sfm.utils.visualization import colorize_depth, save_png


def recordings(path):
    """The recordings under `path`: .wav files and V1 left-ear .npy files."""
    path = Path(path)
    if not path.exists():
        raise BatvisionDataError(f"Input {path} does not exist")
    files = [path] if path.is_file() else sorted(
        [*path.rglob('*.wav'), *path.rglob('*_left.npy')])
    if not files:
        raise BatvisionDataError(f"No .wav or *_left.npy recording under {path}")
    return files


def read_waveform(path, max_depth):
    """Binaural float32 [2, T] as the matching dataset reads it."""
    if path.suffix == '.wav':
        return read_stereo_wav(str(path), echo_samples(max_depth), source='--input')
    if path.name.endswith('_left.npy'):
        right = path.with_name(path.name.replace('_left.npy', '_right.npy'))
        return read_ears((str(path), str(right)), '--input')
    raise BatvisionDataError(f"{path} is neither a V2 .wav nor a V1 *_left.npy recording")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--input', required=True, help='a recording or a folder of them')
    parser.add_argument('--output', required=True, help='folder for .npy and .png outputs')
    args = parser.parse_args()

    cfg = load_config(args.checkpoint)
    options = cfg.datasets.batvision
    model = load_trained_model(cfg, args.checkpoint)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    for path in progress(recordings(args.input), desc='infer'):
        features = audio_features(read_waveform(path, options.max_depth), options.audio_format,
                                  options.image_size, options.preprocessing)
        depth = model.infer({'audio': features[None]})[0, 0].numpy()
        name = path.stem.removesuffix('_left')
        np.save(output / f'{name}.npy', depth.astype(np.float32))
        save_png(colorize_depth(depth, model.max_depth), output / f'{name}.png')
    print(f'Wrote depth (.npy, metres) and pictures (.png) to {output}')


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    run_cli(main)
