"""The BatVision audio features as a module, run on the model's device."""
from torch import nn

from packnet_sfm.datasets.audio import audio_features
from packnet_sfm.utils.config import ConfigError

FEATURES_ON = ('loader', 'device')


class AudioFrontEnd(nn.Module):
    """Cut binaural waveforms [B, 2, T] -> the network's audio input, batched on the device
    the model runs on: the per-sample recipe of `datasets/audio.py`, equal to the loader's
    features up to float rounding (tests/test_audio_frontend.py states the tolerance)."""

    def __init__(self, audio_format, image_size, preprocessing):
        super().__init__()
        self.audio_format, self.image_size = audio_format, image_size
        self.preprocessing = preprocessing

    @classmethod
    def from_config(cls, cfg):
        """The front end when `datasets.batvision.features_on` is 'device', else None."""
        node = cfg.datasets.batvision
        if node.features_on not in FEATURES_ON:
            raise ConfigError(f"datasets.batvision.features_on is '{node.features_on}'; use one "
                              f"of {', '.join(FEATURES_ON)}")
        if node.features_on == 'loader' or node.audio_format == 'waveform':
            return None
        return cls(node.audio_format, node.image_size, node.preprocessing)

    def forward(self, waveform):
        return audio_features(waveform, self.audio_format, self.image_size, self.preprocessing)

    def extra_repr(self):
        return f'{self.audio_format}, {self.image_size}, {self.preprocessing}'
