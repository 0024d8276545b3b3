"""arch.ema_decay: the depth network's weights averaged over the training steps, evaluated and
saved in place of the trained ones, resumed exactly."""
import json

import pytest
import torch
from conftest import script

from packnet_sfm.trainers import run as run_module
from packnet_sfm.trainers.evaluation import results_paths
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.config import ConfigError

DECAY = 0.8


@pytest.fixture
def trained_weights(monkeypatch):
    """The depth network's parameters after every training step, in order."""
    steps = []
    real_train_step = Trainer.train_step

    def recording(self, batch, epoch):
        terms = real_train_step(self, batch, epoch)
        steps.append({name: value.detach().clone()
                      for name, value in self.model.depth_net.named_parameters()})
        return terms

    monkeypatch.setattr(Trainer, 'train_step', recording)
    return steps


def test_saved_weights_are_the_moving_average_of_the_trained_ones(tiny_config, trained_weights):
    run_dir, metrics = run_module.train(tiny_config, ['arch.ema_decay', str(DECAY),
                                                      'arch.max_epochs', '1'])
    state = load_checkpoint(run_dir / 'last.ckpt')
    assert len(trained_weights) > 2 and state['averaged_steps'] == len(trained_weights)
    expected = dict(trained_weights[0])                 # the first step is copied
    for step in trained_weights[1:]:
        expected = {name: DECAY * expected[name] + (1 - DECAY) * step[name] for name in step}
    for name, value in expected.items():
        torch.testing.assert_close(state['state_dict'][f'depth_net.{name}'], value)
        assert torch.equal(state['training_state_dict'][f'depth_net.{name}'],
                           trained_weights[-1][name])
    first = next(iter(expected))
    assert not torch.allclose(expected[first], trained_weights[-1][first])   # not a copy


def test_validation_and_eval_score_the_averaged_weights(tiny_config):
    run_dir, metrics = run_module.train(tiny_config, ['arch.ema_decay', str(DECAY),
                                                      'arch.max_epochs', '1', 'name', 'ema'])
    _, plain = run_module.train(tiny_config, ['arch.max_epochs', '1', 'name', 'plain'])
    assert metrics['rmse'] != pytest.approx(plain['rmse'], rel=1e-3)
    checkpoint = run_dir / 'last.ckpt'
    result = script('eval.py', '--checkpoint', checkpoint, '--split', 'val')
    assert result.returncode == 0, result.stderr
    scored = json.loads(results_paths(checkpoint, 'val')[0].read_text())
    assert scored['protocols']['batvision']['rmse'] == pytest.approx(metrics['rmse'], rel=1e-5)


@pytest.mark.slow
def test_resume_with_averaged_weights_is_exact(tiny_config):
    opts = ['arch.ema_decay', str(DECAY)]
    straight_dir, straight = run_module.train(tiny_config, [*opts, 'name', 'straight'])
    first_dir, _ = run_module.train(tiny_config, [*opts, 'arch.max_epochs', '1',
                                                  'name', 'split'])
    _, resumed = run_module.train(first_dir / 'last.ckpt', ['arch.max_epochs', '2'])
    assert resumed == straight
    a, b = (load_checkpoint(folder / 'last.ckpt') for folder in (straight_dir, first_dir))
    for key in ('state_dict', 'training_state_dict'):
        assert all(torch.equal(a[key][name], b[key][name]) for name in a[key])
    assert a['averaged_steps'] == b['averaged_steps']


@pytest.mark.parametrize('decay', ['1.0', '-0.1'])
def test_a_decay_outside_0_1_is_refused(tiny_config, decay):
    with pytest.raises(ConfigError, match='arch.ema_decay'):
        run_module.train(tiny_config, ['arch.ema_decay', decay])
