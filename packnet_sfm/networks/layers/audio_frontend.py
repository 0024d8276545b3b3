"""The BatVision audio features as a module, run on the model's device, with the echo
augmentation that only this path can apply (it needs the waveform)."""
import torch
from torch import nn

from packnet_sfm.datasets.audio import audio_features
from packnet_sfm.datasets.augmentation import mirror_batch
from packnet_sfm.utils.config import ConfigError

FEATURES_ON = ('loader', 'device')


class EchoAugmentation(nn.Module):
    """Training-time changes of binaural waveforms [B, 2, T], drawn per sample from torch's
    generator (identity in eval mode). Two keep the depth map:

    - a gain per ear, uniform in +-`gain_db` dB and independent between the ears: microphone
      sensitivities differ between rigs, which changes the interaural level difference a little;
    - a delay of the whole recording by a whole number of samples, uniform in +-`shift_samples`
      (zeros fill what the shift uncovers): the latency between the chirp and the recording
      differs between rigs. One sample is 340 / 44100 / 2 = 3.9 mm of echo distance, so a shift
      of 16 samples (one spectrogram hop) moves every echo by 6 cm.

    One, `mirror`, changes the whole sample: with probability `mirror_prob` the recording and
    its maps become those of the mirrored world, where the left ear hears what the right ear
    heard and every map is flipped left-right (the rig is left-right symmetric).

    One, `mask_frequencies`, acts on the features (SpecAugment's frequency mask, Park et al.
    2019): a band of up to `freq_mask_rows` frequency rows, the same in both ears, set to 0
    (the standardised mean), so no single band can carry the prediction.
    """

    def __init__(self, gain_db=0.0, shift_samples=0, mirror_prob=0.0, freq_mask_rows=0):
        super().__init__()
        if gain_db < 0 or shift_samples < 0 or freq_mask_rows < 0:
            raise ConfigError('datasets.augmentation.echo_gain_db, .echo_shift_samples and '
                              '.echo_freq_mask_rows must be >= 0, got '
                              f'{gain_db}, {shift_samples} and {freq_mask_rows}')
        if not 0.0 <= mirror_prob <= 1.0:
            raise ConfigError('datasets.augmentation.echo_mirror_prob must be in [0, 1], got '
                              f'{mirror_prob}')
        self.gain_db, self.shift_samples = float(gain_db), int(shift_samples)
        self.mirror_prob, self.freq_mask_rows = float(mirror_prob), int(freq_mask_rows)

    @property
    def enabled(self):
        return (self.gain_db > 0 or self.shift_samples > 0 or self.mirror_prob > 0
                or self.freq_mask_rows > 0)

    def mirror(self, batch):
        """`batch` with each sample replaced by its mirror image with probability
        `mirror_prob` (datasets.augmentation.mirror_batch)."""
        if not (self.training and self.mirror_prob > 0):
            return batch
        return mirror_batch(batch, torch.rand(batch['audio'].shape[0]) < self.mirror_prob)

    def forward(self, waveform):
        if not (self.training and self.enabled):
            return waveform
        batch, ears, length = waveform.shape
        if self.gain_db > 0:
            decibels = (2 * torch.rand(batch, ears, 1) - 1) * self.gain_db
            waveform = waveform * (10.0 ** (decibels / 20.0)).to(waveform)
        if self.shift_samples > 0:
            shifts = torch.randint(-self.shift_samples, self.shift_samples + 1, (batch, 1, 1))
            source = torch.arange(length).view(1, 1, length) - shifts     # sample read
            inside = ((source >= 0) & (source < length)).to(waveform.device)
            source = source.clamp(0, length - 1).expand(batch, ears, length)
            waveform = torch.gather(waveform, 2, source.to(waveform.device)) * inside
        return waveform

    def mask_frequencies(self, features):
        """Features [B, 2, F, T] with one band of 0 to `freq_mask_rows` rows per sample set
        to 0 in both ears (in training)."""
        if not (self.training and self.freq_mask_rows > 0):
            return features
        batch, rows = features.shape[0], features.shape[2]
        widths = torch.randint(0, self.freq_mask_rows + 1, (batch, 1))
        starts = (torch.rand(batch, 1) * (rows - widths + 1)).long()
        row = torch.arange(rows).view(1, rows)
        masked = (row >= starts) & (row < starts + widths)
        return features.masked_fill(masked.view(batch, 1, rows, 1).to(features.device), 0.0)

    def extra_repr(self):
        return (f'gain_db={self.gain_db}, shift_samples={self.shift_samples}, '
                f'mirror_prob={self.mirror_prob}, freq_mask_rows={self.freq_mask_rows}')


class AudioFrontEnd(nn.Module):
    """Cut binaural waveforms [B, 2, T] -> the network's audio input, batched on the device
    the model runs on: the per-sample recipe of `datasets/audio.py`, equal to the loader's
    features up to float rounding (tests/test_audio_frontend.py states the tolerance), after
    the echo augmentation in training."""

    def __init__(self, audio_format, image_size, preprocessing, augmentation=None):
        super().__init__()
        self.audio_format, self.image_size = audio_format, image_size
        self.preprocessing = preprocessing
        self.augmentation = augmentation or EchoAugmentation()

    @classmethod
    def from_config(cls, cfg):
        """The front end when `datasets.batvision.features_on` is 'device', else None."""
        node = cfg.datasets.batvision
        if node.features_on not in FEATURES_ON:
            raise ConfigError(f"datasets.batvision.features_on is '{node.features_on}'; use one "
                              f"of {', '.join(FEATURES_ON)}")
        echo = cfg.datasets.augmentation
        augmentation = EchoAugmentation(echo.echo_gain_db, echo.echo_shift_samples,
                                        echo.echo_mirror_prob, echo.echo_freq_mask_rows)
        if node.features_on == 'loader' or node.audio_format == 'waveform':
            if augmentation.enabled:
                raise ConfigError('datasets.augmentation.echo_gain_db / echo_shift_samples / '
                                  'echo_mirror_prob / echo_freq_mask_rows act in the model: set '
                                  'datasets.batvision.features_on device and a spectrogram '
                                  'audio_format')
            return None
        return cls(node.audio_format, node.image_size, node.preprocessing, augmentation)

    def forward(self, waveform):
        features = audio_features(self.augmentation(waveform), self.audio_format,
                                  self.image_size, self.preprocessing)
        return self.augmentation.mask_frequencies(features)

    def extra_repr(self):
        return f'{self.audio_format}, {self.image_size}, {self.preprocessing}'
