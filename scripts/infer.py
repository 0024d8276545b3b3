"""Predict depth (metres) with a trained checkpoint. No camera intrinsics are needed.

RGB checkpoints (DepthResNet, ResNetSAN01, RGBDepthUNet) read an image, a video (frame by
frame, `--every N`) or a folder of them (recursively); networks that take sparse depth read
`--input-depth` (a KITTI uint16 PNG in 1/256 m or a .npy in metres: one file for one image,
or a folder mirroring the image folder). Echo checkpoints read a BatVision V2 `.wav`, a V1
`*_left.npy` (its `*_right.npy` beside it) or a folder of them. Outputs mirror the input tree
under `--output`: <relative path>.npy|.npz|.png (a video's frames: <video>/<frame>.*), depth
maps at the network's resolution, the PNG coloured with a legend of its range.

    python scripts/infer.py --checkpoint RUN/last.ckpt --input FILE_OR_DIR --output DIR
        [--backend torch|onnx] [--input-depth FILE_OR_DIR] [--save npy npz png]
        [--image-shape H W] [--every N] [--batch-size B] [--device auto|cpu|cuda]
        [--color-max METRES]

`--backend onnx` runs a model exported by scripts/export.py (give its .onnx file as
--checkpoint) in ONNX Runtime; both backends run the same graph, from the cut waveform (echo
models) or the image to depth.
"""
import argparse

import torch

from packnet_sfm.inference import (
    BACKENDS,
    SAVE_FORMATS,
    audio_items,
    batches,
    rgb_image_shape,
    rgb_items,
    write_depth,
)
from packnet_sfm.utils.cli import positive_int, run_cli
from packnet_sfm.utils.errors import InputError, writable_folder
from packnet_sfm.utils.progress import progress

RGB_ONLY_OPTIONS = ('input_depth', 'image_shape', 'every')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True,
                        help='a training checkpoint (.ckpt), or an exported .onnx with '
                             '--backend onnx')
    parser.add_argument('--backend', choices=BACKENDS, default='torch')
    parser.add_argument('--input', required=True, help='a file or a folder of them')
    parser.add_argument('--output', required=True, help='folder for the outputs')
    parser.add_argument('--input-depth', help='sparse depth: a file, or a folder mirroring '
                                              '--input (RGB networks that take input depth)')
    parser.add_argument('--save', nargs='+', choices=SAVE_FORMATS, default=['npy', 'png'],
                        help='output formats (default: npy png)')
    parser.add_argument('--image-shape', nargs=2, type=int, metavar=('H', 'W'),
                        help="RGB network input size (default: the training split's)")
    parser.add_argument('--every', type=positive_int,
                        help='videos: every N-th frame (default 1)')
    parser.add_argument('--batch-size', type=positive_int, default=4)
    parser.add_argument('--device', default='auto', choices=('auto', 'cpu', 'cuda'))
    parser.add_argument('--color-max', type=float,
                        help="far end of the PNG colour scale in metres (default: each map's "
                             '99th percentile)')
    return parser.parse_args()


def items_for(predictor, args):
    """The inputs the checkpoint's network reads, from the command line."""
    keys = predictor.input_keys
    if keys[0] == 'audio':
        given = [f"--{name.replace('_', '-')}" for name in RGB_ONLY_OPTIONS
                 if getattr(args, name) is not None]
        if given:
            raise InputError(f"{given[0]} is for RGB checkpoints in --checkpoint "
                             f"{args.checkpoint} (an echo network): drop it")
        return audio_items(args.input, predictor.cfg)
    if args.input_depth is not None and 'input_depth' not in keys:
        raise InputError(f"--input-depth given but the network in {args.checkpoint} reads "
                         f"only {', '.join(keys)}: drop --input-depth")
    shape = tuple(args.image_shape or rgb_image_shape(predictor.cfg))
    if min(shape) < 64 or any(size % 32 for size in shape):
        raise InputError(f"bad --image-shape {shape[0]} {shape[1]}: use multiples of 32 from "
                         "64 up (the encoder halves the image five times)")
    if 'input_depth' in keys and args.input_depth is None:
        print('No --input-depth: the network predicts from RGB alone')
    return rgb_items(args.input, shape, args.input_depth, args.every or 1)


def main():
    args = parse_args()
    if args.color_max is not None and args.color_max <= 0:
        raise InputError(f"bad --color-max {args.color_max:g}: give a depth in metres > 0")
    output = writable_folder(args.output, '--output')
    predictor = BACKENDS[args.backend](args.checkpoint, args.device)
    written = 0
    for names, batch in progress(batches(items_for(predictor, args), args.batch_size),
                                 desc='infer', unit='batch'):
        for name, depth in zip(names, predictor(batch)):
            write_depth(depth[0].numpy(), output / name, args.save, args.color_max)
            written += 1
    print(f"Wrote {written} depth maps (metres; {', '.join(args.save)}) under {output}")


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    run_cli(main)
