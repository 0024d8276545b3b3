"""Training step of the echo U-Net against a plain reference loop written here (the official
structure: the U-Net of bench/official_unet.py with in-place activations, L1 on gt != 0, AdamW,
the loss read every step), measured in the same run on the same batches, at unet_128 ngf 32
batch 16 (128x128) and unet_256 ngf 64 batch 8 (256x256). Ours runs through the Trainer's own
step in its default form (fp32, eager) and with the speed options; on CUDA also fp32 eager
against bf16 + channels_last (+ compile).

    python bench/train_step.py [--steps 6] [--sizes small large] [--compile]
"""
import argparse
import os
import tempfile

import torch
from official_unet import reference_unet

from packnet_sfm.datasets.synthetic import generate_batvision
from packnet_sfm.networks.depth.UNetSoundOnly import GENERATOR_DOWNSAMPLINGS
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.benchmark import interleaved_seconds, machine_description
from packnet_sfm.utils.cli import positive_int
from packnet_sfm.utils.config import load_config

SIZES = {'small': ('unet_128', 32, 16, 128), 'large': ('unet_256', 64, 8, 256)}


def reference_step(net, optimizer):
    def step(batch):
        prediction = net(batch['audio'])
        gt = batch['depth']
        loss = (prediction[gt != 0] - gt[gt != 0]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


def our_step(scratch, generator, ngf, batch_size, size, *opts):
    """The Trainer's step (its data set is a tiny generated one; the bench feeds its own
    batches)."""
    data = os.path.join(scratch, 'bv2')
    if not os.path.isdir(data):
        generate_batvision('v2', data, locations=1, samples_per_location=3, seed=0, workers=1,
                           progress=False)
    cfg = load_config('configs/train_unet_batvision_v1_l1.yaml', [
        'model.depth_net.UNetSoundOnly.generator', generator,
        'model.depth_net.UNetSoundOnly.ngf', ngf, 'datasets.batvision.image_size', size,
        'datasets.train.dataset', '[BatvisionV2]', 'datasets.train.path', f"['{data}']",
        'datasets.train.batch_size', 1, 'datasets.train.num_workers', 0,
        'datasets.validation.path', '[]', 'checkpoint.filepath', scratch, *opts])
    trainer = Trainer(cfg, os.path.join(scratch, 'run'), SingleProcess())
    return lambda batch: trainer.train_step(trainer.to_device(batch), epoch=0)


def batches(batch_size, size, count, device):
    generator = torch.Generator().manual_seed(0)
    return [{'audio': torch.rand(batch_size, 2, size, size, generator=generator).to(device),
             'depth': torch.rand(batch_size, 1, size, size, generator=generator).to(device),
             'valid': torch.ones(batch_size, 1, size, size, dtype=torch.bool, device=device)}
            for _ in range(count)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=positive_int, default=6,
                        help='timed steps per variant (+1 warm)')
    parser.add_argument('--sizes', nargs='+', choices=SIZES, default=list(SIZES))
    parser.add_argument('--compile', action='store_true', help='also time arch.compile')
    args = parser.parse_args()
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    print(f'device: {device} ({machine_description()}), {torch.get_num_threads()} threads')
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.sizes:
            compare(scratch, name, args, device)


def compare(scratch, name, args, device):
    """Print the reference loop's time per step and ours, for one size."""
    generator, ngf, batch_size, size = SIZES[name]
    torch.manual_seed(0)
    net = reference_unet(GENERATOR_DOWNSAMPLINGS[generator], ngf).to(device)
    variants = {'ours, fp32 eager': (), 'ours, channels_last': ('arch.channels_last', 'true'),
                'ours, bf16 + channels_last': ('arch.amp', 'bf16', 'arch.channels_last', 'true')}
    if args.compile:
        variants['ours, bf16 + channels_last + compile'] = (
            *variants['ours, bf16 + channels_last'], 'arch.compile', 'true')
    steps = {'reference loop': reference_step(net, torch.optim.AdamW(net.parameters(), lr=1e-3)),
             **{label: our_step(scratch, generator, ngf, batch_size, size, *opts)
                for label, opts in variants.items()}}
    seconds = interleaved_seconds(steps, batches(batch_size, size, args.steps + 1, device),
                                  device)
    reference = seconds.pop('reference loop')
    print(f'\n{generator} ngf {ngf}, batch {batch_size}, {size}x{size}: reference loop '
          f'{reference:.3f} s/step (median of {args.steps})')
    for label, value in seconds.items():
        print(f'  {label:<40}{value:8.3f} s/step  {reference / value:5.2f}x the reference')

if __name__ == '__main__':
    main()
