"""Optimisers and learning-rate schedules from the config; the dataset builder's option
checks."""
import math

import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.builder import build_dataset
from packnet_sfm.trainers.optim import build_optimizer, learning_rate, set_learning_rate
from packnet_sfm.utils.config import ConfigError, merge_opts
from packnet_sfm.utils.errors import InputError


def config(*opts):
    return merge_opts(get_cfg_defaults(), list(opts))


def test_cosine_decays_to_min_lr_over_max_epochs():
    cfg = config('model.scheduler.name', 'cosine', 'model.scheduler.min_lr', 0.2,
                 'arch.max_epochs', 4)
    lrs = [learning_rate(cfg, 1.0, epoch) for epoch in range(5)]
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert lrs == pytest.approx(expected)
    assert lrs[-1] == pytest.approx(0.2)


def test_step_lr_and_no_schedule():
    cfg = config('model.scheduler.name', 'StepLR', 'model.scheduler.step_size', 2,
                 'model.scheduler.gamma', 0.5)
    assert [learning_rate(cfg, 0.1, e) for e in range(5)] == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025])
    assert learning_rate(config(), 0.1, 7) == 0.1


def test_warm_up_ramps_the_scheduled_rate_linearly_over_the_first_steps():
    cfg = config('model.scheduler.name', 'cosine', 'model.scheduler.warmup_steps', 4,
                 'arch.max_epochs', 4)
    assert [learning_rate(cfg, 1.0, 0, step) for step in range(6)] == pytest.approx(
        [0.25, 0.5, 0.75, 1.0, 1.0, 1.0])
    cosine = learning_rate(config('model.scheduler.name', 'cosine', 'arch.max_epochs', 4), 1.0, 1)
    assert learning_rate(cfg, 1.0, 1, 1) == pytest.approx(0.5 * cosine)
    assert learning_rate(cfg, 1.0, 1) == pytest.approx(cosine)
    with pytest.raises(ConfigError, match='warmup_steps must be >= 0'):
        learning_rate(config('model.scheduler.warmup_steps', -1), 0.1, 0)


def test_optimisers_from_the_config_and_unknown_names():
    cfg = config('model.optimizer.name', 'SGD', 'model.optimizer.lr', 0.1)
    opt = build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))], lr_multiplier=2)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]['lr'] == pytest.approx(0.2)
    set_learning_rate(opt, 0.05)
    assert opt.param_groups[0]['lr'] == 0.05
    cfg.model.optimizer.name = 'Adagrad'
    with pytest.raises(ConfigError, match="model.optimizer.name is 'Adagrad'; use one of"):
        build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ConfigError, match="model.scheduler.name is 'linear'; use one of"):
        learning_rate(config('model.scheduler.name', 'linear'), 0.1, 0)


def test_a_split_option_the_dataset_does_not_take_is_an_error():
    cfg = merge_opts(get_cfg_defaults(), ['datasets.train.dataset', '[BatvisionV1]',
                                          'datasets.train.locations', '[Attic]'])
    with pytest.raises(InputError, match=r'datasets\.train\.locations .*BatvisionV1Dataset'):
        build_dataset(cfg, 'train')
