"""The trainer: a small training step with hooks around it (validation, checkpoints, logs), for
one process or N Horovod ranks. Only rank 0 writes files."""
import csv
import json
import math
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from packnet_sfm.datasets.builder import (
    build_dataset,
    build_datasets,
    build_loader,
    depth_units,
    set_epoch,
)
from packnet_sfm.loggers import build_logger
from packnet_sfm.models import architecture_config, build_model
from packnet_sfm.trainers.evaluation import evaluate, evaluation_protocols, to_device
from packnet_sfm.trainers.optim import (
    build_optimizer,
    check_scheduler,
    learning_rate,
    set_learning_rate,
)
from packnet_sfm.utils.checkpoint import (
    TopKCheckpoints,
    fit_weights,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from packnet_sfm.utils.compare import VAL_METRICS_FILE
from packnet_sfm.utils.config import ConfigError, check_interval, check_minimums, to_dict
from packnet_sfm.utils.depth import METRIC_NAMES
from packnet_sfm.utils.errors import InputError
from packnet_sfm.utils.progress import progress
from packnet_sfm.utils.protocols import protocol_from_config
from packnet_sfm.utils.seed import set_seed
from packnet_sfm.utils.visualization import save_png


def select_device(name, world, key='arch.device'):
    """The torch device `name` asks for ('auto': CUDA when there is one); bad names and a
    missing CUDA are a ConfigError naming `key`."""
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda':
        if not torch.cuda.is_available():
            raise ConfigError(f"{key} is 'cuda' but CUDA is not available; use 'auto'")
        return torch.device('cuda', world.local_rank)
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{key} '{name}' is not a torch device; use auto, cpu or "
                          "cuda") from None


# The run loop's counts and limits, and the smallest value each may take.
LOOP_MINIMUMS = {'arch.max_epochs': 1, 'arch.validate_every': 1, 'arch.clip_grad': 0,
                 'log.every_n_steps': 1, 'log.images_every': 0, 'log.num_images': 1,
                 'checkpoint.save_top_k': 0, 'checkpoint.every_n_epochs': 0}


def autocast_settings(amp, device):
    """(autocast context factory, GradScaler) for `arch.amp`: bf16 on CUDA or the CPU, fp16
    (with loss scaling) on CUDA only."""
    if amp not in ('none', 'bf16', 'fp16'):
        raise ConfigError(f"arch.amp must be 'none', 'bf16' or 'fp16', not '{amp}'")
    if amp == 'none' or (amp == 'fp16' and device.type != 'cuda'):
        if amp != 'none':
            print(f"arch.amp '{amp}' needs CUDA; training in float32 on {device}")
        return nullcontext, torch.amp.GradScaler('cpu', enabled=False)
    dtype = torch.bfloat16 if amp == 'bf16' else torch.float16
    return (lambda: torch.autocast(device.type, dtype=dtype),
            torch.amp.GradScaler(device.type, enabled=amp == 'fp16'))


def monitored_set(cfg, validation_sets):
    """The validation set whose `checkpoint.monitor` ranks checkpoints (None without
    validation), after checking the metric name and `checkpoint.monitor_index`."""
    node = cfg.checkpoint
    if node.monitor not in METRIC_NAMES:
        raise ConfigError(f"checkpoint.monitor '{node.monitor}' is not a validation metric; "
                          f"choose one of {', '.join(METRIC_NAMES)}")
    if not validation_sets:
        return None
    if not 0 <= node.monitor_index < len(validation_sets):
        raise ConfigError(f"checkpoint.monitor_index {node.monitor_index} does not name one of "
                          f"the {len(validation_sets)} validation set(s) "
                          f"{list(validation_sets)}; use 0..{len(validation_sets) - 1}")
    return list(validation_sets)[node.monitor_index]


def averaged_depth_net(cfg, model):
    """An exponential moving average of `model.depth_net` (weights and normalisation
    statistics) with decay `arch.ema_decay`, or None when it is 0."""
    decay = cfg.arch.ema_decay
    check_interval('arch.ema_decay', decay, 0, 1, high_included=False,
                   note=' (0 turns weight averaging off)')
    if decay == 0.0:
        return None
    return AveragedModel(model.depth_net, multi_avg_fn=get_ema_multi_avg_fn(decay),
                         use_buffers=True)


