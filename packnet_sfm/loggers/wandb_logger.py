"""Weights & Biases logging (the optional `wandb` extra), into `<run folder>/wandb/`: the same
tags as TensorBoard, the merged config and the run folder as the W&B run config. The run id is
kept in the checkpoint, so a resumed run continues the same W&B run."""
from pathlib import Path

import numpy as np

from packnet_sfm.loggers.base import Logger
from packnet_sfm.utils.config import ConfigError, check_choice, to_dict

MODES = ('online', 'offline', 'disabled')


def import_wandb():
    try:
        import wandb
    except ImportError:
        raise ConfigError("log.wandb.enabled is true but the wandb package is not installed: "
                          "pip install -e '.[wandb]' (or set log.wandb.enabled false)") from None
    return wandb


class WandbLogger(Logger):
    """`options` is the `log.wandb` config node. The W&B run starts at the first call, after a
    resume has restored its id."""

    def __init__(self, options, run_dir):
        check_choice('log.wandb.mode', options.mode, MODES)
        self.wandb = import_wandb()
        self.options, self.run_dir = options, Path(run_dir)
        self.run_id, self._run = None, None

    @property
    def run(self):
        if self._run is None:
            options = self.options
            self._run = self.wandb.init(
                project=options.project, entity=options.entity or None,
                name=options.name or self.run_dir.name, tags=list(options.tags),
                mode=options.mode, dir=str(self.run_dir), id=self.run_id, resume='allow')
            self.run_id = self._run.id
        return self._run

    def config(self, cfg):
        self.run.config.update({**to_dict(cfg), 'run_dir': str(self.run_dir.resolve())},
                               allow_val_change=True)

    def scalars(self, values, step, prefix=''):
        self.run.log({f'{prefix}{name}': float(value) for name, value in values.items()},
                     step=step)

    def image(self, name, image, step):
        self.run.log({name: self.wandb.Image(np.ascontiguousarray(image))}, step=step)

    def close(self):
        if self._run is not None:
            self._run.finish()
            self._run = None

    def state_dict(self):
        return {'run_id': self.run_id} if self.run_id else {}

    def load_state_dict(self, state):
        self.run_id = state.get('run_id', self.run_id)
