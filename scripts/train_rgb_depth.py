"""Seed 003's `python train_rgb_depth.py --dataset batvisionv2 [--base_channels 64]
[--nb_epochs 200] --experiment_name x`, run as written: the RGB teacher from
configs/distill_rgb_teacher_v2.yaml plus the flags' overrides (packnet_sfm/utils/seed_cli.py),
printed as the equivalent `scripts/train.py CONFIG KEY VALUE ...` command."""
import sys

from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.seed_cli import run_seed_command

if __name__ == '__main__':
    run_cli(lambda: run_seed_command('train_rgb_depth.py', sys.argv[1:]))
