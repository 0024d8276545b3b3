"""Audio features on the model's device (`datasets.batvision.features_on: device`): the loader
yields cut waveforms and the model's AudioFrontEnd computes the features batched; they equal
the loader's per-sample features to 1e-5 of their largest value (float32 rounding of the same
operations in another order)."""
import os

import pytest
import torch

from packnet_sfm.datasets.audio import PREPROCESSINGS, audio_features
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.networks.layers.audio_frontend import AudioFrontEnd
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.config import ConfigError, load_config

REAL_ROOT = os.path.join(os.path.dirname(__file__), 'data', 'batvision_v2_real_sample')
TOLERANCE = 1e-5


@pytest.mark.parametrize('preprocessing', PREPROCESSINGS)
@pytest.mark.parametrize('audio_format, channels', [('spectrogram', 2), ('mel_spectrogram', 2),
                                                   ('mel_spectrogram_gcc', 3)])
def test_batched_front_end_equals_the_per_sample_features(audio_format, channels, preprocessing):
    real = BatvisionV2Dataset(REAL_ROOT, audio_format='waveform')[0]['audio']
    generator = torch.Generator().manual_seed(0)
    batch = torch.stack([real, 0.01 * torch.randn(real.shape, generator=generator), real * 3])
    frontend = AudioFrontEnd(audio_format, 128, preprocessing)
    batched = frontend(batch)
    per_sample = torch.stack([audio_features(w, audio_format, 128, preprocessing) for w in batch])
    assert batched.shape == (3, channels, 128, 128)
    scale = per_sample.abs().amax(dim=(1, 2, 3), keepdim=True)
    assert ((batched - per_sample).abs() / scale).max() < TOLERANCE


def test_the_loader_path_and_the_device_path_train_on_the_same_input(tiny_config):
    cfg = load_config(tiny_config, ['datasets.train.shuffle', 'false'])
    loader_trainer = Trainer(cfg, tiny_config.parent / 'a', SingleProcess())
    device_cfg = load_config(tiny_config, ['datasets.train.shuffle', 'false',
                                           'datasets.batvision.features_on', 'device'])
    device_trainer = Trainer(device_cfg, tiny_config.parent / 'b', SingleProcess())
    features = next(iter(loader_trainer.train_loader))['audio']
    waveforms = next(iter(device_trainer.train_loader))['audio']
    assert waveforms.shape == (4, 2, 7782) and features.shape == (4, 2, 128, 128)
    computed = device_trainer.model.network_inputs({'audio': waveforms})['audio']
    torch.testing.assert_close(computed, features, rtol=0, atol=TOLERANCE * features.abs().max())
    assert loader_trainer.model.audio_frontend is None


def test_unknown_features_on_is_a_config_error(tiny_config):
    with pytest.raises(ConfigError, match='datasets.batvision.features_on'):
        Trainer(load_config(tiny_config, ['datasets.batvision.features_on', 'gpu']),
                tiny_config.parent / 'c', SingleProcess())
