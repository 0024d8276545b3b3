"""A trained model as one graph from its raw inputs to depth in metres, to run (scripts/infer.py)
or export (scripts/export.py: ONNX, TorchScript). For echo models the graph starts at the cut
binaural waveform [B, 2, T]: the audio front end (STFT / mel, resize, preprocessing) is part
of it. ONNX files carry the run's config, so inference needs nothing else."""
import json

import torch
from torch import nn

from packnet_sfm.datasets.audio import EARS, echo_samples
from packnet_sfm.datasets.builder import input_size, training_options
from packnet_sfm.networks.features import INPUT_CHANNELS
from packnet_sfm.networks.layers.audio_frontend import AudioFrontEnd
from packnet_sfm.utils.config import to_dict
from packnet_sfm.utils.errors import InputError

EXPORT_FORMATS = ('onnx', 'torchscript')
CONFIG_KEY = 'packnet_sfm_config'       # ONNX metadata holding the run's config as JSON


class DepthPredictor(nn.Module):
    """`model` (a trained SemiSupModel) from raw inputs, in the order of its network's
    `input_keys` (None for an optional one, e.g. missing input depth), to depth [B, 1, H, W]
    in metres. Echo networks take the cut waveform."""

    def __init__(self, model, cfg):
        super().__init__()
        self.model, self.input_keys = model, tuple(model.depth_net.input_keys)
        self.frontend = None
        if 'audio' in self.input_keys and model.audio_frontend is None:
            options = training_options(cfg)
            self.frontend = AudioFrontEnd(options['audio_format'], options['image_size'],
                                          options['preprocessing'])
        self.eval()

    def forward(self, *inputs):
        batch = dict(zip(self.input_keys, inputs))
        if self.frontend is not None:
            batch['audio'] = self.frontend(batch['audio'])
        return self.model.predict(batch)['depth'][0]

    def example_inputs(self, cfg, batch_size=1):
        """Zero inputs of the shapes the network was trained on."""
        if 'audio' in self.input_keys:
            return (torch.zeros(batch_size, EARS,
                                echo_samples(training_options(cfg)['max_depth'])),)
        (height, width), _ = input_size(cfg)
        return tuple(torch.zeros(batch_size, INPUT_CHANNELS[key], height, width)
                     for key in self.input_keys)


def export(predictor, cfg, path, fmt):
    """Write `predictor` as ONNX (batch size free, the config in its metadata) or TorchScript."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"Unknown --format {fmt}; use one of {', '.join(EXPORT_FORMATS)}")
    inputs = predictor.example_inputs(cfg, batch_size=2)
    if fmt == 'torchscript':
        torch.jit.save(torch.jit.trace(predictor, inputs, check_trace=False), str(path))
        return
    batch = torch.export.Dim('batch')
    program = torch.onnx.export(predictor, inputs, dynamo=True, verbose=False,
                                input_names=list(predictor.input_keys), output_names=['depth'],
                                dynamic_shapes=(tuple({0: batch} for _ in inputs),))
    program.model.metadata_props[CONFIG_KEY] = json.dumps(to_dict(cfg))
    program.save(str(path))
