"""Train a model: `python scripts/train.py CONFIG.yaml [KEY VALUE ...]`, or resume a run:
`python scripts/train.py RUN/last.ckpt [KEY VALUE ...]`."""
import argparse

from packnet_sfm.trainers.run import train
from packnet_sfm.utils.cli import run_cli


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a YAML config, or a .ckpt to resume')
    parser.add_argument('opts', nargs=argparse.REMAINDER,
                        help='overrides as KEY VALUE pairs, e.g. arch.max_epochs 10')
    args = parser.parse_args()
    train(args.config, args.opts)


if __name__ == '__main__':
    run_cli(main)
