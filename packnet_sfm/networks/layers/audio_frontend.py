"""The BatVision audio features as a module, run on the model's device, with the echo
augmentation that only this path can apply (it needs the waveform)."""
import torch
import torch.nn.functional as F
from torch import nn

from packnet_sfm.datasets.audio import EARS, SAMPLE_RATE, audio_features
from packnet_sfm.datasets.augmentation import mirror_batch
from packnet_sfm.utils.config import ConfigError, check_interval, check_minimums

KEY = 'datasets.augmentation'
FEATURES_ON = ('loader', 'device')
EQ_BAND = (1000.0, 12000.0)         # Hz, where the rigs' resonances and notches lie


class EchoAugmentation(nn.Module):
    """Training-time changes of binaural waveforms [B, 2, T], drawn per sample from torch's
    generator (identity in eval mode). Two keep the depth map:

    - a gain per ear, uniform in +-`gain_db` dB and independent between the ears: microphone
      sensitivities differ between rigs, which changes the interaural level difference a little;
    - a delay of the whole recording by a whole number of samples, uniform in +-`shift_samples`
      (zeros fill what the shift uncovers): the latency between the chirp and the recording
      differs between rigs. One sample is 340 / 44100 / 2 = 3.9 mm of echo distance, so a shift
      of 16 samples (one spectrogram hop) moves every echo by 6 cm.
    - a bell-shaped equaliser per ear (`equalise`): up to +-`eq_db` dB at a centre frequency
      log-uniform in EQ_BAND, 0.3 to 1 octave wide, drawn independently for each ear: the
      speaker, microphone and pinna resonances and notches differ between rigs (the
      simulator draws them per location, within +-2 to 4 dB of their middle).

    Three change the whole sample (`other_worlds`): with probability `mirror_prob` the recording
    and its maps become those of the mirrored world, where the left ear hears what the right
    ear heard and every map is flipped left-right (the rig is left-right symmetric); with
    probability `mix_prob` it is heard together with another sample of the batch
    (`superpose`), a world holding the surfaces of both; and the world may be scaled by a
    factor s uniform in 1 +- `room_scale`: every distance, hence depth and every echo's delay
    after the direct sound, is multiplied by s (`stretch_delays`). The reverberation tail
    stretches with it, as Sabine's T60 (proportional to volume / area) does; the 1 / s weaker
    echoes (at most 1.2 dB for s = 1.15) and the chirp's own length (3 ms, about two feature
    columns) are not modelled.

    One, `mask_frequencies`, acts on the features (SpecAugment's frequency mask, Park et al.
    2019): a band of up to `freq_mask_rows` frequency rows, the same in both ears, set to 0
    (the standardised mean), so no single band can carry the prediction.
    """

    def __init__(self, gain_db=0.0, shift_samples=0, mirror_prob=0.0, freq_mask_rows=0,
                 room_scale=0.0, eq_db=0.0, mix_prob=0.0):
        super().__init__()
        sizes = {'echo_gain_db': gain_db, 'echo_shift_samples': shift_samples,
                 'echo_freq_mask_rows': freq_mask_rows, 'echo_eq_db': eq_db}
        check_minimums(sizes, dict.fromkeys(sizes, 0), KEY)
        check_interval(f'{KEY}.echo_mirror_prob', mirror_prob, 0, 1)
        check_interval(f'{KEY}.echo_mix_prob', mix_prob, 0, 1)
        check_interval(f'{KEY}.echo_room_scale', room_scale, 0, 1, high_included=False)
        self.gain_db, self.shift_samples = float(gain_db), int(shift_samples)
        self.mirror_prob, self.freq_mask_rows = float(mirror_prob), int(freq_mask_rows)
        self.room_scale, self.eq_db = float(room_scale), float(eq_db)
        self.mix_prob = float(mix_prob)

    @property
    def enabled(self):
        return (self.gain_db > 0 or self.shift_samples > 0 or self.mirror_prob > 0
                or self.freq_mask_rows > 0 or self.room_scale > 0 or self.eq_db > 0
                or self.mix_prob > 0)

    def other_worlds(self, batch):
        """`batch` (the batch itself in eval mode) with each sample replaced by its mirror
        image with probability `mirror_prob` (datasets.augmentation.mirror_batch), then
        superposed on another sample with probability `mix_prob`, then, when `room_scale` > 0,
        its depth multiplied by a factor drawn per sample, kept in 'room_scale' [B] for the
        features (`stretch_delays`)."""
        if not self.training:
            return batch
        samples = batch['audio'].shape[0]
        if self.mirror_prob > 0:
            batch = mirror_batch(batch, torch.rand(samples) < self.mirror_prob)
        if self.mix_prob > 0:
            batch = superpose(batch, torch.rand(samples) < self.mix_prob,
                              torch.randperm(samples))
        if self.room_scale > 0:
            scales = 1.0 + (2 * torch.rand(samples) - 1) * self.room_scale
            depth = batch['depth']
            batch = {**batch, 'room_scale': scales,
                     'depth': depth * scales.view(-1, *[1] * (depth.dim() - 1)).to(depth)}
        return batch

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
        if self.eq_db > 0:
            low, high = torch.tensor(EQ_BAND).log2()
            waveform = equalise(waveform, (2 * torch.rand(batch, ears) - 1) * self.eq_db,
                                2 ** (low + (high - low) * torch.rand(batch, ears)),
                                0.3 + 0.7 * torch.rand(batch, ears))
        return waveform

    def mask_frequencies(self, features):
        """Features [B, C, F, T] with one band of 0 to `freq_mask_rows` rows per sample set
        to 0 in both ears (in training; the first two channels: a third is not spectral)."""
        if not (self.training and self.freq_mask_rows > 0):
            return features
        batch, rows = features.shape[0], features.shape[2]
        widths = torch.randint(0, self.freq_mask_rows + 1, (batch, 1))
        starts = (torch.rand(batch, 1) * (rows - widths + 1)).long()
        row = torch.arange(rows).view(1, rows)
        masked = (row >= starts) & (row < starts + widths)
        ears = torch.arange(features.shape[1]).view(1, -1, 1, 1) < EARS
        return features.masked_fill((masked.view(batch, 1, rows, 1) & ears).to(features.device),
                                    0.0)

    def extra_repr(self):
        return (f'gain_db={self.gain_db}, shift_samples={self.shift_samples}, '
                f'mirror_prob={self.mirror_prob}, freq_mask_rows={self.freq_mask_rows}, '
                f'room_scale={self.room_scale}, eq_db={self.eq_db}, mix_prob={self.mix_prob}')


