"""Depth from binaural echoes through the physics of the recording: delay is distance.

An echo from a surface at distance d arrives 2 d / c after the chirp, so every time column of
the spectrogram belongs to one distance (column k of T spans k .. k+1 times max_depth / T
metres: the loaders cut the recording to the echo time of max_depth), and which ear hears it
louder says on which side the surface is. The U-Net instead aligns time-frequency pixels with
image pixels through its skips, which has no physical meaning. Here:

1. Delay tokens. With `band_norm`, each frequency row of the spectrograms is first
   standardised over time and both ears (one mean and deviation per row, shared by the ears
   so their level differences stay): a response of the speaker, microphones or ears that
   colours every path alike is taken out, as cepstral mean and variance normalisation does
   for a microphone in speech. 2-D convolutions that stride over frequency only read each
   ear's spectrum and the interaural level differences band by band, then frequency is
   pooled to `freq_bins` bands and folded into channels: one token per time column, the
   delay axis kept whole. With `interaural`, a third input channel holds the interaural
   correlation per frame (audio_format mel_spectrogram_gcc: the time difference between the
   ears, hence the direction), read the same way by convolutions of its own that stride over
   the lags, and folded into the same tokens. Each token gets a sinusoidal encoding of its distance
   in metres, and a Transformer encoder lets the tokens see each other (the direct sound,
   the first echo, the reverberation tail).
2. Pixel queries. A `query_rows` x `query_grid` grid of learned queries (one per image patch,
   with a 2-D position encoding) attends to the delay tokens, and to each other, through a
   Transformer decoder: every patch picks the delays, hence the distances, it sees.
3. Log depth. The query grid becomes a map of log depth, refined `refinements` times (2x
   upsampling, a convolution, a residual added to the upsampled coarser log depth); depth =
   exp(log depth) capped at max_depth. The heads start at zero over log(prior_depth), so the
   first prediction is the data's typical depth everywhere. With `readout: delays` the query grid's
   depth is also read off the delay axis: each query points at the delay tokens (a softmax
   over their columns) and takes the expected distance of the columns it points at (c t / 2,
   as in soft-argmax stereo and depth bins), which the regressed log depth then corrects; the
   pointer starts at a prior over columns that decays like exp(-d / prior_depth), so the
   first prediction is still about prior_depth. With `global_log_depth`, one more log depth
   per recording, read off the mean of the delay tokens (the room's size is in the whole
   echo, its reverberation included), is added to every pixel: a path of its own for the
   scale of the room, which depth models get wrong most in rooms they have not heard. With
   `pixel_log_depth`, a learned log depth per pixel of the finest map is added to it: what
   every room shares at a pixel (the floor in the bottom rows, set by the camera's height and
   tilt), which the patch queries and the translation-invariant refinements must otherwise
   re-learn patch by patch. With `attending_refinements` N, every pixel of the first N
   (coarsest) refined maps also attends to the delay tokens (one cross-attention, added to
   its features), so that the finer maps read the echoes themselves rather than only what
   the coarse query grid took from them.
4. Echo profile. With `profile_sectors` S, a linear head also reads each delay token as S
   logits, and a softmax over the delays gives, per vertical strip of the image (left to
   right), the share of its pixels at each token's distance; supervised on the depth map's
   own profile (`model.loss.echo_profile_weight`, losses/echo_profile_loss.py), it tells each
   token what lies at its distance and in which direction.

forward(audio) -> {'depth': [full resolution, then the query grid * 4, * 2, * 1]} (finest first,
with the default two refinements; the full-resolution map is the finest refinement resized
bilinearly), for multi-scale supervision (`model.loss.supervised_num_scales`). 91,235
parameters with the defaults (tests/test_echo_delay_net.py).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from packnet_sfm.datasets.audio import EARS, standardise
from packnet_sfm.networks.layers.attention import sinusoidal_encoding_2d, tokens
from packnet_sfm.networks.layers.depth_prior import prior_in_units
from packnet_sfm.utils.config import ConfigError, check_choice, check_interval

KEY = 'model.depth_net.EchoDelayNet'
ROW_CHANNELS = (16, 32)             # the two row-strided convolutions
DISTANCE_WAVELENGTHS = (0.1, 100.0)  # metres: the shortest and longest of the encoding
NORMS = ('batch', 'group')
READOUTS = ('log', 'delays')
GROUPS = 8                          # of GroupNorm


def normalisation(norm, channels, dims=2):
    """BatchNorm (statistics of the training batches, kept for eval) or GroupNorm in GROUPS
    groups (each sample's own statistics, the same in training and eval), over [B, C, ...]
    with `dims` spatial dimensions."""
    if norm == 'group':
        return nn.GroupNorm(GROUPS, channels)
    return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)


def strided_rows(in_channels, norm):
    """The two convolutions that stride over rows (frequency, or lag) and keep every column."""
    first, second = ROW_CHANNELS
    return nn.Sequential(conv_bn_relu(in_channels, first, (5, 3), (4, 1), norm),
                         conv_bn_relu(first, second, 3, (2, 1), norm))


def conv_bn_relu(in_channels, out_channels, kernel_size, stride=1, norm='batch'):
    """Convolution without bias (padding keeps the size at stride 1), normalisation, ReLU."""
    kernel = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride=stride,
                  padding=tuple(k // 2 for k in kernel), bias=False),
        normalisation(norm, out_channels), nn.ReLU())


def distance_encoding(distances, channels):
    """Sinusoidal encoding [T, channels] of distances [T] in metres: sin and cos pairs at
    channels / 2 wavelengths spaced geometrically over DISTANCE_WAVELENGTHS."""
    shortest, longest = DISTANCE_WAVELENGTHS
    wavelengths = torch.logspace(math.log10(shortest), math.log10(longest), channels // 2,
                                 device=distances.device)
    angles = 2 * math.pi * distances[:, None] / wavelengths
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def transformer_layer(layer_class, channels, num_heads, dropout):
    """A pre-norm Transformer layer, MLP twice as wide as the tokens."""
    return layer_class(channels, num_heads, 2 * channels, dropout=dropout, batch_first=True,
                       norm_first=True)


class EchoDelayNet(nn.Module):
    """Binaural spectrograms [B, 2, F, T] (T: the delay axis) -> depth, see the module
    docstring.

    Parameters
    ----------
    channels : width of the delay tokens and pixel queries.
    freq_bins : frequency bands left after the frequency-strided convolutions.
    query_grid : columns of the grid of pixel queries.
    query_rows : its rows; 0: as many as columns. Two ears tell azimuth far better than
        elevation, so the columns may outnumber the rows.
    encoder_layers, decoder_layers, num_heads : the Transformer encoder over delays and the
        decoder of the queries.
    dropout : dropout in the Transformer layers (attention weights and MLPs).
    refine_channels, refinements : channels and number of the refinements (each doubles the
        map's size; 0: the query grid's map alone).
    interaural : also read a third input channel, the interaural correlation
        (datasets.batvision.audio_format mel_spectrogram_gcc).
    norm : 'batch' or 'group' (GroupNorm: per-sample statistics, which do not carry the
        training rooms' feature statistics into new rooms), after every convolution.
    readout : how the query grid becomes depth: 'log' (a 1x1 convolution regresses log depth)
        or 'delays' (the expected distance of the delay columns each query points at, times
        that regressed factor).
    band_norm : standardise each frequency row of the ears' spectrograms over time and both
        ears first (the rig's spectral colouring out).
    global_log_depth : add a log depth per recording, read off the mean delay token, to every
        pixel.
    pixel_log_depth : add a learned log depth per pixel of the finest map (zero at the start).
    attending_refinements : how many refinements, coarsest first, let every pixel attend to
        the delay tokens.
    profile_sectors : predict the echo profile in this many image sectors ('echo_profile'
        [B, sectors, T] logits in the output; 0: none).
    prior_depth : the depth (metres) every pixel starts at: the training split's mean depth.
    max_depth, depth_scale : the largest depth in the network's units, and metres per unit.
    """

    input_keys = ('audio',)
    zero_counts = ('refinements',)     # counts that may be 0 (build_depth_net)

    def __init__(self, channels=32, freq_bins=8, query_grid=16, query_rows=0, encoder_layers=2,
                 decoder_layers=2, num_heads=4, dropout=0.0, refine_channels=16, refinements=2,
                 norm='batch', interaural=False, readout='log', band_norm=False,
                 global_log_depth=False, pixel_log_depth=False, attending_refinements=0,
                 profile_sectors=0, prior_depth=2.0, max_depth=1.0, depth_scale=1.0):
        super().__init__()
        if channels % 4 or channels % num_heads:
            raise ConfigError(f'{KEY}.channels ({channels}) must be divisible by 4 and by '
                              f'num_heads ({num_heads})')
        check_choice(f'{KEY}.norm', norm, NORMS)
        check_choice(f'{KEY}.readout', readout, READOUTS)
        check_interval(f'{KEY}.dropout', dropout, 0, 1, high_included=False)
        check_interval(f'{KEY}.attending_refinements', attending_refinements, 0, refinements,
                       note=f' (at most {KEY}.refinements)')
        if norm == 'group' and (channels % GROUPS or refine_channels % GROUPS):
            raise ConfigError(f'{KEY}.norm group needs channels ({channels}) and '
                              f'refine_channels ({refine_channels}) divisible by {GROUPS}')
        self.freq_bins = freq_bins
        self.band_norm = band_norm
        self.query_grid = (query_rows or query_grid, query_grid)
        self.range_m = max_depth * depth_scale       # distance the last time column reaches
        self.log_prior = math.log(prior_in_units(prior_depth, max_depth, depth_scale,
                                                 f'{KEY}.prior_depth'))
        self.max_depth = max_depth
        self.spectral = strided_rows(EARS, norm)
        self.lags = strided_rows(1, norm) if interaural else None
        self.audio_channels = EARS + interaural
        self.fold = nn.Sequential(
            nn.Conv1d(ROW_CHANNELS[-1] * freq_bins * (2 if interaural else 1), channels, 3,
                      padding=1, bias=False),
            normalisation(norm, channels, dims=1), nn.ReLU(),
            nn.Conv1d(channels, channels, 3, padding=1))
        self.delay_encoder = nn.TransformerEncoder(
            transformer_layer(nn.TransformerEncoderLayer, channels, num_heads, dropout),
            encoder_layers,
            enable_nested_tensor=False)
        self.queries = nn.Parameter(0.02 * torch.randn(math.prod(self.query_grid), channels))
        self.pixel_decoder = nn.TransformerDecoder(
            transformer_layer(nn.TransformerDecoderLayer, channels, num_heads, dropout),
            decoder_layers)
        self.query_norm = nn.LayerNorm(channels)
        self.refine = nn.ModuleList(
            [conv_bn_relu(channels if index == 0 else refine_channels, refine_channels, 3,
                          norm=norm) for index in range(refinements)])
        self.refine_attention = nn.ModuleList(
            [TokenAttention(refine_channels, channels, num_heads)
             for _ in range(attending_refinements)])
        self.heads = nn.ModuleList(     # every map starts at log(prior_depth)
            [zero_start(nn.Conv2d(channels, 1, 1))]
            + [zero_start(nn.Conv2d(refine_channels, 1, 3, padding=1)) for _ in self.refine])
        self.delay_readout = (DelayReadout(channels, math.exp(self.log_prior))
                              if readout == 'delays' else None)
        self.global_log_depth = zero_start(nn.Linear(channels, 1)) if global_log_depth else None
        finest = [side * 2 ** len(self.refine) for side in self.query_grid]
        self.pixel_log_depth = (nn.Parameter(torch.zeros(1, 1, *finest)) if pixel_log_depth
                                else None)
        self.echo_profile = nn.Linear(channels, profile_sectors) if profile_sectors else None

    @property
    def predicts_echo_profile(self):
        """Whether the output holds 'echo_profile' logits (`profile_sectors` >= 1)."""
        return self.echo_profile is not None

    def check_input(self, audio):
        """A one-line error unless `audio` is [B, 2, F, T] spectrograms (left, right), or
        [B, 3, F, T] with the interaural correlation when `interaural`."""
        channels = self.audio_channels
        formats = ('mel_spectrogram_gcc' if channels == 3 else
                   f'spectrogram or mel_spectrogram (or {KEY}.interaural true)')
        if audio.dim() != 4 or audio.shape[1] != channels:
            raise ConfigError(f'EchoDelayNet{" with interaural" * (channels == 3)} needs '
                              f'[B, {channels}, F, T] spectrograms, got {tuple(audio.shape)}; '
                              f'set datasets.batvision.audio_format to {formats}')

    def delay_tokens(self, audio):
        """[B, T, channels]: one token per time column, with its distance encoded."""
        ears = audio[:, :EARS]
        rows = [self.spectral(standardise(ears, (1, 3)) if self.band_norm else ears)]
        if self.lags is not None:
            rows.append(self.lags(audio[:, EARS:]))
        pooled = [F.adaptive_avg_pool2d(r, (self.freq_bins, r.shape[-1])).flatten(1, 2)
                  for r in rows]
        tokens = self.fold(torch.cat(pooled, dim=1)).transpose(1, 2)
        distances = column_distances(tokens.shape[1], self.range_m, audio.device)
        return tokens + distance_encoding(distances, tokens.shape[-1]).to(tokens.dtype)

    def query_map(self, memory):
        """The pixel queries after attending to the delay tokens, as [B, channels, rows,
        columns]."""
        batch, channels = memory.shape[0], memory.shape[-1]
        queries = self.queries + sinusoidal_encoding_2d(channels, *self.query_grid,
                                                        memory.device, memory.dtype)
        decoded = self.query_norm(self.pixel_decoder(queries.expand(batch, -1, -1), memory))
        return decoded.transpose(1, 2).reshape(batch, channels, *self.query_grid)

    def log_depths(self, features, memory):
        """Log depth (over the prior) at the query grid and each refinement, coarsest first."""
        logs = [self.heads[0](features)]
        if self.delay_readout is not None:
            logs[0] = logs[0] + self.delay_readout(features, memory, self.max_depth)
        if self.global_log_depth is not None:
            logs[0] = logs[0] + self.global_log_depth(memory.mean(dim=1))[:, :, None, None]
        for level, (refine, head) in enumerate(zip(self.refine, self.heads[1:])):
            features = refine(upsample(features))
            if level < len(self.refine_attention):
                features = self.refine_attention[level](features, memory)
            logs.append(upsample(logs[-1]) + head(features))
        if self.pixel_log_depth is not None:
            logs[-1] = logs[-1] + self.pixel_log_depth
        return logs

    def depth_from_log(self, log):
        """Depth exp(log prior + log), capped at max_depth."""
        return torch.exp(self.log_prior + log).clamp(max=self.max_depth)

    def forward(self, audio, return_features=False):
        self.check_input(audio)
        memory = self.delay_encoder(self.delay_tokens(audio))
        features = self.query_map(memory)
        logs = self.log_depths(features, memory)
        depths = [self.depth_from_log(log) for log in reversed(logs)]
        full = F.interpolate(depths[0], size=audio.shape[-2:], mode='bilinear',
                             align_corners=False)
        output = {'depth': [full, *depths]}
        if self.echo_profile is not None:
            output['echo_profile'] = self.echo_profile(memory).transpose(1, 2)
        if return_features:
            output['features'] = {'delay_tokens': memory, 'queries': features}
        return output


def column_distances(columns, reach, device):
    """Distance [columns] at the middle of each delay column, for columns spanning 0..reach."""
    return (torch.arange(columns, device=device) + 0.5) * reach / columns


class TokenAttention(nn.Module):
    """Every pixel of a feature map [B, C, H, W] attends to the delay tokens [B, T, token
    channels] (pre-norm cross-attention, added to the pixel's features)."""

    def __init__(self, channels, token_channels, num_heads):
        super().__init__()
        self.norm = nn.LayerNorm(channels)
        self.attend = nn.MultiheadAttention(channels, num_heads, kdim=token_channels,
                                            vdim=token_channels, batch_first=True)

    def forward(self, features, memory):
        batch, channels, height, width = features.shape
        pixels = self.norm(tokens(features))
        heard, _ = self.attend(pixels, memory, memory, need_weights=False)
        return features + heard.transpose(1, 2).reshape(batch, channels, height, width)


class DelayReadout(nn.Module):
    """Depth read off the delay axis: log of the expected distance of the delay columns each
    query points at, over the prior (see the module docstring, readout 'delays')."""

    def __init__(self, channels, prior):
        super().__init__()
        # queries into the tokens' space, starting at the prior over columns
        self.point = zero_start(nn.Linear(channels, channels))
        self.prior = prior

    def forward(self, features, memory, reach):
        """features [B, C, rows, columns], memory [B, T, C] -> [B, 1, rows, columns];
        `reach`: the distance of the last column, in the network's units."""
        batch, channels, *grid = features.shape
        queries = self.point(tokens(features))
        distances = column_distances(memory.shape[1], reach, memory.device)
        logits = queries @ memory.transpose(1, 2) / math.sqrt(channels) - distances / self.prior
        expected = logits.softmax(dim=-1) @ distances.to(logits.dtype)
        return (expected.log() - math.log(self.prior)).reshape(batch, 1, *grid)


def zero_start(layer):
    """`layer` with its weight and bias set to zero: its output starts at 0."""
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def upsample(x):
    """2x bilinear upsampling."""
    return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)
