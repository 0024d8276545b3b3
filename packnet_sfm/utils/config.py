"""Configuration: a YAML (or a checkpoint's stored config) merged over configs/default_config.py,
then `KEY VALUE` overrides. A YAML may start with `_BASE_: other.yaml` (relative to the file):
the base chain is merged first, so the file holds only what it changes. Unknown keys and wrong
types fail with the key, the file, the closest known keys and what was expected; an int is
accepted where the default is a float."""
import difflib
from pathlib import Path

import yaml
from yacs.config import CfgNode

from configs.default_config import SplitOptions, get_cfg_defaults
from packnet_sfm.utils.errors import InputError


class ConfigError(InputError):
    """A configuration key or value that cannot be used."""


def check_minimums(values, minimums, prefix=''):
    """A ConfigError naming `prefix`.KEY for the first value below its minimum; `minimums` maps
    KEY (dotted into nested `values`) to the smallest value it may take."""
    for key, minimum in minimums.items():
        value = values
        for part in key.split('.'):
            value = value[part]
        if value < minimum:
            name = f'{prefix}.{key}' if prefix else key
            raise ConfigError(f'{name} must be >= {minimum}, got {value}')


def check_interval(name, value, low, high, high_included=True, note=''):
    """A ConfigError naming `name` unless low <= value <= high (< high unless
    `high_included`); `note` follows the interval in the message."""
    if low <= value and (value <= high if high_included else value < high):
        return
    raise ConfigError(f"{name} must be in [{low:g}, {high:g}{']' if high_included else ')'}"
                      f'{note}, got {value}')


def check_choice(name, value, choices):
    """A ConfigError naming `name` unless `value` is one of `choices`."""
    if value not in choices:
        raise ConfigError(f"{name} is '{value}'; use one of {', '.join(map(str, choices))}")


def check_numbers(key, values, defaults, zero_counts=()):
    """A ConfigError naming `key`.NAME when a count (an integer whose default is at least 1:
    channels, heads, layers, scales) is below 1, or a number whose default is not negative (a
    weight, a depth, a rate, a count named in `zero_counts`) is negative."""
    numeric = {name: default for name, default in defaults.items()
               if name in values and type(default) in (int, float) and default >= 0}
    check_minimums(values, {name: int(type(default) is int and default >= 1
                                      and name not in zero_counts)
                            for name, default in numeric.items()}, key)


def full_keys(cfg, prefix=''):
    """Every leaf key of a config as a dotted path."""
    keys = []
    for key, value in cfg.items():
        path = f'{prefix}{key}'
        keys.extend(full_keys(value, path + '.') if isinstance(value, CfgNode) else [path])
    return keys


def split_overrides(words):
    """(items, overrides) of the words an nargs='+' option took: argparse gives such an option
    every word up to the next option, so KEY VALUE overrides written after it arrive among
    them. They start at the first config key: a key of the default config, or a dotted word
    that is not a path (no '/', no .yaml / .yml suffix), so a mistyped key still reaches the
    config's own error."""
    keys = set(full_keys(get_cfg_defaults()))

    def is_key(word):
        return word in keys or ('.' in word and '/' not in word
                                and not word.endswith(('.yaml', '.yml')))
    first = next((i for i, word in enumerate(words) if is_key(word)), len(words))
    return list(words[:first]), list(words[first:])


