"""The trainer: a small training step with hooks around it (validation, checkpoints, logs), for
one process or N Horovod ranks. Only rank 0 writes files."""
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from packnet_sfm.datasets.builder import build_dataset, build_loader, depth_units, set_epoch
from packnet_sfm.loggers.tensorboard_logger import NullLogger, TensorBoardLogger
from packnet_sfm.models import architecture_config, build_model
from packnet_sfm.trainers.evaluation import evaluate, evaluation_options, to_device
from packnet_sfm.trainers.optim import build_optimizer, build_scheduler
from packnet_sfm.utils.checkpoint import (
    TopKCheckpoints,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from packnet_sfm.utils.config import dump, to_dict
from packnet_sfm.utils.progress import progress
from packnet_sfm.utils.seed import set_seed
from packnet_sfm.utils.visualization import save_png


def select_device(name, world):
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError("arch.device is 'cuda' but CUDA is not available; use 'auto'")
        return torch.device('cuda', world.local_rank)
    return torch.device(name)


def autocast_settings(amp, device):
    """(autocast context factory, GradScaler) for `arch.amp`; mixed precision is CUDA-only."""
    if amp not in ('none', 'bf16', 'fp16'):
        raise ValueError(f"arch.amp must be 'none', 'bf16' or 'fp16', not '{amp}'")
    if amp == 'none' or device.type != 'cuda':
        if amp != 'none':
            print(f"arch.amp '{amp}' needs CUDA; training in float32 on {device}")
        return nullcontext, torch.amp.GradScaler('cpu', enabled=False)
    dtype = torch.bfloat16 if amp == 'bf16' else torch.float16
    return (lambda: torch.autocast('cuda', dtype=dtype),
            torch.amp.GradScaler('cuda', enabled=amp == 'fp16'))


def load_weights(module, path, prefix=''):
    """Initialise `module` from the state dict of a checkpoint (entries under `prefix`)."""
    state = load_checkpoint(path)['state_dict']
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    module.load_state_dict(state)


class Trainer:
    def __init__(self, cfg, run_dir, world, resume_from=None):
        self.cfg, self.run_dir, self.world = cfg, Path(run_dir), world
        self.device = select_device(cfg.arch.device, world)
        set_seed(cfg.arch.seed)
        torch.use_deterministic_algorithms(cfg.arch.deterministic, warn_only=True)
        # A resumed run reads every weight from its checkpoint, no initial weights file.
        self.model = build_model(architecture_config(cfg) if resume_from else cfg,
                                 *depth_units(cfg)).to(self.device)
        if resume_from is None:
            self._initialise_weights()
        self.train_loader = build_loader(cfg, 'train', build_dataset(cfg, 'train'), world)
        self.val_loader = (build_loader(cfg, 'validation', build_dataset(cfg, 'validation'),
                                        world) if cfg.datasets.validation.path else None)
        lr_multiplier = world.size if cfg.arch.scale_lr else 1
        optimizer = build_optimizer(cfg, self.model.parameters(), lr_multiplier)
        self.scheduler = build_scheduler(cfg, optimizer)
        self.autocast, self.scaler = autocast_settings(cfg.arch.amp, self.device)
        self.best = TopKCheckpoints(self.run_dir, cfg.checkpoint.monitor,
                                    cfg.checkpoint.save_top_k)
        self.start_epoch, self.last_metrics = 0, {}
        if resume_from is not None:
            self._restore(load_checkpoint(resume_from), optimizer)
        world.broadcast_state(self.model, optimizer)
        self.optimizer = world.wrap_optimizer(optimizer, self.model)
        self.logger = (TensorBoardLogger(self.run_dir / 'tensorboard') if world.is_main
                       else NullLogger())
        self.step = self.start_epoch * len(self.train_loader)

    def _initialise_weights(self):
        if self.cfg.model.checkpoint_path:
            load_weights(self.model, self.cfg.model.checkpoint_path)
        if self.cfg.model.depth_net.checkpoint_path:
            load_weights(self.model.depth_net, self.cfg.model.depth_net.checkpoint_path,
                         prefix='depth_net.')

    def _restore(self, state, optimizer):
        self.model.load_state_dict(state['state_dict'])
        optimizer.load_state_dict(state['optimizer'])
        if self.scheduler is not None and state.get('scheduler'):
            self.scheduler.load_state_dict(state['scheduler'])
        self.scaler.load_state_dict(state.get('scaler') or self.scaler.state_dict())
        self.best.kept = [tuple(item) for item in state.get('best_checkpoints', [])]
        self.start_epoch, self.last_metrics = state['epoch'], state.get('metrics', {})
        set_rng_state(state['rng'])

    def state(self, epoch, metrics):
        """Everything a resume needs, as plain data."""
        optimizer = self.optimizer
        return {'config': to_dict(self.cfg), 'epoch': epoch, 'metrics': metrics,
                'state_dict': self.model.state_dict(), 'optimizer': optimizer.state_dict(),
                'scheduler': self.scheduler.state_dict() if self.scheduler else None,
                'scaler': self.scaler.state_dict(), 'rng': rng_state(),
                'best_checkpoints': [list(item) for item in self.best.kept]}

    # ----------------------------------------------------------------------------------------
    def fit(self):
        """Train from `start_epoch` to `arch.max_epochs`; returns the last validation metrics."""
        if self.world.is_main:
            self.logger.text('config', f'```\n{dump(self.cfg)}\n```')
        for epoch in range(self.start_epoch, self.cfg.arch.max_epochs):
            self.model.set_epoch(epoch)
            started = time.time()
            summary = self.train_epoch(epoch)
            self.logger.scalars({'epoch_time': time.time() - started}, self.step, 'train/')
            validated = self.val_loader is not None and self._validates(epoch)
            metrics = self.validate(epoch) if validated else {}
            if self.scheduler is not None:
                self.scheduler.step()
            self.end_epoch(epoch, summary, metrics)
        self.logger.close()
        return self.last_metrics

    def _validates(self, epoch):
        last = epoch + 1 == self.cfg.arch.max_epochs
        return last or (epoch + 1) % self.cfg.arch.validate_every == 0

    def train_epoch(self, epoch):
        """One pass over this rank's shard; returns the loss and loss terms averaged over the
        steps and the ranks."""
        self.model.train()
        set_epoch(self.train_loader, self.cfg.arch.seed, epoch)
        totals, count = {}, 0
        bar = progress(self.train_loader, desc=f'Epoch {epoch + 1}/{self.cfg.arch.max_epochs}',
                   disable=not self.world.is_main, leave=False)
        for batch_index, batch in enumerate(bar):
            started = time.time()
            terms = self.train_step(to_device(batch, self.device), epoch, batch_index)
            samples_per_sec = batch['depth'].shape[0] * self.world.size / (time.time() - started)
            for name, value in terms.items():
                totals[name] = totals.get(name, 0.0) + value
            count += 1
            bar.set_postfix(loss=f"{terms['loss']:.4f}", samples_s=f'{samples_per_sec:.1f}')
            if self.step % self.cfg.log.every_n_steps == 0:
                lr = self.optimizer.param_groups[0]['lr']
                self.logger.scalars({**terms, 'lr': lr, 'samples_per_sec': samples_per_sec},
                                    self.step, 'train/')
            self.step += 1
        return self.world.average({name: value / max(count, 1) for name, value in totals.items()})

    def train_step(self, batch, epoch, batch_index):
        """Forward, backward, optimiser step; returns the loss and its terms as floats."""
        with self.autocast():
            output = self.model(batch)
        loss = output['loss']
        terms = {'loss': loss.item(), **{k: float(v) for k, v in output['metrics'].items()}}
        if not math.isfinite(terms['loss']):
            raise FloatingPointError(
                f"Non-finite loss at epoch {epoch + 1}, step {batch_index} "
                f"(global step {self.step}): " + ', '.join(f'{k}={v}' for k, v in terms.items()))
        self.optimizer.zero_grad()  # sets grads to None; Horovod's wrapper takes no argument
        self.scaler.scale(loss).backward()
        self.world.synchronize(self.optimizer)
        if self.cfg.arch.clip_grad > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.arch.clip_grad)
        self.world.step(self.optimizer, self.scaler)
        self.scaler.update()
        return terms

    def validate(self, epoch):
        """Metrics over the whole validation split; pictures every `log.images_every`."""
        every = self.cfg.log.images_every
        validation_index = (epoch + 1) // self.cfg.arch.validate_every
        draw = self.world.is_main and every > 0 and validation_index % every == 0
        metrics, _ = evaluate(self.model, self.val_loader, self.world, self.device,
                              evaluation_options(self.cfg),
                              self._save_pictures(epoch) if draw else None, desc='validation')
        self.logger.scalars(metrics, self.step, 'val/')
        return metrics

    def _save_pictures(self, epoch):
        def save(batch, output):
            pictures = self.model.pictures(batch, output, self.cfg.log.num_images)
            for name, picture in pictures.items():
                save_png(picture, self.run_dir / 'results' / f'epoch_{epoch + 1:04d}_{name}.png')
                self.logger.image(f'val/{name}', picture, self.step)
        return save

    def end_epoch(self, epoch, summary, metrics):
        """Print the epoch line (loss terms named without a 'loss_' prefix: `loss_recon` as
        `recon=`), append the metrics, write last.ckpt and the best ones (`metrics` is empty
        when this epoch did not validate)."""
        self.last_metrics = metrics or self.last_metrics
        if not self.world.is_main:
            return
        terms = ', '.join(f"{k.removeprefix('loss_')}={v:.4f}" for k, v in summary.items()
                          if k != 'loss')
        line = f"Epoch {epoch + 1}: Loss={summary.get('loss', math.nan):.4f} ({terms})"
        if metrics:
            line += ' | val ' + ' '.join(f'{k}={metrics[k]:.4f}' for k in ('rmse', 'abs_rel', 'a1'))
            with open(self.run_dir / 'val_metrics.jsonl', 'a') as f:
                f.write(json.dumps({'epoch': epoch + 1, **metrics}) + '\n')
        tqdm.write(line)
        if metrics:
            self.best.update(self.state(epoch + 1, metrics), epoch + 1, metrics)
        save_checkpoint(self.state(epoch + 1, self.last_metrics), self.run_dir / 'last.ckpt')
        self.logger.flush()
