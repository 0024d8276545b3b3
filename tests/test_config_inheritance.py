"""`_BASE_` config inheritance: chains, overrides, nested merges, cycles; the rewritten
configs under configs/ load to what they held before the rewrite."""
import json
import re
from pathlib import Path

import pytest

from configs.default_config import get_cfg_defaults
from packnet_sfm.utils.config import ConfigError, load_config, merge_dict

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = json.loads((ROOT / 'tests' / 'data' / 'configs_before_inheritance.json').read_text())


def write(folder, name, text):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_chain_child_keys_override_and_sections_merge_key_by_key(tmp_path):
    write(tmp_path, 'root.yaml', 'arch: {max_epochs: 3, seed: 5}\n'
                                 'model: {optimizer: {name: SGD, lr: 0.1}}\n')
    write(tmp_path, 'sub/middle.yaml', '_BASE_: ../root.yaml\nmodel: {optimizer: {lr: 0.2}}\n')
    leaf = write(tmp_path, 'sub/leaf.yaml', '_BASE_: middle.yaml\narch: {max_epochs: 7}\n')
    cfg = load_config(leaf, ['arch.seed', '9'])
    assert cfg.arch.max_epochs == 7                 # the child wins
    assert cfg.model.optimizer.lr == 0.2            # the middle file wins over the root
    assert cfg.model.optimizer.name == 'SGD'        # ... and keeps the root's other keys
    assert cfg.arch.seed == 9                       # command line last
    assert cfg.model.optimizer.weight_decay == get_cfg_defaults().model.optimizer.weight_decay


def test_a_cycle_is_an_error_naming_the_files(tmp_path):
    write(tmp_path, 'a.yaml', '_BASE_: b.yaml\n')
    write(tmp_path, 'b.yaml', '_BASE_: a.yaml\n')
    with pytest.raises(ConfigError, match=r"_BASE_ cycle: .*a\.yaml -> .*b\.yaml -> .*a\.yaml"):
        load_config(tmp_path / 'a.yaml')
    write(tmp_path, 'self.yaml', '_BASE_: self.yaml\n')
    with pytest.raises(ConfigError, match=r'cycle: .*self\.yaml -> .*self\.yaml'):
        load_config(tmp_path / 'self.yaml')


def test_missing_base_and_bad_keys_name_their_file(tmp_path):
    write(tmp_path, 'child.yaml', '_BASE_: gone.yaml\n')
    with pytest.raises(ConfigError, match=r"gone\.yaml' \(the _BASE_ of '.*child\.yaml'\) does "
                                          r"not exist"):
        load_config(tmp_path / 'child.yaml')
    write(tmp_path, 'base.yaml', 'arch: {max_epoch: 3}\n')
    write(tmp_path, 'ok.yaml', '_BASE_: base.yaml\n')
    with pytest.raises(ConfigError, match=r"arch\.max_epoch' \(from .*base\.yaml\)"):
        load_config(tmp_path / 'ok.yaml')
    write(tmp_path, 'two.yaml', '_BASE_: [a.yaml, b.yaml]\n')
    with pytest.raises(ConfigError, match='must be one file name'):
        load_config(tmp_path / 'two.yaml')


@pytest.mark.parametrize('name', sorted(SNAPSHOT))
def test_rewritten_config_loads_to_what_it_held_before_the_rewrite(name):
    """The snapshot is each configs/*.yaml as of the rewrite to `_BASE_` inheritance (its own
    data, before merging with the defaults); merged over today's defaults it must equal what
    the rewritten file loads to, so the rewrite changed no run."""
    expected = merge_dict(get_cfg_defaults(), SNAPSHOT[name], source=f'snapshot of {name}')
    assert load_config(ROOT / 'configs' / name) == expected


def test_variants_hold_only_what_they_change():
    with_base = {path.name for path in (ROOT / 'configs').glob('*.yaml')
                 if re.search(r'^_BASE_:', path.read_text(), re.MULTILINE)}
    assert len(with_base) == 13
    l1 = (ROOT / 'configs' / 'train_unet_batvision_v1_l1.yaml').read_text()
    assert '_BASE_: train_unet_batvision_v1.yaml' in l1 and len(l1.splitlines()) == 6
