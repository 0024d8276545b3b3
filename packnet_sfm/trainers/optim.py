"""Optimisers and learning-rate schedulers from `model.optimizer` and `model.scheduler`."""
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
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=cfg.arch.max_epochs, eta_min=node.min_lr)
    raise ValueError(f"model.scheduler.name '{node.name}' is unknown; use none, StepLR or cosine")
