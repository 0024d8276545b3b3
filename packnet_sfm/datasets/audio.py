"""Binaural audio features for BatVision, computed with torch (CPU or GPU).

The official BatVision recipe (Brunetto et al., IROS 2023) uses torchaudio and torchvision
defaults; this module reproduces them without either library:

- `spectrogram`: magnitude STFT, n_fft 512, periodic Hann window of 64 samples zero-padded
  (centred) to n_fft, hop 16, centre=True with reflect padding, one-sided, power 1, no dB.
- `mel_spectrogram`: the same STFT with hop = win // 2 = 32, projected on 32 HTK mel filters
  (20 Hz - 20 kHz, no area normalisation). The official loader passes `power=1.0` to
  torchaudio's MelSpectrogram, so the filters weight the magnitude, not the power.
- `mel_spectrogram_gcc` (ours, not the official code's): the mel spectrograms and, as a third
  channel, GCC-PHAT between the ears per frame (`interaural_correlation`): the interaural time
  difference, which magnitudes lose.
- `waveform`: the two channels as they are.

Preprocessing modes (`datasets.batvision.preprocessing`):
- 'official': the published recipe. Features are resized like torchvision's Resize on tensors
  before torchvision 0.17, when the code was run: bilinear, align_corners=False and no
  antialiasing.
- 'official_antialias': the same with antialiasing, which is what the same code does on
  torchvision >= 0.17 (its new default).
- 'improved': log1p of the magnitude, an antialiased bilinear resize, then both ears
  standardised with shared statistics (zero mean, unit standard deviation over the sample), so
  the interaural level difference survives.
- 'improved_log': the same with log(magnitude + LOG_FLOOR) instead of log1p, which is nearly
  linear below 1, where most magnitudes lie (the median of a V2 mel spectrogram is about
  0.15, real or simulated): the weak, late echoes keep their level differences in decibels.
"""
import functools
import math

import torch
import torch.nn.functional as F

SAMPLE_RATE = 44100
EARS = 2                    # the feature channels of the two ears come first
AUDIO_FORMATS = ('spectrogram', 'mel_spectrogram', 'mel_spectrogram_gcc', 'waveform')
PREPROCESSINGS = ('official', 'official_antialias', 'improved', 'improved_log')
LOG_FLOOR = 1e-3            # improved_log: log(magnitude + LOG_FLOOR)

N_FFT = 512
WIN_LENGTH = 64
SPECTROGRAM_HOP = WIN_LENGTH // 4
MEL_HOP = WIN_LENGTH // 2
N_MELS = 32
MEL_F_MIN = 20.0
MEL_F_MAX = 20000.0
NORM_EPS = 1e-6
GCC_WINDOW = 128            # samples (2.9 ms, 0.5 m of echo distance) per correlation frame
GCC_MAX_LAG = 24            # samples (0.54 ms): a 0.18 m head's largest interaural delay is 0.53
SPEED_OF_SOUND = 340.0      # m/s, as in the official loader


def echo_samples(max_depth, sample_rate=SAMPLE_RATE):
    """Samples an echo needs to travel to max_depth and back (official cut: 7782 at 30 m)."""
    return int((2 * max_depth / SPEED_OF_SOUND) * sample_rate)


def stft(waveform, hop_length, n_fft=N_FFT, win_length=WIN_LENGTH):
    """Real and imaginary parts of the STFT of `waveform` [..., T], each [..., n_fft // 2 + 1,
    1 + T // hop_length]: a periodic Hann window of win_length centred in n_fft, centre=True
    with reflect padding, one-sided.

    While torch.export traces it (scripts/export.py) the same DFT is a strided convolution:
    ONNX Runtime's CPU STFT kernel is two orders of magnitude slower than torch's FFT on
    short frames (microsoft/onnxruntime#32403) and took most of an exported model's time."""
    window = torch.hann_window(win_length, periodic=True, dtype=waveform.dtype,
                               device=waveform.device)
    flat = waveform.reshape(-1, waveform.shape[-1])
    if torch.compiler.is_exporting():
        real, imaginary = stft_by_convolution(flat, hop_length, n_fft, window)
    else:
        spec = torch.stft(flat, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                          window=window, center=True, pad_mode='reflect', normalized=False,
                          onesided=True, return_complex=True)
        real, imaginary = spec.real, spec.imag
    shape = (*waveform.shape[:-1], *real.shape[-2:])
    return real.reshape(shape), imaginary.reshape(shape)


