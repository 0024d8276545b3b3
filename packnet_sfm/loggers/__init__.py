"""Where training logs go: TensorBoard and/or Weights & Biases, from `cfg.log`, on rank 0."""
from pathlib import Path

from packnet_sfm.loggers.base import Logger, LoggerGroup


def build_logger(cfg, run_dir, world):
    """The loggers `cfg.log` enables, as one group; the silent Logger off rank 0."""
    if not world.is_main:
        return Logger()
    loggers = {}
    if cfg.log.tensorboard.enabled:
        from packnet_sfm.loggers.tensorboard_logger import TensorBoardLogger
        loggers['tensorboard'] = TensorBoardLogger(Path(run_dir) / 'tensorboard')
    if cfg.log.wandb.enabled:
        from packnet_sfm.loggers.wandb_logger import WandbLogger
        loggers['wandb'] = WandbLogger(cfg.log.wandb, run_dir)
    return LoggerGroup(loggers)
