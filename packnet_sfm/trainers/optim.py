"""Optimisers and learning-rate schedulers from `model.optimizer` and `model.scheduler`."""
import math

import torch

from packnet_sfm.utils.config import check_choice, check_minimums

OPTIMIZERS = {'AdamW': torch.optim.AdamW, 'Adam': torch.optim.Adam, 'SGD': torch.optim.SGD}


def build_optimizer(cfg, parameters, lr_multiplier=1.0):
    node = cfg.model.optimizer
    check_choice('model.optimizer.name', node.name, OPTIMIZERS)
    check_minimums(node, dict.fromkeys(('lr', 'weight_decay', 'momentum'), 0), 'model.optimizer')
    # fused: one kernel per step for all parameters (CPU and CUDA), not one per tensor
    kwargs = {'lr': node.lr * lr_multiplier, 'weight_decay': node.weight_decay, 'fused': True}
    if node.name == 'SGD':
        kwargs['momentum'] = node.momentum
    return OPTIMIZERS[node.name]([p for p in parameters if p.requires_grad], **kwargs)


SCHEDULERS = ('none', 'StepLR', 'cosine')


def check_scheduler(cfg):
    name = cfg.model.scheduler.name
    check_choice('model.scheduler.name', name, SCHEDULERS)
    minimums = {'warmup_steps': 0, 'min_lr': 0}
    if name == 'StepLR':
        minimums.update(step_size=1, gamma=0)
    check_minimums(cfg.model.scheduler, minimums, 'model.scheduler')


def learning_rate(cfg, base_lr, epoch, step=math.inf):
    """The learning rate of `epoch` (0-based) and global training `step` (0-based) under
    `model.scheduler`, from `base_lr`: the epoch's rate times the linear warm-up
    min(1, (step + 1) / warmup_steps) while `step` < `model.scheduler.warmup_steps`.

    A function of the epoch and the config alone (no scheduler state in checkpoints), so a
    resumed run gets exactly the rate of an uninterrupted run with the same config, and a run
    resumed with a larger `arch.max_epochs` follows the longer schedule from the resume point.
    StepLR: base_lr * gamma ** (epoch // step_size); cosine: from base_lr at epoch 0 to
    `min_lr` at `arch.max_epochs`, min_lr + (base_lr - min_lr) * (1 + cos(pi * e / E)) / 2.
    """
    node = cfg.model.scheduler
    check_scheduler(cfg)
    warmup = min(1.0, (step + 1) / node.warmup_steps) if node.warmup_steps else 1.0
    return warmup * epoch_rate(node, base_lr, epoch, cfg.arch.max_epochs)


def epoch_rate(node, base_lr, epoch, max_epochs):
    """The rate of `epoch` under the scheduler `node`, before any warm-up."""
    if node.name == 'StepLR':
        return base_lr * node.gamma ** (epoch // node.step_size)
    if node.name == 'cosine':
        progress = min(epoch / max(max_epochs, 1), 1.0)
        return node.min_lr + (base_lr - node.min_lr) * (1 + math.cos(math.pi * progress)) / 2
    return base_lr


def set_learning_rate(optimizer, lr):
    for group in optimizer.param_groups:
        group['lr'] = lr