def load_weights(module, path, key, prefix=''):
    """Initialise `module` from the state dict of the checkpoint that config `key` names
    (entries under `prefix`)."""
    state = load_checkpoint(path)['state_dict']
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    fit_weights(module, state, path, f'give {key} a checkpoint of this network')


class Trainer:
    def __init__(self, cfg, run_dir, world, resume_from=None):
        self.cfg, self.run_dir, self.world = cfg, Path(run_dir), world
        check_minimums(cfg, LOOP_MINIMUMS)
        check_interval('datasets.max_bad_fraction', cfg.datasets.max_bad_fraction, 0, 1)
        self.device = select_device(cfg.arch.device, world)
        set_seed(cfg.arch.seed)
        torch.use_deterministic_algorithms(cfg.arch.deterministic, warn_only=True)
        # A resumed run reads every weight from its checkpoint, no initial weights file.
        self.model = build_model(architecture_config(cfg) if resume_from else cfg,
                                 *depth_units(cfg)).to(self.device)
        if cfg.arch.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if cfg.arch.compile:
            self.model.compile()        # in place: parameter names and checkpoints unchanged
        if resume_from is None:
            self._initialise_weights()
        self.averaged = averaged_depth_net(cfg, self.model)
        self.train_loader = build_loader(cfg, 'train', build_dataset(cfg, 'train'), world)
        self.val_loaders = {name: build_loader(cfg, 'validation', dataset, world)
                            for name, dataset in build_datasets(cfg, 'validation').items()
                            } if cfg.datasets.validation.path else {}
        self.monitored = monitored_set(cfg, self.val_loaders)
        self.protocol = protocol_from_config(cfg)
        self.protocols = evaluation_protocols(cfg)
        lr_multiplier = world.size if cfg.arch.scale_lr else 1
        optimizer = build_optimizer(cfg, self.model.parameters(), lr_multiplier)
        self.base_lr = cfg.model.optimizer.lr * lr_multiplier
        check_scheduler(cfg)
        self.autocast, self.scaler = autocast_settings(cfg.arch.amp, self.device)
        self.best = TopKCheckpoints(self.run_dir, cfg.checkpoint.monitor,
                                    cfg.checkpoint.save_top_k)
        self.start_epoch, self.last_metrics = 0, {}
        self.logger = build_logger(cfg, self.run_dir, world)
        if resume_from is not None:
            self._restore(load_checkpoint(resume_from), optimizer, resume_from)
        world.broadcast_state(self.model, optimizer)
        self.optimizer = world.wrap_optimizer(optimizer, self.model)
        self.step = self.start_epoch * len(self.train_loader)

    def _initialise_weights(self):
        if self.cfg.model.checkpoint_path:
            load_weights(self.model, self.cfg.model.checkpoint_path, 'model.checkpoint_path')
        if self.cfg.model.depth_net.checkpoint_path:
            load_weights(self.model.depth_net, self.cfg.model.depth_net.checkpoint_path,
                         'model.depth_net.checkpoint_path', prefix='depth_net.')

    def _restore(self, state, optimizer, path):
        fit_weights(self.model, state.get('training_state_dict', state['state_dict']), path,
                    'resume without overrides that change the network')
        if self.averaged is not None:
            with self.evaluated_model():
                self.model.load_state_dict(state['state_dict'])
            self.averaged.n_averaged.fill_(state.get('averaged_steps', 0))
        optimizer.load_state_dict(state['optimizer'])
        self.scaler.load_state_dict(state.get('scaler') or self.scaler.state_dict())
        self.best.kept = [tuple(item) for item in state.get('best_checkpoints', [])]
        self.start_epoch, self.last_metrics = state['epoch'], state.get('metrics', {})
        self.logger.load_state_dict(state.get('loggers', {}))
        set_rng_state(state['rng'])
        if self.world.is_main:
            forget_validations_after(self.run_dir, self.start_epoch)

    def state(self, epoch, metrics):
        """Everything a resume needs, as plain data. `state_dict` holds the weights that are
        evaluated (with `arch.ema_decay`, the averaged depth network; the weights being trained
        are then `training_state_dict`)."""
        optimizer = self.optimizer
        with self.evaluated_model():
            evaluated = self.model.state_dict()
        averaged = {} if self.averaged is None else {
            'training_state_dict': self.model.state_dict(),
            'averaged_steps': int(self.averaged.n_averaged)}
        return {'config': to_dict(self.cfg), 'epoch': epoch, 'metrics': metrics,
                'state_dict': evaluated, **averaged, 'optimizer': optimizer.state_dict(),
                'scaler': self.scaler.state_dict(), 'rng': rng_state(),
                'best_checkpoints': [list(item) for item in self.best.kept],
                'loggers': self.logger.state_dict()}

    @contextmanager
    def evaluated_model(self):
        """The model as it is evaluated: with `arch.ema_decay`, the averaged depth network in
        place of the trained one."""
        if self.averaged is None:
            yield self.model
            return
        trained, self.model.depth_net = self.model.depth_net, self.averaged.module
        try:
            yield self.model
        finally:
            self.model.depth_net = trained

    # ----------------------------------------------------------------------------------------
    def fit(self):
        """Train from `start_epoch` to `arch.max_epochs`; returns the last validation metrics."""
        self.logger.config(self.cfg)
        if self.world.is_main and self.val_loaders:
            tqdm.write(f"Validation on {', '.join(self.val_loaders)}, protocol "
                       f"'{self.cfg.evaluation.protocol}' ({self.protocol.description}); "
                       f"checkpoints ranked by {self.cfg.checkpoint.monitor} on {self.monitored}")
        for epoch in range(self.start_epoch, self.cfg.arch.max_epochs):
            self.model.set_epoch(epoch)
            started = time.time()
            summary, bad_samples = self.train_epoch(epoch)
            self.logger.scalars({'epoch_time': time.time() - started}, self.step, 'train/')
            validated = self.val_loaders and self._validates(epoch)
            self.end_epoch(epoch, summary, self.validate(epoch) if validated else {},
                           bad_samples)
        self.logger.close()
        return self.last_metrics

    def _validates(self, epoch):
        last = epoch + 1 == self.cfg.arch.max_epochs
        return last or (epoch + 1) % self.cfg.arch.validate_every == 0

    def train_epoch(self, epoch):
        """One pass over this rank's shard; returns the loss and loss terms averaged over the
        steps and the ranks, and every rank's bad samples (on_bad_sample skip)."""
        self.model.train()
        set_epoch(self.train_loader, self.cfg.arch.seed, epoch)
        epoch_terms, window, bad_samples = StepWindow(self.step), StepWindow(self.step), []
        bar = progress(self.train_loader, desc=f'Epoch {epoch + 1}/{self.cfg.arch.max_epochs}',
                       disable=not self.world.is_main)
        ready = time.perf_counter()
        for batch in bar:
            waited = time.perf_counter() - ready
            bad_samples += self.take_bad_samples(batch, len(bad_samples), epoch)
            if 'depth' in batch:            # else every sample of the batch was bad
                samples = batch['depth'].shape[0] * self.world.size
                set_learning_rate(self.optimizer,
                                  learning_rate(self.cfg, self.base_lr, epoch, self.step))
                terms = self.train_step(self.to_device(batch), epoch)
                for steps in (epoch_terms, window):
                    steps.add(terms, samples, waited)
                if self.step % self.cfg.log.every_n_steps == 0:
                    self.log_window(window, epoch, bar)
                self.step += 1
            ready = time.perf_counter()
        summary = self.world.average(self.finite_means(epoch_terms, epoch))
        return summary, [bad for part in self.world.gather_objects(bad_samples) for bad in part]

    def to_device(self, batch):
        return to_device(batch, self.device, self.cfg.arch.channels_last)

    def finite_means(self, window, epoch):
        """The window's mean loss terms as floats (a host synchronisation); an error naming its
        steps when the loss was not finite."""
        means = window.means()
        if not math.isfinite(means.get('loss', 0.0)):
            raise self.non_finite('loss', epoch, window.span(), means)
        return means

    def log_window(self, window, epoch, bar):
        """Read the steps since the last log (once per `log.every_n_steps`), log them, start
        a new window. samples_per_sec counts the time waiting for data; data_wait is its
        fraction of the window."""
        terms = self.finite_means(window, epoch)
        samples_per_sec, data_wait = window.rates()
        lr = self.optimizer.param_groups[0]['lr']
        self.logger.scalars({**terms, 'lr': lr, 'samples_per_sec': samples_per_sec,
                             'data_wait': data_wait}, self.step, 'train/')
        bar.set_postfix(loss=f"{terms['loss']:.4f}", samples_s=f'{samples_per_sec:.1f}')
        window.restart(self.step + 1)

    def take_bad_samples(self, batch, earlier, epoch):
        """The BadSamples a skipping loader took out of `batch`; an error once this rank's
        epoch holds more than `datasets.max_bad_fraction` of its samples."""
        batch.pop('kept', None)
        bad = batch.pop('bad_samples', [])
        total, fraction = len(self.train_loader.sampler), self.cfg.datasets.max_bad_fraction
        if bad and earlier + len(bad) > fraction * total:
            raise InputError(
                f"{earlier + len(bad)} of {total} training samples were bad in epoch {epoch + 1}, "
                f"more than datasets.max_bad_fraction ({fraction:.1%}), e.g. {bad[0].message}; "
                f"fix the data (scripts/check_dataset.py lists every problem) or raise "
                f"datasets.max_bad_fraction")
        return bad

    def train_step(self, batch, epoch):
        """Forward, backward, optimiser step; returns the loss and its terms as detached
        tensors on the device (no host synchronisation, but at the gradient check every
        `log.every_n_steps` steps)."""
        with self.autocast():
            output = self.model(self.model.training_batch(batch))
        loss = output['loss']
        terms = {'loss': loss.detach(), **{k: torch.as_tensor(v).detach()
                                           for k, v in output['metrics'].items()}}
        self.optimizer.zero_grad()  # sets grads to None; Horovod's wrapper takes no argument
        self.scaler.scale(loss).backward()
        self.world.synchronize(self.optimizer)
        clip = self.cfg.arch.clip_grad
        if clip > 0 or self.step % self.cfg.log.every_n_steps == 0:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip or math.inf)
            # fp16's GradScaler skips steps with inf gradients by design
            if not self.scaler.is_enabled() and not torch.isfinite(norm):
                raise self.non_finite('gradient', epoch, f'step {self.step}',
                                      {k: float(v) for k, v in terms.items()})
        self.world.step(self.optimizer, self.scaler)
        self.scaler.update()
        if self.averaged is not None:
            self.averaged.update_parameters(self.model.depth_net)
        return terms

    def non_finite(self, what, epoch, steps, terms):
        """The error that stops a run whose loss or gradient is NaN or inf at `steps` (global
        step numbers, as text)."""
        return FloatingPointError(
            f"Non-finite {what} at epoch {epoch + 1}, {steps} with loss terms "
            + ', '.join(f'{k}={v:.4g}' for k, v in terms.items())
            + "; lower model.optimizer.lr, set arch.clip_grad, or check the data")

    def validate(self, epoch):
        """{validation set: metrics} over each whole set, logged under val/ (val/<set>/ when
        there are several); pictures of the monitored set every `log.images_every`."""
        every = self.cfg.log.images_every
        validation_index = (epoch + 1) // self.cfg.arch.validate_every
        draw = self.world.is_main and every > 0 and validation_index % every == 0
        results = {}
        several = len(self.val_loaders) > 1
        for name, loader in self.val_loaders.items():
            pictures = self._save_pictures(epoch) if draw and name == self.monitored else None
            with self.evaluated_model() as model:
                results[name], _ = evaluate(
                    model, loader, self.world, self.device, self.protocols, pictures,
                    f'validation {name}' if several else 'validation', autocast=self.autocast,
                    with_loss=self.cfg.evaluation.with_loss,
                    channels_last=self.cfg.arch.channels_last,
                    test_time_mirror=self.cfg.evaluation.test_time_mirror,
                )[self.cfg.evaluation.protocol]
            self.logger.scalars(results[name], self.step, f'val/{name}/' if several else 'val/')
        return results

    def _save_pictures(self, epoch):
        def save(batch, output):
            pictures = self.model.pictures(batch, output, self.cfg.log.num_images)
            for name, picture in pictures.items():
                save_png(picture, self.run_dir / 'results' / f'epoch_{epoch + 1:04d}_{name}.png')
                self.logger.image(f'val/{name}', picture, self.step)
        return save

    def end_epoch(self, epoch, summary, results, bad_samples=()):
        """Print the epoch line (loss terms named without a 'loss_' prefix: `loss_recon` as
        `recon=`; the monitored set's metrics), append the metrics to val_metrics.jsonl (the
        monitored set's as they are, the others' as '<set>/<metric>'), write last.ckpt, the
        best ones and every `checkpoint.every_n_epochs`-th epoch (`results` is empty when
        this epoch did not validate); skipped samples are counted and listed in
        bad_samples.csv."""
        metrics = results.get(self.monitored, {})
        self.last_metrics = metrics or self.last_metrics
        if not self.world.is_main:
            return
        terms = ', '.join(f"{k.removeprefix('loss_')}={v:.4f}" for k, v in summary.items()
                          if k != 'loss')
        line = f"Epoch {epoch + 1}: Loss={summary.get('loss', math.nan):.4f} ({terms})"
        if metrics:
            line += ' | val ' + ' '.join(f'{k}={metrics[k]:.4f}' for k in ('rmse', 'abs_rel', 'a1'))
            others = {f'{name}/{k}': v for name, values in results.items()
                      if name != self.monitored for k, v in values.items()}
            with open(self.run_dir / VAL_METRICS_FILE, 'a') as f:
                f.write(json.dumps({'epoch': epoch + 1, **metrics, **others}) + '\n')
        if self.cfg.datasets.train.on_bad_sample == 'skip':
            line += f' | {len(bad_samples)} bad samples skipped'
            self.logger.scalars({'bad_samples': len(bad_samples)}, self.step, 'train/')
            append_bad_samples(self.run_dir, epoch, bad_samples)
        tqdm.write(line)
        self.logger.scalars({'epoch': epoch + 1, **{f'epoch/{k}': v for k, v in summary.items()}},
                            self.step)
        state = self.state(epoch + 1, self.last_metrics)
        if metrics:
            self.best.update(state, epoch + 1, metrics)
        every = self.cfg.checkpoint.every_n_epochs
        if every > 0 and (epoch + 1) % every == 0:
            save_checkpoint(state, self.run_dir / f'epoch_{epoch + 1:04d}.ckpt')
        save_checkpoint(state, self.run_dir / 'last.ckpt')
        self.logger.flush()


