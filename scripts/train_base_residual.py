"""Seeds 000/001's `python train_base_residual.py --dataset batvisionv2 [--use_adaptive_loss]
[--lambda_base 0.5 ...] --experiment_name x`, run as written: Base + Residual from
configs/train_base_residual_v2.yaml plus the flags' overrides (packnet_sfm/utils/seed_cli.py),
printed as the equivalent `scripts/train.py CONFIG KEY VALUE ...` command."""
import sys

from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.seed_cli import run_seed_command

if __name__ == '__main__':
    run_cli(lambda: run_seed_command('train_base_residual.py', sys.argv[1:]))
