"""Models (what is optimised), built by class name from `model.name`."""
from yacs.config import CfgNode

from packnet_sfm.networks import check_audio_channels, check_input_size
from packnet_sfm.utils.load import load_class

MODELS = 'packnet_sfm.models'


def build_model(cfg, depth_scale, max_depth):
    """Build `cfg.model.name`. `depth_scale` converts the batch depth to metres; `max_depth` is
    the largest depth in batch units (the depth network's output range)."""
    from packnet_sfm.datasets.builder import input_size, training_options

    model_class = load_class(cfg.model.name, MODELS, 'model.name')
    model = model_class.from_config(cfg, depth_scale=depth_scale, max_depth=max_depth)
    size = input_size(cfg)
    if size is not None:
        check_input_size(model.depth_net, *size)
    audio_format = training_options(cfg).get('audio_format')
    if audio_format is not None:
        check_audio_channels(model.depth_net, audio_format)
    return model


def architecture_config(cfg):
    """A copy of `cfg` that rebuilds the model's layers without reading initial weights, for a
    checkpoint that holds them all (evaluation, inference, resume): ImageNet 'pt' versions
    become 'nt' (the same layers) and every `pretrained_path` is cleared."""
    cfg = cfg.clone()
    nodes = [cfg.model]
    while nodes:
        node = nodes.pop()
        nodes.extend(value for value in node.values() if isinstance(value, CfgNode))
        if 'pretrained_path' in node:
            node.pretrained_path = ''
            if str(node.get('version', '')).endswith('pt'):
                node.version = node.version[:-2] + 'nt'
    return cfg


def load_trained_model(cfg, checkpoint_path, device='cpu'):
    """The model of `cfg` with the weights of a training checkpoint, in eval mode (no initial
    weights file is read: see `architecture_config`)."""
    from packnet_sfm.datasets.builder import depth_units
    from packnet_sfm.utils.checkpoint import fit_weights, load_checkpoint

    model = build_model(architecture_config(cfg), *depth_units(cfg))
    fit_weights(model, load_checkpoint(checkpoint_path)['state_dict'], checkpoint_path,
                'use the config it was trained with')
    return model.to(device).eval()