class StepWindow:
    """Loss terms (device tensors, summed) and timings of consecutive training steps, read on
    the host only when asked."""

    def __init__(self, first_step):
        self.restart(first_step)

    def restart(self, first_step):
        self.first_step, self.steps, self.samples, self.waited = first_step, 0, 0, 0.0
        self.sums, self.began = {}, time.perf_counter()

    def add(self, terms, samples, waited):
        for name, value in terms.items():
            self.sums[name] = self.sums.get(name, 0) + value
        self.steps, self.samples, self.waited = (self.steps + 1, self.samples + samples,
                                                 self.waited + waited)

    def means(self):
        return {name: float(total) / max(self.steps, 1) for name, total in self.sums.items()}

    def rates(self):
        """(samples per second, fraction of the time waiting for data) since the start."""
        elapsed = max(time.perf_counter() - self.began, 1e-9)
        return self.samples / elapsed, self.waited / elapsed

    def span(self):
        last = self.first_step + self.steps - 1
        return f'step {last}' if self.steps <= 1 else f'steps {self.first_step}-{last}'


def append_bad_samples(run_dir, epoch, bad_samples):
    """Rows 'epoch,index,message' of the samples skipped in an epoch, in <run>/bad_samples.csv."""
    path = Path(run_dir) / 'bad_samples.csv'
    new = not path.is_file()
    with open(path, 'a', newline='') as file:
        writer = csv.writer(file)
        if new:
            writer.writerow(['epoch', 'index', 'message'])
        writer.writerows([epoch + 1, bad.index, bad.message] for bad in bad_samples)


def forget_validations_after(run_dir, epoch):
    """Drop the val_metrics.jsonl records of epochs after `epoch` (a run resumed from an
    earlier checkpoint writes them again)."""
    path = Path(run_dir) / VAL_METRICS_FILE
    if path.is_file():
        lines = path.read_text().splitlines(keepends=True)
        path.write_text(''.join(line for line in lines
                                if line.strip() and json.loads(line)['epoch'] <= epoch))
