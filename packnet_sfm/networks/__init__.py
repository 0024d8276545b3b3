"""Depth and pose networks, built by class name from the config."""
from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.audio import AUDIO_FORMATS, audio_channels
from packnet_sfm.utils.config import ConfigError, check_numbers
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
    check_numbers(f'model.depth_net.{name}', params,
                  get_cfg_defaults().model.depth_net.get(name, {}),
                  zero_counts=getattr(cls, 'zero_counts', ()))
    return cls(**params, **accepted_kwargs(cls, context))


def check_input_size(net, size, key):
    """A ConfigError naming `key` when the input sides `size` are not multiples of the
    network's `input_multiple` (networks without one take any size)."""
    multiple = getattr(net, 'input_multiple', 1)
    if len(size) != 2 or min(size) < 1:
        raise ConfigError(f'{key} {list(size)} must be [height, width], both positive')
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
