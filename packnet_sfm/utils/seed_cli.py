"""The seed notes' command lines, run as written: `scripts/train.py --dataset batvisionv1
--learning_rate 0.001 --batch_size 128 --criterion SIlog --experiment_name x [--use_wandb]`
(and `train_base_residual.py`, `train_rgb_depth.py`) become a config plus `KEY VALUE`
overrides, printed as the equivalent `scripts/train.py CONFIG KEY VALUE ...` command.

The tables below are the whole mapping; configs/README.md lists the seed commands that have
no flag here (e.g. `--checkpoints N`) with their equivalents.
"""
import argparse
import shlex
from pathlib import Path

from packnet_sfm.utils.config import ConfigError, load_config

CONFIGS = Path(__file__).resolve().parents[2] / 'configs'

# Seed script -> {--dataset value: the config it starts from}; --dataset defaults to V2.
SCRIPT_CONFIGS = {
    'train.py': {'batvisionv1': 'train_unet_batvision_v1.yaml',
                 'batvisionv2': 'train_unet_batvision_v2.yaml'},
    'train_base_residual.py': {'batvisionv2': 'train_base_residual_v2.yaml'},
    'train_rgb_depth.py': {'batvisionv2': 'distill_rgb_teacher_v2.yaml'},
}
DEFAULT_DATASET = 'batvisionv2'

# A flag value that has a config of its own: (config, flag, value) -> that config.
VARIANTS = {
    ('train_unet_batvision_v1.yaml', '--criterion', 'SIlog'): 'train_unet_batvision_v1_silog.yaml',
    ('train_unet_batvision_v1.yaml', '--criterion', 'L1'): 'train_unet_batvision_v1_l1.yaml',
    ('train_unet_batvision_v1.yaml', '--audio_format', 'waveform'):
        'train_unet_batvision_v1_waveform.yaml',
}

# Flags with a value -> the config keys that take it ({net}: the config's depth network).
VALUE_FLAGS = {
    '--experiment_name': ['name'],
    '--name': ['name'],
    '--learning_rate': ['model.optimizer.lr'],
    '--optimizer': ['model.optimizer.name'],
    '--batch_size': ['datasets.train.batch_size', 'datasets.validation.batch_size',
                     'datasets.test.batch_size'],
    '--epochs': ['arch.max_epochs'],
    '--nb_epochs': ['arch.max_epochs'],
    '--max-epochs': ['arch.max_epochs'],
    '--validation_iter': ['arch.validate_every'],
    '--best_metric': ['checkpoint.monitor'],
    '--criterion': ['model.loss.supervised_method'],
    '--supervised-method': ['model.loss.supervised_method'],
    '--silog_lambda': ['model.loss.silog.silog_lambda', 'model.loss.combined.silog_lambda'],
    '--l1_weight': ['model.loss.combined.l1_weight'],
    '--silog_weight': ['model.loss.combined.silog_weight'],
    '--lambda-sg': ['model.loss.scale_adaptive.lambda_sg'],
    '--audio_format': ['datasets.batvision.audio_format'],
    '--base_channels': ['model.depth_net.{net}.base_channels'],
    '--lambda_recon': ['model.loss.base_residual.lambda_recon'],
    '--lambda_base': ['model.loss.base_residual.lambda_base'],
    '--lambda_sparse': ['model.loss.base_residual.lambda_sparse'],
    '--lowpass_kernel': ['model.loss.base_residual.lowpass_kernel'],
    '--warmup_epochs': ['model.loss.base_residual.warmup_epochs'],
}
# Seed names of values -> ours.
VALUE_NAMES = {'--criterion': {'L1': 'sparse-l1', 'SIlog': 'sparse-silog',
                               'Combined': 'sparse-combined'}}
# Flags without a value -> the KEY VALUE pairs they stand for.
SWITCHES = {
    '--use_wandb': {'log.wandb.enabled': 'true'},
    '--save_best_model': {'checkpoint.save_top_k': '1'},
    '--use_adaptive_loss': {'model.loss.base_residual.adaptive': 'true'},
}
# Seed flags that are no flag here, and what to do instead.
ELSEWHERE = {
    '--checkpoints': 'resume a run from its folder: scripts/train.py runs/<run folder>/last.ckpt '
                     '[arch.max_epochs N]',
    '--gpus': 'pick GPUs with CUDA_VISIBLE_DEVICES=0 (one process) or make train-distributed '
              'NP=4 (Horovod)',
}


