"""What scripts/train.py does: config, run folder, trainer, summary."""
from pathlib import Path

from packnet_sfm.trainers.distributed import setup_distributed
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.config import dump, load_config
from packnet_sfm.utils.errors import user_message, writable_folder


def run_name(cfg):
    """`<net>_<dataset>_BS<bs>_Lr<lr>_<optimizer>_<name>`, as the seed experiments name runs."""
    train = cfg.datasets.train
    return (f"{cfg.model.depth_net.name}_{'+'.join(train.dataset).lower()}_BS{train.batch_size}"
            f"_Lr{cfg.model.optimizer.lr:g}_{cfg.model.optimizer.name}_{cfg.name or 'run'}")


def new_run_dir(cfg):
    """A fresh folder for the run; an existing run of the same name is never overwritten."""
    base = writable_folder(cfg.checkpoint.filepath, 'checkpoint.filepath') / run_name(cfg)
    folder, suffix = base, 1
    while folder.exists():
        folder, suffix = base.with_name(f'{base.name}_{suffix}'), suffix + 1
    return folder


def train(path, opts=()):
    """Train from a YAML config, or resume from a `.ckpt`; returns (run folder, metrics)."""
    cfg = load_config(path, opts)
    world = setup_distributed(cfg.arch.distributed)
    resume_from = path if str(path).endswith('.ckpt') else None
    run_dir = Path(path).parent if resume_from else new_run_dir(cfg)
    run_dir = world.gather_objects(str(run_dir))[0]  # every rank uses rank 0's folder
    if world.is_main:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        print(dump(cfg))
        (Path(run_dir) / 'config.yaml').write_text(dump(cfg))
    try:
        metrics = Trainer(cfg, run_dir, world, resume_from).fit()
    except Exception as error:
        record_error(Path(run_dir), error)
        raise
    if world.is_main:
        print_summary(Path(run_dir), metrics)
    return Path(run_dir), metrics


def record_error(run_dir, error):
    """`<run>/error.txt`: the one-line message of the error that stopped the run (its last.ckpt
    stays that of the last finished epoch)."""
    if run_dir.is_dir():
        message = ' '.join(user_message(error).split())
        (run_dir / 'error.txt').write_text(f'{type(error).__name__}: {message}\n')


def print_summary(run_dir, metrics):
    shown = ' '.join(f'{k}={v:.4f}' for k, v in metrics.items() if k != 'num_images')
    pictures = sorted((run_dir / 'results').glob('*.png'))
    logs = run_dir / 'tensorboard'
    tensorboard = (f'tensorboard --logdir {logs}' if logs.is_dir()
                   else '(none: log.tensorboard.enabled false)')
    print(f"\nFinal validation metrics: {shown or '(no validation)'}\n"
          f"Run folder:   {run_dir}\n"
          f"TensorBoard:  {tensorboard}\n"
          f"Checkpoint:   {run_dir / 'last.ckpt'}\n"
          f"Pictures:     {pictures[-1] if pictures else '(none)'}")
