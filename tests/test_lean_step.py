"""The training step at speed: arch.compile and arch.channels_last train on CPU; loss terms are
read on the host once per log interval, with the data-wait fraction and a samples/s that
counts the wait."""
import pytest
import torch

from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import to_device
from packnet_sfm.trainers.trainer import StepWindow, Trainer
from packnet_sfm.utils.config import load_config


def one_step(tiny_config, *opts):
    trainer = Trainer(load_config(tiny_config, list(opts)), tiny_config.parent / 'run',
                      SingleProcess())
    before = [p.detach().clone() for p in trainer.model.parameters()]
    batch = trainer.to_device(next(iter(trainer.train_loader)))
    terms = trainer.train_step(batch, epoch=0)
    changed = any(not torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    return trainer, batch, terms, changed


def test_channels_last_trains_a_step(tiny_config):
    trainer, batch, terms, changed = one_step(tiny_config, 'arch.channels_last', 'true')
    assert batch['audio'].is_contiguous(memory_format=torch.channels_last)
    conv = trainer.model.depth_net.unet.down[0]
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert changed and torch.isfinite(terms['loss'])


@pytest.mark.slow
def test_compiled_model_trains_a_step_on_cpu(tiny_config):
    trainer, _, terms, changed = one_step(tiny_config, 'arch.compile', 'true')
    assert changed and torch.isfinite(terms['loss'])
    assert all('_orig_mod' not in name for name in trainer.model.state_dict())


def test_step_terms_stay_on_the_device_as_tensors(tiny_config):
    _, _, terms, _ = one_step(tiny_config)
    assert all(torch.is_tensor(value) and not value.requires_grad for value in terms.values())


def test_step_window_reads_means_rates_and_its_steps(monkeypatch):
    clock = iter([10.0, 14.0])
    monkeypatch.setattr('packnet_sfm.trainers.trainer.time.perf_counter', lambda: next(clock))
    window = StepWindow(first_step=20)
    window.add({'loss': torch.tensor(1.0)}, samples=8, waited=1.0)
    window.add({'loss': torch.tensor(3.0)}, samples=8, waited=0.0)
    assert window.means() == {'loss': 2.0}
    assert window.rates() == (4.0, 0.25)          # 16 samples in 4 s, 1 s of it waiting
    assert window.span() == 'steps 20-21'


def test_training_logs_data_wait_and_samples_per_sec(tiny_config, monkeypatch):
    logged = {}
    trainer = Trainer(load_config(tiny_config, ['arch.max_epochs', '1', 'log.every_n_steps',
                                                '1']), tiny_config.parent / 'w', SingleProcess())
    real = trainer.logger.scalars

    def record(values, step, prefix=''):
        logged.update({prefix + k: v for k, v in values.items()})
        real(values, step, prefix)

    monkeypatch.setattr(trainer.logger, 'scalars', record)
    trainer.fit()
    assert 0.0 <= logged['train/data_wait'] < 1.0 and logged['train/samples_per_sec'] > 0
    assert isinstance(logged['train/loss'], float)


def test_evaluation_without_the_training_loss_unless_asked(tiny_config):
    trainer = Trainer(load_config(tiny_config), tiny_config.parent / 'e', SingleProcess())
    batch = to_device(next(iter(trainer.val_loaders['BatvisionV2-val'])), trainer.device)
    trainer.model.eval()
    output = trainer.model.evaluation_output(batch)
    assert 'loss' not in output and output['depth'].shape == output['gt'].shape
    metrics = trainer.validate(0)['BatvisionV2-val']
    assert 'loss' not in metrics
    trainer.cfg.evaluation.with_loss = True
    assert trainer.validate(0)['BatvisionV2-val']['loss'] > 0