def stft_magnitude(waveform, hop_length, n_fft=N_FFT, win_length=WIN_LENGTH):
    """|STFT| of `waveform` [..., T] -> [..., n_fft // 2 + 1, 1 + T // hop_length] (`stft`),
    bit for bit torch.stft(...).abs() outside export."""
    real, imaginary = stft(waveform, hop_length, n_fft, win_length)
    if torch.compiler.is_exporting():           # ONNX graphs hold no complex tensors
        return torch.sqrt(real ** 2 + imaginary ** 2)
    return torch.complex(real, imaginary).abs()


def stft_by_convolution(flat, hop_length, n_fft, window):
    """torch.stft of `flat` [N, T] as above, as (real, imaginary): one Conv1d over the
    reflect-padded signal whose kernels are the window times the DFT's cosines and negated
    sines. torch.stft centres the short window in the n_fft frame, so only its span is
    convolved, at its offset in the frame."""
    length, win_length = flat.shape[-1], window.shape[0]
    offset = (n_fft - win_length) // 2
    frames = 1 + length // hop_length
    padded = F.pad(flat[:, None], (n_fft // 2, n_fft // 2), mode='reflect')
    padded = padded[..., offset:offset + (frames - 1) * hop_length + win_length]
    bins = torch.arange(n_fft // 2 + 1, device=flat.device)[:, None]
    samples = torch.arange(offset, offset + win_length, device=flat.device)[None]
    angles = (bins * samples % n_fft).to(flat.dtype) * (2 * math.pi / n_fft)
    kernels = torch.cat([angles.cos() * window, -angles.sin() * window])[:, None]
    real, imaginary = F.conv1d(padded, kernels, stride=hop_length).chunk(2, dim=1)
    return real, imaginary


def spectrogram(waveform):
    """Official linear magnitude spectrogram: [..., 2, T] -> [..., 2, 257, 1 + T // 16]."""
    return stft_magnitude(waveform, hop_length=SPECTROGRAM_HOP)


def hz_to_mel(freq):
    """HTK mel scale."""
    return 2595.0 * math.log10(1.0 + freq / 700.0)


def mel_to_hz(mels):
    """Inverse of the HTK mel scale, on a tensor."""
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)


@functools.lru_cache(maxsize=8)
def mel_filterbank(n_freqs=N_FFT // 2 + 1, n_mels=N_MELS, f_min=MEL_F_MIN, f_max=MEL_F_MAX,
                   sample_rate=SAMPLE_RATE):
    """Triangular HTK mel filters without normalisation, float32 [n_freqs, n_mels].

    Filter m rises linearly from centre frequency f[m] to f[m+1] and falls to f[m+2], the
    n_mels + 2 frequencies being equally spaced on the mel scale between f_min and f_max;
    FFT bins sit at linspace(0, sample_rate // 2, n_freqs) (torchaudio's convention).
    """
    bin_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    mel_points = torch.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2)
    edges = mel_to_hz(mel_points)
    widths = edges[1:] - edges[:-1]
    offsets = edges.unsqueeze(0) - bin_freqs.unsqueeze(1)          # [n_freqs, n_mels + 2]
    rising = -offsets[:, :-2] / widths[:-1]
    falling = offsets[:, 2:] / widths[1:]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def mel_spectrogram(waveform):
    """Official mel spectrogram of the magnitude: [..., 2, T] -> [..., 2, 32, 1 + T // 32]."""
    magnitude = stft_magnitude(waveform, hop_length=MEL_HOP)
    filters = mel_filterbank().to(device=magnitude.device, dtype=magnitude.dtype)
    return torch.matmul(magnitude.transpose(-1, -2), filters).transpose(-1, -2)


def interaural_correlation(waveform, hop_length=MEL_HOP, win_length=GCC_WINDOW,
                           max_lag=GCC_MAX_LAG):
    """GCC-PHAT between the ears frame by frame (Knapp & Carter, 1976): [..., 2, T] ->
    [..., 1, 2 max_lag + 1, 1 + T // hop_length]. Row max_lag + k correlates the right ear k
    samples later with the left ear, so a sound from the left (heard first by the left ear)
    peaks at k > 0, and swapping the ears reverses the rows. The cross-spectrum of each frame
    (zero-padded to twice its length, so that lags do not wrap around) is whitened to unit
    magnitude, which keeps only its phase, the delay, and transformed back at the lags only."""
    n_fft = 2 * win_length
    real, imaginary = stft(waveform, hop_length, n_fft, win_length)
    (left_re, right_re), (left_im, right_im) = real.unbind(-3), imaginary.unbind(-3)
    cross_re = right_re * left_re + right_im * left_im          # right x conj(left)
    cross_im = right_im * left_re - right_re * left_im
    magnitude = torch.sqrt(cross_re ** 2 + cross_im ** 2) + NORM_EPS
    bins = torch.arange(n_fft // 2 + 1, device=waveform.device, dtype=waveform.dtype)
    lags = torch.arange(-max_lag, max_lag + 1, device=waveform.device, dtype=waveform.dtype)
    angles = (2 * math.pi / n_fft) * bins[:, None] * lags[None]            # [bins, lags]
    inner = (bins > 0) & (bins < n_fft // 2)        # a one-sided spectrum: inner bins count twice
    weights = (1.0 + inner.to(waveform.dtype)) / n_fft
    cosines, sines = (weights[:, None] * f(angles) for f in (torch.cos, torch.sin))
    correlation = ((cross_re / magnitude).transpose(-1, -2) @ cosines
                   - (cross_im / magnitude).transpose(-1, -2) @ sines)     # [..., frames, lags]
    return correlation.transpose(-1, -2).unsqueeze(-3)


def antialiased(preprocessing):
    """Whether a preprocessing mode resizes with antialiasing (all but 'official')."""
    return preprocessing != 'official'


def resize_bilinear(image, size, antialias):
    """[..., C, H, W] -> [..., C, size, size], bilinear with align_corners=False, like
    torchvision's Resize on tensors (its `antialias` default: False before 0.17, True since)."""
    flat = image.reshape(-1, *image.shape[-3:])
    resized = F.interpolate(flat, size=(size, size), mode='bilinear', align_corners=False,
                            antialias=antialias)
    return resized.reshape(*image.shape[:-2], size, size)


def standardise(features, dims):
    """`features` at zero mean and unit standard deviation over the dimensions `dims`."""
    mean = features.mean(dim=dims, keepdim=True)
    return (features - mean) / (features.std(dim=dims, keepdim=True) + NORM_EPS)


def standardise_ears(features):
    """Zero mean, unit standard deviation over all channels of each [C, H, W] sample of
    `features` [..., C, H, W], so that level differences between the channels (the ears) are
    kept."""
    return standardise(features, (-3, -2, -1))


_SPECTRAL = {'spectrogram': spectrogram, 'mel_spectrogram': mel_spectrogram}
LOG_SCALES = {'improved': torch.log1p, 'improved_log': lambda x: torch.log(x + LOG_FLOOR)}


def audio_channels(audio_format):
    """Channels of the network input `audio_features` gives for `audio_format`."""
    return EARS + (audio_format == 'mel_spectrogram_gcc')


def audio_features(waveform, audio_format, image_size, preprocessing='official'):
    """Network input for a binaural `waveform` [..., 2, T] float32: one recording, or a batch
    (the same result for each sample, up to float rounding; on any device).

    spectrogram / mel_spectrogram: [..., 2, image_size, image_size]; mel_spectrogram_gcc: the
    mel spectrograms and a third channel, the interaural correlation resized like them;
    waveform: unchanged in every preprocessing mode.
    """
    if audio_format == 'waveform':
        return waveform
    if audio_format == 'mel_spectrogram_gcc':
        correlation = resize_bilinear(interaural_correlation(waveform), image_size,
                                      antialiased(preprocessing))
        mel = audio_features(waveform, 'mel_spectrogram', image_size, preprocessing)
        return torch.cat([mel, correlation], dim=-3)
    features = _SPECTRAL[audio_format](waveform)
    if preprocessing in LOG_SCALES:
        return standardise_ears(resize_bilinear(LOG_SCALES[preprocessing](features), image_size,
                                                True))
    return resize_bilinear(features, image_size, antialiased(preprocessing))
