"""The BatVision audio features against explicit formulas (torchaudio/torchvision are not
installable here, so exactness is pinned by recomputing the definitions by hand)."""
import math

import numpy as np
import pytest
import torch

from packnet_sfm.datasets import audio

SR = 44100


def noise(length, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).standard_normal((2, length))).float()


def hand_stft_bin(signal, frame, freq_bin, hop, n_fft=512, win_length=64):
    """|X| of one STFT bin by explicit DFT: reflect-pad n_fft/2, take frame*hop, apply a
    periodic Hann window of win_length centred in n_fft zeros."""
    padded = np.pad(signal.astype(np.float64), n_fft // 2, mode='reflect')
    n = np.arange(win_length)
    window = np.zeros(n_fft)
    start = (n_fft - win_length) // 2
    window[start:start + win_length] = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
    segment = padded[frame * hop:frame * hop + n_fft] * window
    return abs(np.sum(segment * np.exp(-2j * np.pi * freq_bin * np.arange(n_fft) / n_fft)))


@pytest.mark.parametrize('frame, freq_bin', [(0, 0), (0, 37), (5, 256), (20, 100), (36, 3)])
def test_spectrogram_bins_match_explicit_dft(frame, freq_bin):
    waveform = noise(600)
    spec = audio.spectrogram(waveform)
    for channel in range(2):
        expected = hand_stft_bin(waveform[channel].numpy(), frame, freq_bin, hop=16)
        assert spec[channel, freq_bin, frame].item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize('length, hop, n_fft, win_length',
                         [(7782, 16, 512, 64), (7782, 32, 512, 64), (600, 16, 512, 64),
                          (4409, 32, 512, 64), (7782, 32, 256, 128)])
def test_stft_as_convolution_equals_torch_stft(length, hop, n_fft, win_length):
    """The exported graph's DFT (a strided convolution, see audio.stft) gives torch.stft's
    real and imaginary parts for the official frame counts (1 + T // hop) and any length."""
    waveform = noise(length)
    expected = torch.stft(waveform, n_fft, hop, win_length,
                          torch.hann_window(win_length, periodic=True), return_complex=True)
    window = torch.hann_window(win_length, periodic=True)
    parts = audio.stft_by_convolution(waveform, hop, n_fft, window)
    assert expected.shape == (2, n_fft // 2 + 1, 1 + length // hop)
    tolerance = 2e-5 * expected.abs().max().item()
    for part, reference in zip(parts, (expected.real, expected.imag)):
        torch.testing.assert_close(part, reference, atol=tolerance, rtol=0)


def test_mel_spectrogram_is_filterbank_times_magnitude_with_hop_32():
    waveform = noise(600, seed=1)
    mel = audio.mel_spectrogram(waveform)
    filters = audio.mel_filterbank().numpy().astype(np.float64)
    magnitude = np.array([hand_stft_bin(waveform[1].numpy(), 7, k, hop=32) for k in range(257)])
    assert mel[1, :, 7].numpy() == pytest.approx(filters.T @ magnitude, rel=1e-4)


def htk_mel(freq):
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def test_htk_mel_scale_values():
    assert audio.hz_to_mel(0.0) == 0.0
    assert audio.hz_to_mel(700.0) == pytest.approx(2595.0 * math.log10(2.0))
    assert audio.hz_to_mel(1000.0) == pytest.approx(999.9855, abs=1e-3)
    assert audio.mel_to_hz(torch.tensor(999.9855, dtype=torch.float64)).item() == \
        pytest.approx(1000.0, abs=1e-3)


@pytest.mark.parametrize('mel_index', [0, 13, 31])
def test_mel_filter_rows_follow_htk_triangles(mel_index):
    edges_mel = np.linspace(htk_mel(20.0), htk_mel(20000.0), 34)
    low, centre, high = 700.0 * (10.0 ** (edges_mel[mel_index:mel_index + 3] / 2595.0) - 1.0)
    freqs = np.linspace(0, SR // 2, 257)
    expected = np.clip(np.minimum((freqs - low) / (centre - low), (high - freqs) / (high - centre)),
                       0.0, None)
    filters = audio.mel_filterbank()
    assert filters.shape == (257, 32)
    assert filters[:, mel_index].numpy() == pytest.approx(expected, abs=1e-5)
    assert filters[:, mel_index].max().item() <= 1.0     # no area normalisation: peaks <= 1


def test_first_mel_filter_hand_values():
    # Filter 0 spans 20 Hz .. f2 with its peak at f1; bin 1 (86.13 Hz) lies on its rising edge.
    step = (htk_mel(20000.0) - htk_mel(20.0)) / 33
    f1 = 700.0 * (10.0 ** ((htk_mel(20.0) + step) / 2595.0) - 1.0)
    assert f1 == pytest.approx(97.14, abs=0.01)    # mel 31.75 + 114.70 -> Hz
    bin1 = 22050 / 256
    assert audio.mel_filterbank()[1, 0].item() == pytest.approx((bin1 - 20.0) / (f1 - 20.0),
                                                                abs=1e-5)
    assert audio.mel_filterbank()[0, 0].item() == 0.0


def test_pure_tone_lands_in_its_mel_band():
    t = torch.arange(7782) / SR
    tone = torch.sin(2 * math.pi * 5000.0 * t).repeat(2, 1)
    band = audio.mel_spectrogram(tone)[0].mean(dim=1).argmax().item()
    centres = 700.0 * (10.0 ** (np.linspace(htk_mel(20.0), htk_mel(20000.0), 34)[1:-1] / 2595.0)
                       - 1.0)
    assert band == int(np.abs(centres - 5000.0).argmin())


def test_v2_feature_shapes_before_and_after_resize():
    waveform = noise(7782)
    assert audio.spectrogram(waveform).shape == (2, 257, 487)
    assert audio.mel_spectrogram(waveform).shape == (2, 32, 244)
    for audio_format in ('spectrogram', 'mel_spectrogram'):
        for preprocessing in audio.PREPROCESSINGS:
            features = audio.audio_features(waveform, audio_format, 256, preprocessing)
            assert features.shape == (2, 256, 256) and features.dtype == torch.float32


def test_waveform_format_is_the_waveform_itself():
    waveform = noise(100)
    for preprocessing in audio.PREPROCESSINGS:
        assert audio.audio_features(waveform, 'waveform', 256, preprocessing) is waveform


def test_resize_antialias_only_when_asked():
    # 4 -> 2 along the width. Plain bilinear (align_corners False) samples source x = 0.5 and
    # 2.5: 0.5 and 2.5. With antialiasing a triangle filter of radius 2 input pixels weighs
    # 0.75, 0.75, 0.25 (normalised) for output pixel 0.
    ramp = torch.arange(4.0).repeat(1, 4, 1)      # [1, 4, 4], columns 0 1 2 3
    plain = audio.resize_bilinear(ramp, 2, antialias=False)
    assert plain[0, :, 0].tolist() == pytest.approx([0.5] * 2)
    assert plain[0, :, 1].tolist() == pytest.approx([2.5] * 2)
    smoothed = audio.resize_bilinear(ramp, 2, antialias=True)
    assert smoothed[0, :, 0].tolist() == pytest.approx([1.25 / 1.75] * 2)
    assert smoothed[0, :, 1].tolist() == pytest.approx([3 - 1.25 / 1.75] * 2)


def test_improved_features_are_log_and_standardised_over_both_ears():
    waveform = noise(7782) * torch.tensor([[1.0], [50.0]])
    features = audio.audio_features(waveform, 'spectrogram', 64, 'improved')
    assert features.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert features.std().item() == pytest.approx(1.0, abs=1e-4)
    log_magnitude = audio.resize_bilinear(torch.log1p(audio.spectrogram(waveform)), 64, True)
    assert torch.equal(features, audio.standardise_ears(log_magnitude))
    assert features[1].mean() > features[0].mean() + 1.0     # the louder ear stays louder


def test_improved_log_features_are_the_log_with_a_floor_standardised_over_both_ears():
    """improved_log: log(magnitude + 1e-3) where improved takes log1p, which is nearly linear
    (and squeezes the weak levels together) below 1."""
    waveform = noise(7782, seed=6) * torch.tensor([[0.01], [0.1]])
    features = audio.audio_features(waveform, 'mel_spectrogram', 64, 'improved_log')
    magnitude = audio.mel_spectrogram(waveform)
    log_magnitude = audio.resize_bilinear(torch.log(magnitude + audio.LOG_FLOOR), 64, True)
    torch.testing.assert_close(features, audio.standardise_ears(log_magnitude))
    assert features[1].mean() > features[0].mean() + 1.0     # the louder ear stays louder


@pytest.mark.parametrize('audio_format', ['spectrogram', 'mel_spectrogram'])
def test_improved_features_keep_the_interaural_level_difference(audio_format):
    """Doubling one ear's signal visibly changes that ear's features and their difference to
    the other ear (per-ear standardisation erases almost all of it)."""
    t = torch.arange(7782) / SR
    chirp = torch.sin(2 * math.pi * (200 + 2e6 * t) * t) * torch.exp(-t / 0.02)
    waveform = 0.05 * chirp.repeat(2, 1) + 0.002 * noise(7782, seed=3)
    louder_left = waveform * torch.tensor([[2.0], [1.0]])
    before = audio.audio_features(waveform, audio_format, 64, 'improved')
    after = audio.audio_features(louder_left, audio_format, 64, 'improved')
    change = (after[0] - before[0]).norm() / before[0].norm()
    assert change > 0.2                                      # per-ear: 0.03 to 0.1
    assert (after[0] - after[1]).mean() > (before[0] - before[1]).mean() + 0.2


@pytest.mark.parametrize('delay', [-20, -7, 0, 11, 24])
def test_interaural_correlation_peaks_at_the_delay_between_the_ears(delay):
    """Noise reaching the right ear `delay` samples after the left peaks at row max_lag +
    delay in every frame away from the edges; the rows are the inverse FFT of the whitened
    cross-spectrum at those lags."""
    source = noise(8000)[0]
    waveform = torch.stack([source[100:7882], source[100 - delay:7882 - delay]])
    correlation = audio.interaural_correlation(waveform)
    lags = 2 * audio.GCC_MAX_LAG + 1
    assert correlation.shape == (1, lags, 244)
    assert (correlation[0, :, 4:-4].argmax(dim=0) == audio.GCC_MAX_LAG + delay).all()
    spectra = torch.stft(waveform, 256, 32, 128, torch.hann_window(128), return_complex=True)
    cross = spectra[1] * spectra[0].conj()
    inverse = torch.fft.irfft(cross / (cross.abs() + audio.NORM_EPS), n=256, dim=0)
    expected = torch.cat([inverse[-audio.GCC_MAX_LAG:], inverse[:audio.GCC_MAX_LAG + 1]])
    torch.testing.assert_close(correlation[0], expected, atol=1e-5, rtol=0)


def test_swapping_the_ears_reverses_the_lags():
    """The mirrored world (ears swapped) has the mirrored interaural delays."""
    waveform = noise(7782, seed=2)
    torch.testing.assert_close(audio.interaural_correlation(waveform.flip(0)),
                               audio.interaural_correlation(waveform).flip(-2),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize('preprocessing', audio.PREPROCESSINGS)
def test_mel_spectrogram_gcc_is_the_mel_features_and_the_resized_correlation(preprocessing):
    waveform = noise(7782, seed=4)
    features = audio.audio_features(waveform, 'mel_spectrogram_gcc', 128, preprocessing)
    assert features.shape == (3, 128, 128)
    assert torch.equal(features[:2],
                       audio.audio_features(waveform, 'mel_spectrogram', 128, preprocessing))
    assert torch.equal(features[2:], audio.resize_bilinear(
        audio.interaural_correlation(waveform), 128, audio.antialiased(preprocessing)))


class Features(torch.nn.Module):
    def forward(self, waveform):
        return audio.audio_features(waveform, 'mel_spectrogram_gcc', 64, 'improved')


def test_exported_features_equal_the_eager_ones():
    """Under torch.export (scripts/export.py) the STFT is the convolution and the
    correlation matrix products, no complex tensor: the graph computes the same features."""
    waveform = noise(7782, seed=5)[None]
    program = torch.export.export(Features(), (waveform,))
    operators = {str(node.target) for node in program.graph.nodes}
    assert not any('stft' in name or 'complex' in name for name in operators)
    assert 'aten.conv1d.default' in operators
    torch.testing.assert_close(program.module()(waveform), Features()(waveform), atol=1e-4,
                               rtol=0)