def _unknown_key_error(cfg_root, full_key, source):
    close = difflib.get_close_matches(full_key, full_keys(cfg_root), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ''
    return ConfigError(f"Unknown config key '{full_key}' (from {source}){hint}")


def _coerce(value, default, full_key, source):
    """Return `value` converted to the type of `default`, or raise ConfigError."""
    if default is None or value is None:
        return value
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return type(default)(value)
    if isinstance(default, bool) != isinstance(value, bool) or not isinstance(value, type(default)):
        raise ConfigError(
            f"Config key '{full_key}' (from {source}) expects {type(default).__name__} "
            f"like {default!r}, got {type(value).__name__} {value!r}")
    return value


def _merge(cfg, data, cfg_root, source, prefix=''):
    for key, value in data.items():
        full_key = f'{prefix}{key}'
        if isinstance(cfg, SplitOptions):
            if key not in cfg.defaults:
                close = difflib.get_close_matches(key, list(cfg.defaults), n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(prefix + k for k in close)}?" if close else ''
                raise ConfigError(f"Unknown config key '{full_key}' (from {source}){hint}")
            cfg[key] = _coerce(value, cfg.defaults[key], full_key, source)
            continue
        if key not in cfg:
            raise _unknown_key_error(cfg_root, full_key, source)
        if isinstance(cfg[key], CfgNode):
            if not isinstance(value, dict):
                raise ConfigError(f"Config key '{full_key}' (from {source}) is a section; "
                                  f"give its keys, not {value!r}")
            _merge(cfg[key], value, cfg_root, source, full_key + '.')
        else:
            cfg[key] = _coerce(value, cfg[key], full_key, source)


def merge_dict(cfg, data, source='dict'):
    """Merge a nested dict into `cfg` in place, checking every key and type."""
    _merge(cfg, data, cfg, source)
    return cfg


def merge_opts(cfg, opts):
    """Merge `[KEY, VALUE, KEY, VALUE, ...]` command-line overrides (values parsed as YAML)."""
    if len(opts) % 2:
        raise ConfigError(f"Overrides come in KEY VALUE pairs; '{opts[-1]}' has no value")
    for key, text in zip(opts[::2], opts[1::2]):
        value = parse_yaml(text, f"the value of '{key}' (from command line)",
                           "quote it, e.g. \"['a', 'b']\"") if isinstance(text, str) else text
        *parents, leaf = key.split('.')
        nested = {leaf: value}
        for parent in reversed(parents):
            nested = {parent: nested}
        _merge(cfg, nested, cfg, 'command line')
    return cfg


def to_dict(cfg):
    """A config as plain nested dicts and lists (safe for torch.load(weights_only=True))."""
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, tuple):
        return [to_dict(v) for v in cfg]
    return cfg


BASE_KEY = '_BASE_'


def parse_yaml(text, what, fix):
    """`text` parsed as YAML, or one ConfigError naming `what`, where and `fix`."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, 'problem_mark', None)
        where = f' at line {mark.line + 1}, column {mark.column + 1}' if mark else ''
        problem = getattr(error, 'problem', None) or type(error).__name__
        raise ConfigError(f"{what} is not valid YAML ({problem}{where}); {fix}") from None


def read_yaml_chain(path, children=()):
    """[(path, data), ...] of a YAML file and its `_BASE_` ancestors, the root base first."""
    path = Path(path)
    if not path.is_file():
        child = f" (the {BASE_KEY} of '{children[-1]}')" if children else ''
        raise ConfigError(f"Config file '{path}'{child} does not exist")
    if path.resolve() in [child.resolve() for child in children]:
        chain = ' -> '.join(str(p) for p in (*children, path))
        raise ConfigError(f"{BASE_KEY} cycle: {chain}; remove one of these {BASE_KEY} lines")
    try:
        text = path.read_text(encoding='utf-8')
    except UnicodeDecodeError:
        raise ConfigError(f"Config file '{path}' is not UTF-8 text; give a YAML file") from None
    data = parse_yaml(text, f"Config file '{path}'", 'fix that line') or {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file '{path}' must hold a mapping of keys")
    base = data.pop(BASE_KEY, None)
    if base is None:
        return [(path, data)]
    if not isinstance(base, str):
        raise ConfigError(f"{BASE_KEY} in '{path}' must be one file name, not {base!r}")
    return read_yaml_chain(path.parent / base, (*children, path)) + [(path, data)]


def load_config(path, opts=()):
    """Defaults, then a YAML file (after its bases) or the config stored in a checkpoint,
    then overrides."""
    path = Path(path)
    if path.is_dir():
        last = path / 'last.ckpt'
        hint = f"; its last checkpoint is '{last}'" if last.is_file() else ''
        raise ConfigError(f"'{path}' is a folder; give a config or checkpoint file{hint}")
    cfg = get_cfg_defaults()
    if path.suffix == '.ckpt':
        from packnet_sfm.utils.checkpoint import load_checkpoint
        merge_dict(cfg, load_checkpoint(path)['config'], source=str(path))
    else:
        for source, data in read_yaml_chain(path):
            merge_dict(cfg, data, source=str(source))
    merge_opts(cfg, list(opts))
    return cfg


def dump(cfg):
    """YAML text of a config."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)
