"""Config merge: YAML then overrides, unknown keys with suggestions, type checks."""
import pytest
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.utils.checkpoint import save_checkpoint
from packnet_sfm.utils.config import ConfigError, load_config, merge_opts, to_dict


def write_yaml(tmp_path, text):
    path = tmp_path / 'run.yaml'
    path.write_text(text)
    return path


def test_yaml_then_overrides_are_merged(tmp_path):
    path = write_yaml(tmp_path, 'arch:\n  max_epochs: 3\nmodel:\n  optimizer:\n    lr: 0.01\n')
    cfg = load_config(path, ['arch.max_epochs', '7', 'model.loss.supervised_method',
                             'sparse-silog'])
    assert cfg.arch.max_epochs == 7
    assert cfg.model.optimizer.lr == 0.01
    assert cfg.model.loss.supervised_method == 'sparse-silog'
    assert cfg.arch.seed == get_cfg_defaults().arch.seed


def test_loss_hyperparameters_are_namespaced():
    cfg = merge_opts(get_cfg_defaults(), ['model.loss.scale_adaptive.lambda_sg', '0.3',
                                          'model.loss.combined.l1_weight', '0.5'])
    assert cfg.model.loss.scale_adaptive.lambda_sg == 0.3
    assert cfg.model.loss.combined.l1_weight == 0.5
    assert cfg.model.loss.scale_adaptive.num_scales == 4


def test_unknown_key_names_the_key_and_close_matches(tmp_path):
    path = write_yaml(tmp_path, 'arch:\n  max_epoch: 3\n')
    with pytest.raises(ConfigError, match=r"arch\.max_epoch'.*did you mean arch\.max_epochs"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"model\.optimizer\.learning_rate"):
        merge_opts(get_cfg_defaults(), ['model.optimizer.learning_rate', '0.1'])


def test_int_is_accepted_where_a_float_is_expected():
    cfg = merge_opts(get_cfg_defaults(), ['datasets.batvision.max_depth', '80'])
    assert cfg.datasets.batvision.max_depth == 80.0
    assert isinstance(cfg.datasets.batvision.max_depth, float)


@pytest.mark.parametrize('key,value', [('arch.max_epochs', '2.5'), ('arch.max_epochs', 'ten'),
                                       ('datasets.batvision.depth_norm', '3'),
                                       ('model.optimizer.lr', 'fast')])
def test_wrong_type_is_an_error_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=key.replace('.', r'\.') + r"' .*expects"):
        merge_opts(get_cfg_defaults(), [key, value])


def test_section_given_a_value_and_odd_overrides_are_errors():
    with pytest.raises(ConfigError, match='is a section'):
        merge_opts(get_cfg_defaults(), ['model.optimizer', '3'])
    with pytest.raises(ConfigError, match='KEY VALUE pairs'):
        merge_opts(get_cfg_defaults(), ['arch.seed'])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match='does not exist'):
        load_config(tmp_path / 'nope.yaml')


def test_config_round_trips_through_a_weights_only_checkpoint(tmp_path):
    cfg = merge_opts(get_cfg_defaults(), ['name', 'stored', 'datasets.train.path', "['/x']"])
    save_checkpoint({'config': to_dict(cfg)}, tmp_path / 'a.ckpt')
    assert torch.load(tmp_path / 'a.ckpt', weights_only=True)['config']['name'] == 'stored'
    restored = load_config(tmp_path / 'a.ckpt', ['arch.seed', '5'])
    assert restored.name == 'stored'
    assert restored.datasets.train.path == ['/x']
    assert restored.arch.seed == 5
