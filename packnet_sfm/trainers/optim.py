"""Optimisers and learning-rate schedulers from `model.optimizer` and `model.scheduler`."""
import math

import torch

OPTIMIZERS = {'AdamW': torch.optim.AdamW, 'Adam': torch.optim.Adam, 'SGD': torch.optim.SGD}


def build_optimizer(cfg, parameters, lr_multiplier=1.0):
    node = cfg.model.optimizer
    if node.name not in OPTIMIZERS:
        raise ValueError(f"model.optimizer.name '{node.name}' is unknown; use one of "
                         f"{', '.join(OPTIMIZERS)}")
    kwargs = {'lr': node.lr * lr_multiplier, 'weight_decay': node.weight_decay}
    if node.name == 'SGD':
        kwargs['momentum'] = node.momentum
    return OPTIMIZERS[node.name]([p for p in parameters if p.requires_grad], **kwargs)


def build_scheduler(cfg, optimizer):
    """A per-epoch scheduler, or None for 'none'."""
    node = cfg.model.scheduler
    if node.name == 'none':
        return None
    if node.name == 'StepLR':
        return torch.optim.lr_scheduler.StepLR(optimizer, node.step_size, node.gamma)
    if node.name == 'cosine':
        return cosine_schedule(optimizer, cfg.arch.max_epochs, node.min_lr)
    raise ValueError(f"model.scheduler.name '{node.name}' is unknown; use none, StepLR or cosine")


def cosine_schedule(optimizer, max_epochs, min_lr):
    """Cosine decay from the optimiser's lr to `min_lr` over `max_epochs`. The length is read
    from the config, not stored in checkpoints, so a resumed run with a larger
    `arch.max_epochs` decays over the new length."""
    floor = min_lr / optimizer.param_groups[0]['lr']

    def factor(epoch):
        progress = min(epoch / max(max_epochs, 1), 1.0)
        return floor + (1 - floor) * (1 + math.cos(math.pi * progress)) / 2

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
