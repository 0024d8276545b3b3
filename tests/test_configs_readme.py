"""configs/README.md: every seed command of its tables maps to a config that exists, with
overrides that load."""
import re
import shlex
from pathlib import Path

from packnet_sfm.utils.config import load_config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / 'configs' / 'README.md').read_text()


def seed_tables():
    """{section title: [(seed command cell, 'here' cell), ...]} of the '## Seed ...' tables."""
    tables = {}
    for section in re.split(r'^## ', README, flags=re.MULTILINE)[1:]:
        title, _, body = section.partition('\n')
        if not title.startswith('Seed'):
            continue
        rows = [re.split(r'(?<!\\)\|', line)[1:-1] for line in body.splitlines()
                if line.startswith('| ') and not line.startswith('| seed')]
        tables[title] = [(seed.strip(), here.strip()) for seed, here in rows]
    return tables


def test_every_seed_table_row_maps_to_a_config_that_loads():
    tables = seed_tables()
    assert len(tables) == 5 and sum(len(rows) for rows in tables.values()) >= 40
    for title, rows in tables.items():
        config = None
        for seed, here in rows:
            assert seed and here, (title, seed)
            named = re.search(r'CONFIG=(configs/\S+\.yaml)', here)
            config = named.group(1) if named else config
            arguments = re.search(r'ARGS="([^"]*)"', here)
            if arguments:
                assert config, f'{seed}: ARGS without a config in {title}'
                text = re.sub(r'<[^>]*>', 'x', arguments.group(1).replace('$lambda', '0.3'))
                load_config(ROOT / config, shlex.split(text))
            for path in re.findall(r'configs/[\w.]+\.yaml', here):
                assert (ROOT / path).is_file(), f'{seed} -> {path}, which does not exist'


def test_the_inheritance_tree_lists_every_config_under_its_base():
    tree = README[README.index('## Inheritance'):README.index('| config | seed | what |')]
    entries = re.findall(r'^( *)(\w+\.yaml) ', tree, re.MULTILINE)
    assert sorted(name for _, name in entries) == \
        sorted(path.name for path in (ROOT / 'configs').glob('*.yaml'))
    above = []                                      # the entry at each depth above this one
    for indent, name in entries:
        depth = len(indent) // 2
        above = above[:depth] + [name]
        base = re.search(r'^_BASE_: (\S+)', (ROOT / 'configs' / name).read_text(), re.MULTILINE)
        assert (base.group(1) if base else None) == (above[-2] if depth else None), name


def named_configs(text):
    """The config paths (`configs/...yaml`, `bench/configs/...yaml`) that `text` names, with
    one brace list of the shell's expanded: `x_{a,b}.yaml` names `x_a.yaml` and `x_b.yaml`."""
    paths = []
    for path in re.findall(r'(?<![\w/])(?:bench/)?configs/[\w.{},-]+\.yaml', text):
        head, brace, rest = path.partition('{')
        if not brace:
            paths.append(path)
            continue
        choices, _, tail = rest.partition('}')
        paths += [head + choice + tail for choice in choices.split(',')]
    return paths


def test_every_config_the_echo_docs_and_script_name_exists():
    """The README, bench/echo_models.md and the script that reproduces their figures name
    only configs that exist (a renamed config must be renamed there too)."""
    named = {doc: named_configs((ROOT / doc).read_text())
             for doc in ('README.md', 'bench/echo_models.md', 'bench/echo_models.sh')}
    assert {'bench/configs/echo_delay_net_v2_wide.yaml', 'bench/configs/unet_v2_spectrogram.yaml',
            'configs/echo_best_v2.yaml'} <= set(named['bench/echo_models.sh'])
    for doc, paths in named.items():
        missing = [path for path in paths if not (ROOT / path).is_file()
                   and path != 'configs/my_run.yaml']         # the README's own-config example
        assert not missing, f'{doc} names {missing}, which do not exist'
