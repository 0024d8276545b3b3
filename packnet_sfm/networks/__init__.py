"""Depth and pose networks, built by class name from the config."""
from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.audio import AUDIO_FORMATS, audio_channels
from packnet_sfm.utils.config import ConfigError
from packnet_sfm.utils.load import accepted_kwargs, load_class

DEPTH_NETS = 'packnet_sfm.networks.depth'


def build_depth_net(cfg, **context):
    """Build `cfg.model.depth_net.name` with its config sub-node as keyword arguments.

    `context` holds values the run derives rather than configures (`max_depth`, the output
    range in the units of the batch depth, and `depth_scale`, metres per such unit); each is
    passed only when the network's constructor names it.
    """
    name = cfg.model.depth_net.name
    cls = load_class(name, DEPTH_NETS, 'model.depth_net.name')
    params = dict(cfg.model.depth_net.get(name, {}))
    check_counts(name, params)
    return cls(**params, **accepted_kwargs(cls, context))


def check_counts(name, params):
    """A ConfigError naming the key when a count or width (an integer option whose default is
    at least 1: channels, heads, layers, bins) is below 1."""
    defaults = get_cfg_defaults().model.depth_net.get(name, {})
    for key, value in params.items():
        default = defaults.get(key)
        if type(default) is int and default >= 1 and value < 1:
            raise ConfigError(f'model.depth_net.{name}.{key} must be >= 1, got {value}')


def check_input_size(net, size, key):
    """A ConfigError naming `key` when the input sides `size` are not multiples of the
    network's `input_multiple` (networks without one take any size)."""
    multiple = getattr(net, 'input_multiple', 1)
    if any(side % multiple for side in size):
        raise ConfigError(f"{key} {list(size)} does not suit {type(net).__name__}, whose input "
                          f"sides must be multiples of {multiple}; change {key} or the network")


def check_audio_channels(net, audio_format):
    """A ConfigError naming both keys when the features of `audio_format` have another number
    of channels than the network's `audio_channels` reads (other networks are not checked)."""
    reads, given = getattr(net, 'audio_channels', None), audio_channels(audio_format)
    if reads is not None and reads != given:
        formats = ', '.join(f for f in AUDIO_FORMATS if audio_channels(f) == reads)
        raise ConfigError(f"datasets.batvision.audio_format '{audio_format}' gives {given} audio "
                          f"channels and model.depth_net {type(net).__name__} reads {reads}: "
                          f"choose a format with {reads} ({formats}), or a network that reads "
                          f"{given} (EchoDelayNet: interaural; UNetSoundOnly: input_nc)")