def is_seed_command(argv):
    """Whether a train.py command line is in the seeds' `--flag value` style."""
    return any(arg.startswith('--') and arg != '--help' for arg in argv)


def parser(script):
    parser = argparse.ArgumentParser(
        prog=f'scripts/{script}', description=f"The seed notes' `{script} --flag ...` commands "
        'as a config plus overrides (packnet_sfm/utils/seed_cli.py).')
    parser.add_argument('--dataset', choices=sorted(SCRIPT_CONFIGS[script]))
    for flag, keys in VALUE_FLAGS.items():
        parser.add_argument(flag, dest=flag, choices=VALUE_NAMES.get(flag), metavar='VALUE',
                            help=' '.join(keys))
    for flag, pairs in SWITCHES.items():
        parser.add_argument(flag, dest=flag, action='store_true',
                            help=' '.join(f'{k} {v}' for k, v in pairs.items()))
    for flag, instead in ELSEWHERE.items():
        parser.add_argument(flag, dest=flag, metavar='VALUE', help=f'not here: {instead}')
    parser.add_argument('opts', nargs='*', help='further KEY VALUE overrides')
    return parser


def translate(script, argv):
    """(config path, overrides) for a seed command line of `script`; a first argument that is
    not a flag is the config to start from (seed 004: `train.py CONFIG --max-epochs 5`)."""
    config = argv[0] if argv and not argv[0].startswith('-') else None
    args, unknown = parser(script).parse_known_args(argv[1:] if config else argv)
    flags = {flag: value for flag, value in vars(args).items()
             if flag.startswith('--') and value not in (None, False)}
    if unknown:
        raise ConfigError(f"seed flag {unknown[0]} has no equivalent here: see the table in "
                          f"configs/README.md, or `scripts/{script} --dataset batvisionv2 --help`")
    elsewhere = [flag for flag in flags if flag in ELSEWHERE]
    if elsewhere:
        raise ConfigError(f'seed flag {elsewhere[0]} is not a flag here: {ELSEWHERE[elsewhere[0]]}')
    if config and args.dataset:
        raise ConfigError('give a config or --dataset, not both')
    if not config:
        config, flags = seed_config(script, args.dataset or DEFAULT_DATASET, flags)
    net = load_config(config).model.depth_net.name
    opts = []
    for flag, value in flags.items():
        pairs = SWITCHES.get(flag) or {
            key.format(net=net): VALUE_NAMES.get(flag, {}).get(value, value)
            for key in VALUE_FLAGS[flag]}
        opts += [item for pair in pairs.items() for item in pair]
    return Path(config), opts + args.opts


def seed_config(script, dataset, flags):
    """(the config a seed command starts from, the flags it leaves to overrides)."""
    config = CONFIGS / SCRIPT_CONFIGS[script][dataset]
    variants = [flag for flag, value in flags.items() if (config.name, flag, value) in VARIANTS]
    if len(variants) > 1:
        raise ConfigError(f"{' and '.join(variants)} each have a config of their own: start "
                          'from one with scripts/train.py CONFIG KEY VALUE')
    if variants:
        config = CONFIGS / VARIANTS[config.name, variants[0], flags[variants[0]]]
    return config, {flag: value for flag, value in flags.items() if flag not in variants}


def equivalent_command(config, opts):
    """The `python scripts/train.py CONFIG KEY VALUE ...` line of a translation."""
    config = Path(config)
    shown = config.relative_to(CONFIGS.parent) if config.is_relative_to(CONFIGS.parent) else config
    return shlex.join(['python', 'scripts/train.py', str(shown), *map(str, opts)])


def run_seed_command(script, argv):
    """Translate, print the equivalent command, train."""
    from packnet_sfm.trainers.run import train
    config, opts = translate(script, argv)
    print(f'Equivalent: {equivalent_command(config, opts)}', flush=True)
    return train(config, opts)
