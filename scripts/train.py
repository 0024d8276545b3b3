"""Train a model: `python scripts/train.py CONFIG.yaml [KEY VALUE ...]`, or resume a run:
`python scripts/train.py RUN/last.ckpt [KEY VALUE ...]`.

The seed notes' `--flag value` command lines also run as written (`scripts/train.py --dataset
batvisionv1 --learning_rate 0.001 ...`): packnet_sfm/utils/seed_cli.py maps them onto a config
and overrides and prints the equivalent command.
"""
import argparse
import sys

from packnet_sfm.trainers.run import train
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.seed_cli import is_seed_command, run_seed_command


def main():
    if is_seed_command(sys.argv[1:]):
        run_seed_command('train.py', sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a YAML config, or a .ckpt to resume')
    parser.add_argument('opts', nargs=argparse.REMAINDER,
                        help='overrides as KEY VALUE pairs, e.g. arch.max_epochs 10')
    args = parser.parse_args()
    train(args.config, args.opts)


if __name__ == '__main__':
    run_cli(main)
