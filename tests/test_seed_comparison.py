"""scripts/run_seed_comparison.py: the shared overrides load into each experiment config, and
the summary checks the seed 001 claims against hand-made results."""
import pytest
from conftest import REPO, load_script

from packnet_sfm.utils.config import load_config

comparison = load_script(REPO / 'scripts' / 'run_seed_comparison.py')


@pytest.mark.parametrize('name', sorted(comparison.EXPERIMENTS))
def test_every_experiment_gets_the_same_data_size_and_budget(name):
    args = comparison.parse_args(['--epochs', '12', '--data', 'd/v2', '--batch-size', '4'])
    cfg = load_config(REPO / comparison.EXPERIMENTS[name][0], comparison.overrides(args, name))
    assert cfg.arch.max_epochs == 12 and cfg.datasets.batvision.image_size == 128
    assert cfg.datasets.batvision.preprocessing == 'improved'
    assert [cfg.datasets[s].path for s in ('train', 'validation', 'test')] == [['d/v2']] * 3
    assert cfg.datasets.train.batch_size == 4
    if cfg.model.name == 'BaseResidualModel':
        assert cfg.model.loss.base_residual.warmup_epochs == 3     # a quarter, as 20 of 80
        assert cfg.model.depth_net.BaseResidualUNet.base_channels == 8


@pytest.mark.parametrize('script', ['run_seed_comparison.py', 'run_distillation_experiments.py'])
def test_a_zero_budget_is_refused_not_replaced_by_the_default(script, capsys):
    """--epochs 0 was ignored by the distillation script (falsy, so the config's 40 epochs ran)
    and made the seed comparison train nothing, then fail in eval."""
    with pytest.raises(SystemExit):
        load_script(REPO / 'scripts' / script).parse_args(['--data', 'd/v2', '--epochs', '0'])
    assert 'argument --epochs: must be >= 1, got 0' in capsys.readouterr().err


def row(name, rmse, residual=None):
    extra = {} if residual is None else {'mean_abs_residual_m': residual}
    return {'name': name, 'rmse': rmse, 'abs_rel': 0.3, 'a1': 0.5, 'parameters': 1000,
            'train_seconds': 10.0, **extra}


def test_summary_checks_the_residual_and_the_5_percent_claims():
    args = comparison.parse_args([])
    text = comparison.summary(args, [row('unet', 3.0), row('base_residual', 2.8, 0.4),
                                     row('base_residual_adaptive', 2.86, 1.2)])
    assert '| base_residual | 1,000 | 2.800 | 0.300 | 0.500 | -6.7% | 0.400 | 10 |' in text
    assert 'base_residual: mean |residual| 0.400 m < 1 m: yes' in text
    assert "base_residual: RMSE at least 5% below the U-Net's: yes (2.800 vs 3.000)" in text
    assert 'base_residual_adaptive: mean |residual| 1.200 m < 1 m: no' in text
    assert "base_residual_adaptive: RMSE at least 5% below the U-Net's: no" in text
