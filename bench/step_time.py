"""Seconds per training step of each config against the first, measured in one process: the
configs take turns (A B C A B C ...) on batches loaded beforehand, so the ratio does not move
with what else runs on the machine, as the per-epoch wall times of the echo benchmark's jobs
side by side do (they also hold start-up, loading and validation). Each step is the Trainer's
own: augmentation, features on the device, forward, backward, optimiser, weight averaging.
The batches come from a small generated V2 set (data seed 0) through each config's own
training loader.

    python bench/step_time.py --configs A.yaml B.yaml ... [--steps 20] [--threads 1] \
        [KEY VALUE ...]

`bash bench/echo_models.sh speed` runs it with the echo benchmark's settings.
"""
import argparse
import itertools
import tempfile
from pathlib import Path

import torch

from packnet_sfm.datasets.synthetic import generate_batvision
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.benchmark import interleaved_seconds, machine_description
from packnet_sfm.utils.cli import positive_int, run_cli
from packnet_sfm.utils.config import load_config, split_overrides
from packnet_sfm.utils.errors import InputError

ROOMS, RECORDINGS = 2, 40       # enough training recordings for a few full batches


def timed_config(config, data, scratch, overrides):
    """`config` with `overrides`, training on the set at `data` without validation or test."""
    paths = f"['{data}']"
    return load_config(config, [*overrides, 'datasets.train.path', paths,
                                'datasets.validation.path', '[]', 'datasets.test.path', '[]',
                                'datasets.train.num_workers', 0, 'checkpoint.filepath', scratch])


def full_batches(trainer, count):
    """`count` full training batches of the trainer's own loader (epochs repeated), on its
    device."""
    size, recordings = trainer.cfg.datasets.train.batch_size, len(trainer.train_loader.sampler)
    if recordings < size:
        raise InputError(f'datasets.train.batch_size {size} is more than the {recordings} '
                         f'training recordings of the generated set; lower it')
    epochs = itertools.chain.from_iterable(itertools.repeat(trainer.train_loader))
    full = (b for b in epochs if len(b['idx']) == size)
    return [trainer.to_device(b) for b in itertools.islice(full, count)]


def timed_step(trainer, batches):
    """A step function of a round index: the trainer's step on its batch of that round."""
    return lambda index: trainer.train_step(dict(batches[index]), epoch=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--configs', nargs='+', required=True,
                        help='configs to time; the first is the reference (then KEY VALUE '
                             'overrides for all)')
    parser.add_argument('--steps', type=positive_int, default=20,
                        help='timed steps per config (+1 to warm up)')
    parser.add_argument('--threads', type=positive_int, default=1,
                        help="torch threads (1: as each of the echo benchmark's jobs)")
    parser.add_argument('opts', nargs=argparse.REMAINDER, help='KEY VALUE overrides for all')
    args = parser.parse_args()
    configs, overrides = split_overrides(args.configs)
    overrides += args.opts
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / 'bv2'
        cfgs = {config: timed_config(config, data, scratch, overrides) for config in configs}
        generate_batvision('v2', data, locations=ROOMS, samples_per_location=RECORDINGS, seed=0,
                           workers=1, progress=False)
        steps = {}
        for config, cfg in cfgs.items():
            trainer = Trainer(cfg, Path(scratch) / Path(config).stem, SingleProcess())
            steps[config] = timed_step(trainer, full_batches(trainer, args.steps + 1))
            device = trainer.device
        seconds = interleaved_seconds(steps, range(args.steps + 1), device)
    print(f'{machine_description()}, {args.threads} thread(s), median of {args.steps} steps, '
          f'configs in turn')
    reference = seconds[configs[0]]
    for config, value in seconds.items():
        print(f'  {config:<56}{value:7.3f} s/step  {value / reference:5.2f}x')


if __name__ == '__main__':
    run_cli(main)
