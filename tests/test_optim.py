"""Optimisers and schedulers from the config; the dataset builder's option checks."""
import math

import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.builder import build_dataset
from packnet_sfm.trainers.optim import build_optimizer, build_scheduler, cosine_schedule
from packnet_sfm.utils.config import merge_opts
from packnet_sfm.utils.errors import InputError


def optimizer(lr=1.0):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)


def test_cosine_decays_to_min_lr_over_max_epochs():
    opt = optimizer()
    schedule = cosine_schedule(opt, max_epochs=4, min_lr=0.2)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        schedule.step()
    expected = [0.2 + 0.8 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    assert lrs == pytest.approx(expected)


def test_resumed_cosine_follows_the_new_max_epochs():
    opt = optimizer()
    schedule = cosine_schedule(opt, max_epochs=10, min_lr=0.0)
    for _ in range(5):
        opt.step()
        schedule.step()
    state = schedule.state_dict()
    resumed_opt = optimizer()
    resumed = cosine_schedule(resumed_opt, max_epochs=20, min_lr=0.0)
    resumed.load_state_dict(state)
    resumed_opt.step()
    resumed.step()
    assert resumed_opt.param_groups[0]['lr'] == pytest.approx((1 + math.cos(math.pi * 6 / 20)) / 2)


def test_schedulers_and_optimisers_from_the_config():
    cfg = merge_opts(get_cfg_defaults(), ['model.optimizer.name', 'SGD', 'model.optimizer.lr', 0.1,
                                          'model.scheduler.name', 'StepLR',
                                          'model.scheduler.step_size', 2])
    opt = build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))], lr_multiplier=2)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]['lr'] == pytest.approx(0.2)
    assert isinstance(build_scheduler(cfg, opt), torch.optim.lr_scheduler.StepLR)
    cfg.model.optimizer.name = 'Adagrad'
    with pytest.raises(ValueError, match="'Adagrad' is unknown"):
        build_optimizer(cfg, [torch.nn.Parameter(torch.zeros(1))])


def test_a_split_option_the_dataset_does_not_take_is_an_error():
    cfg = merge_opts(get_cfg_defaults(), ['datasets.train.dataset', '[BatvisionV1]',
                                          'datasets.train.locations', '[Attic]'])
    with pytest.raises(InputError, match=r'datasets\.train\.locations .*BatvisionV1Dataset'):
        build_dataset(cfg, 'train')