def superpose(batch, chosen, partners):
    """The batch with each sample `chosen` ([B] bool) heard together with sample
    `partners[i]`: the mean of the two waveforms (one rig, so the direct sound stays; each
    world's echoes at half their level) and, per pixel, the nearer of the two valid depths
    (the surfaces of both worlds in one, occlusion between them not modelled)."""
    audio, depth, valid = batch['audio'], batch['depth'], batch['valid']
    other_depth, other_valid = depth[partners], valid[partners]
    nearer = torch.where(valid & other_valid, torch.minimum(depth, other_depth),
                         torch.where(valid, depth, other_depth))
    where = chosen.to(audio.device)
    maps = where.view(-1, *[1] * (depth.dim() - 1))
    return {**batch,
            'audio': torch.where(where.view(-1, *[1] * (audio.dim() - 1)),
                                 (audio + audio[partners]) / 2, audio),
            'depth': torch.where(maps, nearer, depth),
            'valid': torch.where(maps, valid | other_valid, valid)}


def equalise(waveform, gain_db, centre_hz, octaves, sample_rate=SAMPLE_RATE):
    """`waveform` [B, E, T] through one zero-phase bell filter per sample and ear (all [B, E]):
    `gain_db` at `centre_hz`, falling off as a Gaussian of the distance in octaves with
    standard deviation `octaves` (applied by FFT)."""
    frequencies = torch.fft.rfftfreq(waveform.shape[-1], 1.0 / sample_rate).clamp(min=1.0)
    distance = torch.log2(frequencies / centre_hz[..., None]) / octaves[..., None]
    gain = 10.0 ** (gain_db[..., None] * torch.exp(-0.5 * distance ** 2) / 20.0)
    spectrum = torch.fft.rfft(waveform) * gain.to(waveform)
    return torch.fft.irfft(spectrum, n=waveform.shape[-1])


def stretch_delays(features, scales):
    """Features [B, C, F, T] (T: the delay axis) as recorded in each sample's world scaled by
    `scales` [B]: the delay of every column after the direct sound is multiplied by the
    sample's scale, by linear interpolation between columns; where the source runs out the
    edge column is repeated. The direct sound is the first column whose mean over the ears
    (the first two channels) reaches half-way from the first column's to the loudest
    column's (the onset: the loudest column is often a floor echo). A scale of 1 returns the
    features."""
    batch, _, rows, columns = features.shape
    column = torch.arange(columns, device=features.device, dtype=features.dtype)
    level = features[:, :EARS].mean(dim=(1, 2))                         # [B, T], the ears
    halfway = (level[:, :1] + level.amax(dim=1, keepdim=True)) / 2
    direct = (level >= halfway).to(features.dtype).argmax(dim=1, keepdim=True).to(features.dtype)
    source = direct + (column - direct) / scales.to(features).view(batch, 1)      # [B, T]
    x = (2 * source / (columns - 1) - 1).view(batch, 1, columns).expand(batch, rows, columns)
    y = torch.linspace(-1, 1, rows, device=features.device, dtype=features.dtype)
    grid = torch.stack((x, y.view(1, rows, 1).expand(batch, rows, columns)), dim=-1)
    return F.grid_sample(features, grid, mode='bilinear', padding_mode='border',
                         align_corners=True)


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
                                        echo.echo_mirror_prob, echo.echo_freq_mask_rows,
                                        echo.echo_room_scale, echo.echo_eq_db,
                                        echo.echo_mix_prob)
        if node.features_on == 'loader' or node.audio_format == 'waveform':
            if augmentation.enabled:
                raise ConfigError('datasets.augmentation.echo_gain_db / echo_shift_samples / '
                                  'echo_mirror_prob / echo_freq_mask_rows / echo_room_scale / '
                                  'echo_eq_db / echo_mix_prob act in the model: set '
                                  'datasets.batvision.features_on device and a spectrogram '
                                  'audio_format')
            return None
        return cls(node.audio_format, node.image_size, node.preprocessing, augmentation)

    def forward(self, waveform, room_scale=None):
        """Features of `waveform` [B, 2, T], their delays stretched by `room_scale` [B] (the
        batch entry of EchoAugmentation.other_worlds) when given."""
        features = audio_features(self.augmentation(waveform), self.audio_format,
                                  self.image_size, self.preprocessing)
        if room_scale is not None:
            features = stretch_delays(features, room_scale)
        return self.augmentation.mask_frequencies(features)

    def extra_repr(self):
        return f'{self.audio_format}, {self.image_size}, {self.preprocessing}'
