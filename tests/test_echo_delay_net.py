"""EchoDelayNet (delay tokens, pixel queries, log depth) and the echo augmentation of the
model's audio front end: parameter count, shapes, the prior start, what the delay axis means,
and the augmentation's effect on waveforms and, for the mirror, on whole training batches."""
import math

import pytest
import torch
from torch import nn

from packnet_sfm.losses.echo_profile_loss import echo_profile, echo_profile_loss
from packnet_sfm.networks import build_depth_net
from packnet_sfm.networks.depth.EchoDelayNet import DelayReadout, EchoDelayNet, distance_encoding
from packnet_sfm.networks.depth.EchoTwoStreamNet import EchoTwoStreamNet
from packnet_sfm.networks.layers.audio_frontend import (
    AudioFrontEnd,
    EchoAugmentation,
    equalise,
    stretch_delays,
    superpose,
)
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import scored_output
from packnet_sfm.trainers.trainer import Trainer
from packnet_sfm.utils.compare import flatten
from packnet_sfm.utils.config import ConfigError, load_config, to_dict

torch.set_num_threads(1)
PINNED_PARAMETERS = 91_235
DELAY_NET_CONFIG = 'configs/echo_delay_net_v2.yaml'
BEST_CONFIG = 'configs/echo_best_v2.yaml'


def test_echo_delay_net_has_the_pinned_parameter_count_and_shapes():
    cfg = load_config(DELAY_NET_CONFIG)
    assert cfg.model.depth_net.name == 'EchoDelayNet'
    net = EchoDelayNet(**cfg.model.depth_net.EchoDelayNet, max_depth=30.0)
    assert sum(p.numel() for p in net.parameters()) == PINNED_PARAMETERS
    for size in (128, 256):
        depths = net(torch.randn(2, 2, size, size))['depth']
        assert [tuple(d.shape) for d in depths] == [(2, 1, size, size), (2, 1, 64, 64),
                                                    (2, 1, 32, 32), (2, 1, 16, 16)]


def test_echo_best_network_has_the_pinned_parameter_count_and_shapes():
    """configs/echo_best_v2.yaml, by class name from the config: EchoTwoStreamNet, its maps
    [blend, U-Net, EchoDelayNet's four], evaluated as a weight average."""
    cfg = load_config(BEST_CONFIG)
    assert cfg.arch.ema_decay == 0.99 and cfg.model.loss.supervised_num_scales == 6
    net = build_depth_net(cfg, max_depth=30.0)
    assert isinstance(net, EchoTwoStreamNet)
    assert sum(p.numel() for p in net.parameters()) == 746_036
    for size in (128, 256):
        depths = net(torch.randn(2, 2, size, size))['depth']
        assert [tuple(d.shape[-2:]) for d in depths] == [(size, size)] * 3 + [(64, 64), (32, 32),
                                                                              (16, 16)]


def test_the_query_grid_map_alone_is_a_valid_network():
    """refinements 0 is a count that may be 0 (every other count of the network must be at
    least 1): the map of the query grid, and its resize to the input."""
    cfg = load_config(DELAY_NET_CONFIG, ['model.depth_net.EchoDelayNet.refinements', 0])
    net = build_depth_net(cfg, max_depth=30.0)
    depths = net(torch.randn(2, 2, 128, 128))['depth']
    assert [tuple(d.shape) for d in depths] == [(2, 1, 128, 128), (2, 1, 16, 16)]
    for key, value, minimum in (('refinements', -1, 0), ('encoder_layers', 0, 1)):
        with pytest.raises(ConfigError, match=f'EchoDelayNet.{key} must be >= {minimum}'):
            build_depth_net(load_config(DELAY_NET_CONFIG, [f'model.depth_net.EchoDelayNet.{key}',
                                                      value]), max_depth=30.0)


def changed_keys(path, base):
    """{key: value} of the config at `path` that differ from the config at `base`."""
    config, reference = (flatten(to_dict(load_config(p))) for p in (path, base))
    return {key: config[key] for key in config if config[key] != reference[key]}


def test_the_query_grid_may_have_more_columns_than_rows():
    """bench/configs/echo_delay_net_v2_azimuth.yaml: the same 256 queries as 8 rows x 32 columns,
    the same parameters, maps refined to 32 x 128 (with either readout)."""
    cfg = load_config('bench/configs/echo_delay_net_v2_azimuth.yaml').model.depth_net.EchoDelayNet
    for readout, parameters in (('log', PINNED_PARAMETERS), ('delays', 92_291)):
        net = EchoDelayNet(**{**cfg, 'readout': readout}, max_depth=30.0)
        assert sum(p.numel() for p in net.parameters()) == parameters
        depths = net(torch.randn(2, 2, 128, 128))['depth']
        assert [tuple(d.shape[-2:]) for d in depths] == [(128, 128), (32, 128), (16, 64),
                                                         (8, 32)]


def test_the_benchmark_ablations_change_one_thing_each():
    """bench/configs: echo_delay_net_v2's variants (the 64-channel first version and its own
    variants), the U-Net baseline with the mirror, and the Base+Residual tuning variants."""
    net, augmentation = 'model.depth_net.EchoDelayNet.', 'datasets.augmentation.'
    wide = 'bench/configs/echo_delay_net_v2_wide.yaml'
    for path, base, change in [
            ('no_mirror', DELAY_NET_CONFIG, {augmentation + 'echo_mirror_prob': 0.0}),
            ('dropout', DELAY_NET_CONFIG, {net + 'dropout': 0.1}),
            ('16ch', DELAY_NET_CONFIG, {net + 'channels': 16}),
            ('ema', DELAY_NET_CONFIG, {'arch.ema_decay': 0.99}),
            ('room_scale15', DELAY_NET_CONFIG, {augmentation + 'echo_room_scale': 0.15}),
            ('room_scale30', DELAY_NET_CONFIG, {augmentation + 'echo_room_scale': 0.3}),
            ('mix', DELAY_NET_CONFIG, {augmentation + 'echo_mix_prob': 0.25}),
            ('silog05', DELAY_NET_CONFIG, {'model.loss.combined.silog_lambda': 0.5}),
            ('l1', DELAY_NET_CONFIG, {'model.loss.supervised_method': 'sparse-l1'}),
            ('silog', DELAY_NET_CONFIG, {'model.loss.supervised_method': 'sparse-silog',
                                    'model.loss.silog.silog_lambda': 0.869}),
            ('clip', DELAY_NET_CONFIG, {'arch.clip_grad': 1.0}),
            ('refine32', DELAY_NET_CONFIG, {net + 'refine_channels': 32}),
            ('eq', DELAY_NET_CONFIG, {augmentation + 'echo_eq_db': 6.0}),
            ('deep_encoder', DELAY_NET_CONFIG, {net + 'encoder_layers': 4}),
            ('deep_decoder', DELAY_NET_CONFIG, {net + 'decoder_layers': 4}),
            ('warmup', DELAY_NET_CONFIG, {'model.scheduler.warmup_steps': 70}),
            ('group_norm', DELAY_NET_CONFIG, {net + 'norm': 'group'}),
            ('rmse', DELAY_NET_CONFIG, {'model.loss.combined.rmse_weight': 0.237}),
            ('delays', DELAY_NET_CONFIG, {net + 'readout': 'delays'}),
            ('freq16', DELAY_NET_CONFIG, {net + 'freq_bins': 16}),
            ('lr5e-4', DELAY_NET_CONFIG, {'model.optimizer.lr': 0.0005}),
            ('wd05', DELAY_NET_CONFIG, {'model.optimizer.weight_decay': 0.05}),
            ('lr2e-3', DELAY_NET_CONFIG, {'model.optimizer.lr': 0.002}),
            ('lr2e-3_ema', 'bench/configs/echo_delay_net_v2_lr2e-3.yaml', {'arch.ema_decay': 0.99}),
            ('azimuth', DELAY_NET_CONFIG, {net + 'query_grid': 32, net + 'query_rows': 8}),
            ('one_scale', DELAY_NET_CONFIG, {'model.loss.supervised_num_scales': 1}),
            ('band_norm', DELAY_NET_CONFIG, {net + 'band_norm': True}),
            ('global_depth', DELAY_NET_CONFIG, {net + 'global_log_depth': True}),
            ('pixel_depth', DELAY_NET_CONFIG, {net + 'pixel_log_depth': True}),
            ('full_resolution', DELAY_NET_CONFIG, {net + 'refinements': 3}),
            ('freq4', DELAY_NET_CONFIG, {net + 'freq_bins': 4}),
            ('heads2', DELAY_NET_CONFIG, {net + 'num_heads': 2}),
            ('refine_attention', DELAY_NET_CONFIG, {net + 'attending_refinements': 1}),
            ('profile', DELAY_NET_CONFIG, {net + 'profile_sectors': 4,
                                      'model.loss.echo_profile_weight': 0.1}),
            ('shallow_encoder', DELAY_NET_CONFIG, {net + 'encoder_layers': 1}),
            ('shallow_decoder', DELAY_NET_CONFIG, {net + 'decoder_layers': 1}),
            ('gcc', DELAY_NET_CONFIG, {net + 'interaural': True,
                                  'datasets.batvision.audio_format': 'mel_spectrogram_gcc'}),
            ('spectrogram', DELAY_NET_CONFIG, {'datasets.batvision.audio_format': 'spectrogram'}),
            ('wide', DELAY_NET_CONFIG, {net + 'channels': 64}),
            ('wide_dropout', wide, {net + 'dropout': 0.1}),
            ('wide_freq_mask', wide, {augmentation + 'echo_freq_mask_rows': 24}),
            ('wide_mse', wide, {'model.loss.supervised_method': 'sparse-mse'}),
            ('wide_berhu', wide, {'model.loss.supervised_method': 'sparse-berhu'})]:
        assert changed_keys(f'bench/configs/echo_delay_net_v2_{path}.yaml', base) == {
            'name': f'echo_delay_net_{path}', **change}
    for path, change in [('no_ema', {'arch.ema_decay': 0.0}),
                         ('heads2', {'model.depth_net.EchoTwoStreamNet.num_heads': 2})]:
        assert changed_keys(f'bench/configs/echo_best_v2_{path}.yaml', BEST_CONFIG) == {
            'name': f'echo_best_{path}', **change}
    assert changed_keys('bench/configs/unet_v2_mirror.yaml',
                        'configs/train_unet_batvision_v2.yaml') == {
        'name': 'unet_mirror', 'datasets.augmentation.echo_mirror_prob': 0.5,
        'datasets.batvision.features_on': 'device'}
    assert changed_keys('bench/configs/unet_v2_gcc.yaml',
                        'configs/train_unet_batvision_v2.yaml') == {
        'name': 'unet_gcc', 'model.depth_net.UNetSoundOnly.input_nc': 3,
        'datasets.batvision.audio_format': 'mel_spectrogram_gcc'}
    assert changed_keys('bench/configs/unet_v2_spectrogram.yaml',
                        'configs/train_unet_batvision_v2.yaml') == {
        'name': 'unet_spectrogram', 'datasets.batvision.audio_format': 'spectrogram'}
    tuned = 'model.loss.base_residual.'
    for variant, change in [('lowpass8', {tuned + 'lowpass_kernel': 8}),
                            ('lowpass32', {tuned + 'lowpass_kernel': 32}),
                            ('no_curriculum', {tuned + 'curriculum': False})]:
        assert changed_keys(f'bench/configs/base_residual_v2_{variant}.yaml',
                            'configs/train_base_residual_v2.yaml') == {
            'name': f'base_residual_{variant}', **change}


def test_every_map_starts_at_the_prior_depth_in_the_network_units():
    torch.manual_seed(0)
    for max_depth, depth_scale in ((30.0, 1.0), (1.0, 30.0)):
        net = EchoDelayNet(channels=16, num_heads=2, prior_depth=2.5, max_depth=max_depth,
                           depth_scale=depth_scale)
        for depth in net(torch.randn(2, 2, 64, 64))['depth']:
            torch.testing.assert_close(depth * depth_scale, torch.full_like(depth, 2.5))
    with pytest.raises(ValueError, match='prior_depth is 31'):
        EchoDelayNet(channels=16, num_heads=2, prior_depth=31.0, max_depth=30.0)


def test_depth_is_capped_at_max_depth_and_every_weight_gets_a_gradient():
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, max_depth=30.0)
    with torch.no_grad():
        net.heads[0].bias.fill_(10.0)       # exp(log 2 + 10) m is far beyond 30 m
    assert net(torch.randn(1, 2, 64, 64))['depth'][0].max() == 30.0
    net.heads[0].bias.data.zero_()
    sum(d.mean() for d in net(torch.randn(2, 2, 64, 64))['depth']).backward()
    silent = [name for name, p in net.named_parameters() if p.grad is None]
    assert not silent


def test_delay_tokens_know_their_distance():
    """Token k of T is at (k + 0.5) * max_depth / T metres: the recording spans the echo time
    of max_depth. On a silent input every inner column has the same convolution output, so the
    tokens differ by exactly the encodings of their distances, whatever the number of columns."""
    net = EchoDelayNet(channels=16, num_heads=2, max_depth=30.0).eval()
    for columns in (64, 128):
        tokens = net.delay_tokens(torch.zeros(1, 2, 64, columns))[0]
        assert tokens.shape == (columns, 16)
        encodings = distance_encoding((torch.arange(columns) + 0.5) * 30.0 / columns, 16)
        inner = slice(1, columns - 1)       # the edge columns see the convolutions' padding
        torch.testing.assert_close(tokens[inner] - tokens[1], encodings[inner] - encodings[1],
                                   atol=1e-5, rtol=0)
    encoding = distance_encoding(torch.tensor([0.0, 0.025]), 4)     # wavelengths 0.1, 100 m
    torch.testing.assert_close(encoding[1], torch.tensor(
        [math.sin(math.pi / 2), math.sin(2 * math.pi * 0.025 / 100),
         math.cos(math.pi / 2), math.cos(2 * math.pi * 0.025 / 100)]), atol=1e-6, rtol=0)


def test_the_prediction_depends_on_the_echo_delay():
    """Moving the same echo later in time changes the prediction (the delay is read)."""
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, max_depth=30.0).eval()
    for head in net.heads:
        torch.nn.init.normal_(head.weight, std=0.1)
    early, late = torch.zeros(1, 2, 64, 64), torch.zeros(1, 2, 64, 64)
    early[..., 4:6] = 1.0
    late[..., 20:22] = 1.0
    assert (net(early)['depth'][0] - net(late)['depth'][0]).abs().max() > 1e-3


def test_the_interaural_network_reads_the_correlation_channel():
    """With `interaural` the third channel (the ears' correlation) changes the prediction;
    the input must have the channels the network reads, or one line says which format."""
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, interaural=True, max_depth=30.0).eval()
    for head in net.heads:
        torch.nn.init.normal_(head.weight, std=0.1)
    features = torch.randn(1, 3, 64, 64)
    other_lags = features.clone()
    other_lags[:, 2] = torch.randn(64, 64)
    assert (net(features)['depth'][0] - net(other_lags)['depth'][0]).abs().max() > 1e-3
    with pytest.raises(ConfigError, match='audio_format to mel_spectrogram_gcc'):
        net(features[:, :2])
    with pytest.raises(ConfigError, match=r'or model.depth_net.EchoDelayNet.interaural true\)'):
        EchoDelayNet(channels=16, num_heads=2, max_depth=30.0)(features)


def test_echo_augmentation_changes_gain_per_ear_and_delays_the_recording():
    torch.manual_seed(0)
    waveform = torch.randn(64, 2, 100)
    gain_only = EchoAugmentation(gain_db=6.0).train()(waveform)
    ratio = gain_only / waveform                     # one factor per ear and sample
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio))
    decibels = 20 * torch.log10(ratio[..., 0])
    assert decibels.abs().max() <= 6.0 and decibels.abs().max() > 4.0
    assert (decibels[:, 0] - decibels[:, 1]).abs().max() > 1.0       # the ears differ
    shifted = EchoAugmentation(shift_samples=3).train()(waveform)
    for sample, original in zip(shifted, waveform):
        shift = next(s for s in range(-3, 4) if torch.equal(
            sample[:, max(s, 0):100 + min(s, 0)], original[:, max(-s, 0):100 - max(s, 0)]))
        assert torch.all(sample[:, :max(shift, 0)] == 0)
        assert torch.all(sample[:, 100 + min(shift, 0):] == 0)
    assert torch.equal(EchoAugmentation(6.0, 3).eval()(waveform), waveform)


def test_equaliser_boosts_its_band_and_leaves_far_frequencies():
    t = torch.arange(4410) / 44100.0                      # 0.1 s: whole cycles of each tone
    tones = [torch.sin(2 * math.pi * f * t) for f in (4000.0, 500.0)]
    waveform = torch.stack([torch.stack(tones)])           # [1, 2 ears, T]
    out = equalise(waveform, torch.tensor([[6.0, 6.0]]), torch.tensor([[4000.0, 4000.0]]),
                   torch.tensor([[0.5, 0.5]]))
    gains = out.abs().amax(-1) / waveform.abs().amax(-1)
    torch.testing.assert_close(gains, torch.tensor([[10 ** (6 / 20), 1.0]]), atol=2e-3, rtol=0)


def test_echo_equaliser_draws_one_band_per_ear_in_training_only():
    torch.manual_seed(0)
    impulse = torch.zeros(32, 2, 4096)
    impulse[..., 100] = 1.0
    equaliser = EchoAugmentation(eq_db=6.0).train()
    decibels = 20 * torch.fft.rfft(equaliser(impulse)).abs().log10()     # [32, 2, bins]
    peaks = decibels.abs().amax(-1)                                      # each band's gain
    assert peaks.max() <= 6.0 + 1e-3 and peaks.max() > 5.0 and peaks.median() > 2.0
    assert (decibels[:, 0] - decibels[:, 1]).abs().amax(-1).min() > 0.5    # the ears differ
    assert decibels[..., :10].abs().max() < 0.5            # below 100 Hz: untouched
    assert torch.equal(equaliser.eval()(impulse), impulse)
    with pytest.raises(ValueError, match='echo_eq_db'):
        EchoAugmentation(eq_db=-1.0)


def test_frequency_mask_blanks_one_band_of_rows_in_both_ears():
    """... and not in a third channel (the interaural correlation, whose rows are lags)."""
    torch.manual_seed(0)
    features = torch.randn(64, 3, 32, 8) + 5.0           # no feature is 0 by chance
    masker = EchoAugmentation(freq_mask_rows=6).train()
    masked = masker.mask_frequencies(features)
    widths = []
    for sample, original in zip(masked, features):
        assert torch.equal(sample[2], original[2])
        blank = (sample[:2] == 0).all(dim=-1)             # [2, F]: rows set to 0
        assert torch.equal(blank[0], blank[1])            # the same band in both ears
        rows = blank[0].nonzero().flatten().tolist()
        if rows:                                          # one contiguous band
            assert rows == list(range(rows[0], rows[0] + len(rows)))
        kept = ~blank[0]
        assert torch.equal(sample[:2, kept], original[:2, kept])
        widths.append(len(rows))
    assert max(widths) == 6 and min(widths) == 0           # widths drawn from 0 .. 6
    assert torch.equal(masker.eval().mask_frequencies(features), features)
    with pytest.raises(ValueError, match='echo_freq_mask_rows'):
        EchoAugmentation(freq_mask_rows=-1)


def test_front_end_masks_the_features_it_computes(tiny_config):
    cfg = load_config(tiny_config, ['datasets.batvision.features_on', 'device',
                                    'datasets.augmentation.echo_freq_mask_rows', '4'])
    front_end = AudioFrontEnd.from_config(cfg)
    torch.manual_seed(0)
    waveform = torch.randn(16, 2, 4000)
    plain = front_end.eval()(waveform)
    masked = front_end.train()(waveform)
    blank = (masked == 0).all(dim=-1).all(dim=1)         # [B, F]: rows blanked in both ears
    assert 0 < blank.sum(1).max() <= 4
    kept = ~blank[:, None, :, None].expand_as(masked)
    torch.testing.assert_close(masked[kept], plain[kept])


def test_the_delay_readout_reads_depth_off_the_echo_delay():
    """readout delays: a query that points at column k of T takes its distance, (k + 0.5) *
    max_depth / T, and before training every query takes the prior over columns, whose
    expected distance is the prior depth to within the columns' discretisation."""
    reach, columns, prior = 30.0, 64, 2.0
    readout = DelayReadout(channels=8, prior=prior)
    features, memory = torch.zeros(1, 8, 2, 2), torch.zeros(1, columns, 8)
    features[:, 0] = 1.0
    memory[0, 40, 0] = 1.0
    start = readout(features, memory, reach).exp() * prior
    torch.testing.assert_close(start, torch.full_like(start, prior), rtol=1e-2, atol=0)
    with torch.no_grad():
        readout.point.weight.copy_(1e3 * torch.eye(8))
    pointed = readout(features, memory, reach).exp() * prior
    torch.testing.assert_close(pointed, torch.full_like(pointed, 40.5 * reach / columns))
    net = EchoDelayNet(channels=16, num_heads=2, readout='delays', max_depth=30.0)
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in EchoDelayNet(channels=16, num_heads=2, max_depth=30.0).parameters()
    ) + 16 * 16 + 16
    with pytest.raises(ValueError, match="readout is 'bins'"):
        EchoDelayNet(channels=16, num_heads=2, readout='bins')


def test_group_norm_uses_each_samples_own_statistics_in_training_and_eval():
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, norm='group', max_depth=30.0)
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in EchoDelayNet(channels=16, num_heads=2, max_depth=30.0).parameters())
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in net.modules())
    for head in net.heads:                               # away from the prior start
        torch.nn.init.normal_(head.weight, std=0.1)
    audio = torch.randn(4, 2, 64, 64)
    for mode in (net.train, net.eval):
        mode()
        alone = net(audio[:1])['depth'][0]
        torch.testing.assert_close(net(audio)['depth'][0][:1], alone, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(net(torch.cat([audio[:1], 10 * audio[1:]]))['depth'][0][:1],
                                   alone, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="norm is 'layer'"):
        EchoDelayNet(channels=16, num_heads=2, norm='layer')


def test_transformer_dropout_acts_in_training_only():
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, dropout=0.5, max_depth=30.0)
    assert sum(p.numel() for p in net.parameters()) == sum(
        p.numel() for p in EchoDelayNet(channels=16, num_heads=2, max_depth=30.0).parameters())
    for head in net.heads:                               # away from the prior start
        torch.nn.init.normal_(head.weight, std=0.1)
    audio = torch.randn(2, 2, 64, 64)
    net.train()
    assert (net(audio)['depth'][0] - net(audio)['depth'][0]).abs().max() > 1e-4
    net.eval()
    assert torch.equal(net(audio)['depth'][0], net(audio)['depth'][0])


def test_echo_augmentation_needs_the_features_on_the_device(tiny_config):
    opts = ['datasets.augmentation.echo_gain_db', '3']
    with pytest.raises(ValueError, match='features_on device'):
        AudioFrontEnd.from_config(load_config(tiny_config, opts))
    front_end = AudioFrontEnd.from_config(
        load_config(tiny_config, opts + ['datasets.batvision.features_on', 'device']))
    assert front_end.augmentation.gain_db == 3.0


def test_echo_mirror_swaps_the_ears_and_flips_every_map_of_the_chosen_samples():
    torch.manual_seed(0)
    batch = {'audio': torch.randn(64, 2, 50), 'depth': torch.rand(64, 1, 4, 6),
             'valid': torch.rand(64, 1, 4, 6) > 0.3, 'rgb': torch.rand(64, 3, 4, 6),
             'filename': ['f'] * 64}
    mirrored = EchoAugmentation(mirror_prob=0.5).train().other_worlds(batch)
    chosen = [torch.equal(mirrored['audio'][i], batch['audio'][i].flip(0)) for i in range(64)]
    assert 16 < sum(chosen) < 48
    for i, flipped in enumerate(chosen):
        for key in ('depth', 'valid', 'rgb'):
            expected = batch[key][i].flip(-1) if flipped else batch[key][i]
            assert torch.equal(mirrored[key][i], expected)
        if not flipped:
            assert torch.equal(mirrored['audio'][i], batch['audio'][i])
    assert mirrored['filename'] is batch['filename']
    assert EchoAugmentation(mirror_prob=1.0).eval().other_worlds(batch) is batch
    with pytest.raises(ValueError, match='echo_mirror_prob must be in'):
        EchoAugmentation(mirror_prob=1.5)


def test_a_training_step_learns_from_the_mirrored_batch(tiny_config):
    opts = ['datasets.augmentation.echo_mirror_prob', '1.0']
    with pytest.raises(ValueError, match='features_on device'):
        AudioFrontEnd.from_config(load_config(tiny_config, opts))
    cfg = load_config(tiny_config, opts + ['datasets.batvision.features_on', 'device'])
    trainer = Trainer(cfg, tiny_config.parent / 'run', SingleProcess())
    seen = []
    forward = trainer.model.forward
    trainer.model.forward = lambda batch: seen.append(batch) or forward(batch)
    batch = trainer.to_device(next(iter(trainer.train_loader)))
    trainer.train_step(batch, epoch=0)
    assert torch.equal(seen[0]['audio'], batch['audio'].flip(1))
    assert torch.equal(seen[0]['depth'], batch['depth'].flip(-1))
    trainer.model.eval()
    assert trainer.model.training_batch(batch) is batch


def echo_features(onset, echo, columns=40):
    """Features [1, 2, 3, columns]: silence (0), a direct sound from column `onset` on (4),
    decaying to 1, and one echo column (6) at `echo`."""
    level = torch.zeros(columns)
    level[onset:] = 1.0 + 3.0 * torch.exp(-0.5 * torch.arange(columns - onset, dtype=torch.float))
    level[echo] = 6.0
    return level.expand(1, 2, 3, columns).clone()


def test_room_scale_stretches_the_delays_after_the_direct_sound():
    features = torch.cat([echo_features(5, 15), echo_features(8, 20)])
    stretched = stretch_delays(features, torch.tensor([1.2, 0.75]))
    assert stretched[..., 0, 0, :].argmax(-1).tolist() == [5 + 12, 8 + 9]   # echo: onset + s d
    assert torch.equal(stretched[:, :, 0], stretched[:, :, 2])    # each row alike, both ears
    torch.testing.assert_close(stretched[0, 0, 0, 5], features[0, 0, 0, 5])    # the onset stays
    torch.testing.assert_close(stretched[0, 0, 0, 11], features[0, 0, 0, 10])  # 5 + 5 * 1.2
    torch.testing.assert_close(stretch_delays(features, torch.ones(2)), features)


def test_room_scale_multiplies_depth_by_the_factor_the_features_are_stretched_by():
    torch.manual_seed(0)
    batch = {'audio': torch.randn(64, 2, 50), 'depth': torch.rand(64, 1, 4, 6) + 1.0,
             'valid': torch.rand(64, 1, 4, 6) > 0.3}
    scaled = EchoAugmentation(room_scale=0.2).train().other_worlds(batch)
    scales = scaled['room_scale']
    assert 0.8 <= scales.min() < 0.85 and 1.15 < scales.max() <= 1.2
    torch.testing.assert_close(scaled['depth'], batch['depth'] * scales.view(-1, 1, 1, 1))
    assert torch.equal(scaled['audio'], batch['audio']) and scaled['valid'] is batch['valid']
    assert EchoAugmentation(room_scale=0.2).eval().other_worlds(batch) is batch
    with pytest.raises(ValueError, match='echo_room_scale must be in'):
        EchoAugmentation(room_scale=1.0)


def test_superposed_worlds_average_the_recordings_and_keep_the_nearer_depth():
    """Sample 0 heard with sample 1: the waveforms' mean; per pixel the nearer valid depth,
    the one valid depth where only one is, invalid where neither is; sample 1 unchanged."""
    batch = {'audio': torch.tensor([[[2.0, 4.0]], [[0.0, 8.0]]]),
             'depth': torch.tensor([[[[1.0, 3.0, 5.0, 0.0]]], [[[2.0, 2.0, 0.0, 0.0]]]]),
             'valid': torch.tensor([[[[True, True, True, False]]],
                                    [[[True, True, False, False]]]])}
    mixed = superpose(batch, torch.tensor([True, False]), torch.tensor([1, 0]))
    assert mixed['audio'].tolist() == [[[1.0, 6.0]], [[0.0, 8.0]]]
    assert mixed['depth'][0].flatten().tolist() == [1.0, 2.0, 5.0, 0.0]
    assert mixed['valid'][0].flatten().tolist() == [True, True, True, False]
    for key in batch:
        assert torch.equal(mixed[key][1], batch[key][1])


def test_mix_prob_superposes_about_that_share_of_the_samples():
    torch.manual_seed(0)
    batch = {'audio': torch.randn(400, 2, 50), 'depth': torch.rand(400, 1, 4, 6) + 1.0,
             'valid': torch.ones(400, 1, 4, 6, dtype=torch.bool)}
    mixed = EchoAugmentation(mix_prob=0.25).train().other_worlds(batch)
    changed = (mixed['audio'] != batch['audio']).flatten(1).any(1)
    assert 0.18 < changed.float().mean() < 0.32
    assert (mixed['depth'] <= batch['depth']).all()
    assert torch.equal(mixed['depth'][~changed], batch['depth'][~changed])
    assert EchoAugmentation(mix_prob=0.25).eval().other_worlds(batch) is batch
    with pytest.raises(ValueError, match='echo_mix_prob must be in'):
        EchoAugmentation(mix_prob=1.5)


def test_a_training_step_hears_the_scaled_world(tiny_config):
    cfg = load_config(tiny_config, ['datasets.augmentation.echo_room_scale', '0.5',
                                    'datasets.batvision.features_on', 'device'])
    trainer = Trainer(cfg, tiny_config.parent / 'run', SingleProcess())
    seen = []
    frontend = trainer.model.audio_frontend.forward
    trainer.model.audio_frontend.forward = lambda *args: seen.append(args) or frontend(*args)
    batch = trainer.to_device(next(iter(trainer.train_loader)))
    trainer.train_step(batch, epoch=0)
    waveform, scales = seen[0]
    assert torch.equal(waveform, batch['audio']) and not torch.allclose(scales, torch.ones(1))
    heard = frontend(waveform, scales)
    assert (heard - frontend(waveform)).abs().max() > 0.1


class LeftEarRamp:
    """A stand-in model whose depth is the left ear's mean times the column number 1..W."""
    def evaluation_output(self, batch):
        left = batch['audio'][:, 0].mean(-1).view(-1, 1, 1, 1)
        return {'depth': left * torch.arange(1.0, 6.0).view(1, 1, 1, 5), 'gt': batch['depth']}


def test_test_time_mirror_scores_the_mean_with_the_flipped_back_mirrored_prediction():
    audio = torch.stack([torch.full((2, 8), 1.0), torch.full((2, 8), 3.0)], 1)  # left 1, right 3
    batch = {'audio': audio, 'depth': torch.rand(2, 1, 1, 5)}
    ramp = torch.arange(1.0, 6.0)
    assert torch.equal(scored_output(LeftEarRamp(), batch)['depth'][0, 0, 0], ramp)
    mirrored = scored_output(LeftEarRamp(), batch, test_time_mirror=True)['depth'][0, 0, 0]
    assert torch.allclose(mirrored, (1.0 * ramp + 3.0 * ramp.flip(0)) / 2)


def test_validation_scores_the_mirrored_batch_with_test_time_mirror(tiny_config):
    cfg = load_config(tiny_config, ['evaluation.test_time_mirror', 'true'])
    trainer = Trainer(cfg, tiny_config.parent / 'run', SingleProcess())
    seen = []
    output = trainer.model.evaluation_output
    trainer.model.evaluation_output = lambda batch: seen.append(batch) or output(batch)
    trainer.validate(epoch=0)
    assert len(seen) == 2 * sum(len(loader) for loader in trainer.val_loaders.values())
    assert torch.equal(seen[1]['audio'], seen[0]['audio'].flip(1))


def test_band_norm_takes_out_a_colouring_shared_by_the_ears_and_keeps_their_difference():
    """EchoDelayNet.band_norm: an affine change of each frequency row, the same in both ears
    (a response of the rig), leaves the depth as it was; without band_norm it does not, and a
    level change in one ear changes the depth with it."""
    torch.manual_seed(0)
    audio = torch.randn(2, 2, 32, 32)
    gain, offset = torch.rand(1, 1, 32, 1) + 0.5, torch.randn(1, 1, 32, 1)
    for band_norm in (True, False):
        net = EchoDelayNet(channels=16, num_heads=2, band_norm=band_norm, max_depth=30.0).eval()
        with torch.no_grad():
            for head in net.heads:
                nn.init.normal_(head.weight, std=0.1)
            depth = net(audio)['depth'][0]
            coloured = net(gain * audio + offset)['depth'][0]
            one_ear = net(audio * torch.tensor([2.0, 1.0])[None, :, None, None])['depth'][0]
        assert torch.allclose(coloured, depth, atol=1e-5) == band_norm
        assert (one_ear - depth).abs().max() > 1e-3


def test_the_global_log_depth_starts_at_zero_and_scales_every_pixel_alike():
    """EchoDelayNet.global_log_depth: the first prediction is still the prior everywhere, the
    term learns (its weights get a gradient), and a log depth of log 2 doubles every pixel."""
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, global_log_depth=True, max_depth=30.0)
    audio = torch.randn(2, 2, 32, 32)
    depth = net(audio)['depth'][0]
    torch.testing.assert_close(depth, torch.full_like(depth, 2.0))
    depth.mean().backward()
    assert net.global_log_depth.weight.grad.abs().sum() > 0
    with torch.no_grad():
        net.global_log_depth.bias.fill_(math.log(2.0))
    torch.testing.assert_close(net.eval()(audio)['depth'][0], torch.full_like(depth, 4.0))


def test_the_pixel_log_depth_is_one_learned_map_shared_by_every_recording():
    """EchoDelayNet.pixel_log_depth: a map of the finest scale that starts at zero (the prior
    everywhere), learns, and doubles its pixel's depth in every recording at log 2."""
    torch.manual_seed(0)
    net = EchoDelayNet(channels=16, num_heads=2, query_grid=4, pixel_log_depth=True,
                       max_depth=30.0)
    assert net.pixel_log_depth.shape == (1, 1, 16, 16)
    audio = torch.randn(2, 2, 32, 32)
    finest = net(audio)['depth'][1]
    torch.testing.assert_close(finest, torch.full_like(finest, 2.0))
    finest.mean().backward()
    assert net.pixel_log_depth.grad.abs().min() > 0
    with torch.no_grad():
        net.pixel_log_depth[0, 0, 3, 5] = math.log(2.0)
    doubled = torch.full_like(finest, 2.0)
    doubled[:, 0, 3, 5] = 4.0
    torch.testing.assert_close(net.eval()(audio)['depth'][1], doubled)


def test_a_third_refinement_gives_the_full_resolution_map_its_own_head():
    """EchoDelayNet.refinements 3 on a 16 x 16 query grid: the finest map is 128 x 128 (the
    input's size), one refinement and head more than the default, and it starts at the prior."""
    net = EchoDelayNet(refinements=3, max_depth=30.0)
    depths = net(torch.randn(2, 2, 128, 128))['depth']
    assert [d.shape[-1] for d in depths] == [128, 128, 64, 32, 16]
    torch.testing.assert_close(depths[1], torch.full_like(depths[1], 2.0))
    added = sum(p.numel() for p in [*net.refine[2].parameters(), *net.heads[3].parameters()])
    assert added == 16 * 16 * 9 + 2 * 16 + 16 * 9 + 1
    assert sum(p.numel() for p in net.parameters()) == PINNED_PARAMETERS + added


def test_the_two_stream_net_blends_its_streams_and_returns_each_for_supervision():
    """EchoTwoStreamNet: [0.7 * EchoDelayNet's full map + 0.3 * the U-Net's, the U-Net's,
    EchoDelayNet's maps]; the U-Net's log-depth head starts near the prior, not at 0 m; no
    gradient flows through the blend, each stream's maps train it; echo_best_v2 is
    echo_delay_net_v2's EchoDelayNet with the U-Net beside it."""
    torch.manual_seed(0)
    net = EchoTwoStreamNet(channels=16, num_heads=2, unet_ngf=4, max_depth=30.0)
    audio = torch.randn(2, 2, 128, 128)
    blend, unet, *delay_maps = net(audio)['depth']
    assert [d.shape[-1] for d in (blend, unet, *delay_maps)] == [128, 128, 128, 64, 32, 16]
    torch.testing.assert_close(blend, 0.7 * delay_maps[0] + 0.3 * unet)
    assert (unet - 2.0).abs().max() < 1.0 and unet.std() > 0
    assert not blend.requires_grad
    (unet.mean() + delay_maps[0].mean()).backward()
    assert all(p.grad is not None for p in net.parameters())
    interaural = EchoTwoStreamNet(channels=16, num_heads=2, unet_ngf=4, interaural=True,
                                  max_depth=30.0)          # both streams read the third channel
    assert interaural(torch.randn(1, 3, 128, 128))['depth'][1].shape == (1, 1, 128, 128)
    with pytest.raises(ConfigError, match=r'EchoTwoStreamNet.unet_weight must be in \[0, 1\]'):
        EchoTwoStreamNet(unet_weight=1.5, max_depth=30.0)
    cfg = load_config(BEST_CONFIG).model
    delay_net = load_config(DELAY_NET_CONFIG).model.depth_net.EchoDelayNet
    assert {**cfg.depth_net.EchoTwoStreamNet} == {**delay_net, 'unet_generator': 'unet_128',
                                                  'unet_ngf': 8, 'unet_weight': 0.3}
    assert cfg.loss.supervised_num_scales == 6


def test_the_two_stream_nets_delay_stream_is_the_same_draw_as_echo_delay_net_alone():
    """For one seed, EchoTwoStreamNet's EchoDelayNet starts with EchoDelayNet's weights and
    leaves the random numbers where EchoDelayNet leaves them (so training draws the same
    mirrors and batches): the U-Net is added to the same draw."""
    nets, next_draws = [], []
    for build in (EchoDelayNet, lambda **kw: EchoTwoStreamNet(unet_ngf=4, **kw)):
        torch.manual_seed(3)
        nets.append(build(channels=16, num_heads=2, max_depth=30.0))
        next_draws.append(torch.rand(4))
    alone, two_stream = (net.state_dict() for net in nets)
    assert all(torch.equal(alone[key], two_stream[key]) for key in alone)
    assert torch.equal(*next_draws)


def test_a_two_stream_training_step_does_not_depend_on_the_blend_weight(tiny_config):
    """No gradient flows through the blend: from one seed and batch, a training step leaves the
    same weights whatever unet_weight is (so it may be picked after training, on validation:
    bench/pick_on_validation.py), and the predictions differ as the weight says."""
    net = 'model.depth_net.EchoTwoStreamNet.'
    trainers, batch = [], None
    for weight in ('0.3', '0.9'):
        cfg = load_config(tiny_config, ['model.depth_net.name', 'EchoTwoStreamNet',
                                        'model.loss.supervised_num_scales', '6',
                                        net + 'channels', '16', net + 'num_heads', '2',
                                        net + 'unet_ngf', '4', net + 'unet_weight', weight])
        trainer = Trainer(cfg, tiny_config.parent / f'run_{weight}', SingleProcess())
        batch = batch or trainer.to_device(next(iter(trainer.train_loader)))
        start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        trainer.train_step(batch, epoch=0)
        trainers.append(trainer)
    first, second = (trainer.model.state_dict() for trainer in trainers)
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert any(not torch.equal(first[key], start[key]) for key in first)
    (blend, unet, delay, *_), (other_blend, *_) = (
        trainer.model.eval().predict(batch)['depth'] for trainer in trainers)
    torch.testing.assert_close(other_blend - blend, 0.6 * (unet - delay))


def test_the_echo_profile_is_each_sectors_share_of_pixels_per_delay_column():
    """Columns of 1 m over 0..4 m, two sectors of two image columns each."""
    depth = torch.tensor([[0.5, 1.5, 3.5, 3.9],
                          [0.2, float('nan'), 3.2, 9.0]])[None, None]
    valid = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 1]])[None, None]
    profile = echo_profile(depth, valid, columns=4, reach=4.0, sectors=2)
    assert torch.allclose(profile[0], torch.tensor([[2 / 3, 1 / 3, 0, 0],      # 0.5, 1.5, 0.2
                                                    [0, 0, 0, 1.0]]))         # 3.5, 3.9, 9.0


def test_the_echo_profile_loss_is_least_for_the_depth_maps_own_profile():
    depth = torch.rand(2, 1, 8, 8) * 4
    valid = torch.ones_like(depth)
    target = echo_profile(depth, valid, columns=16, reach=4.0, sectors=2)
    matching = echo_profile_loss(target.clamp(min=1e-6).log(), depth, valid, 4.0)
    entropy = -(target * target.clamp(min=1e-6).log()).sum(-1).mean()
    assert matching == pytest.approx(entropy.item(), abs=1e-4)
    for logits in (torch.zeros(2, 2, 16), target.flip(-1).clamp(min=1e-6).log()):
        assert echo_profile_loss(logits, depth, valid, 4.0) > matching + 0.1
    nothing = echo_profile_loss(torch.zeros(2, 2, 16), depth, torch.zeros_like(depth), 4.0)
    assert nothing.item() == 0.0


def test_the_profile_head_reads_the_delay_tokens_and_trains_with_its_weight(tiny_config):
    net = EchoDelayNet(profile_sectors=4, max_depth=30.0)
    assert sum(p.numel() for p in net.parameters()) == PINNED_PARAMETERS + 32 * 4 + 4
    assert net(torch.randn(2, 2, 128, 128))['echo_profile'].shape == (2, 4, 128)
    cfg = load_config(tiny_config, ['model.depth_net.name', 'EchoDelayNet',
                                    'model.loss.echo_profile_weight', '0.1',
                                    'model.depth_net.EchoDelayNet.profile_sectors', '2'])
    trainer = Trainer(cfg, tiny_config.parent / 'run', SingleProcess())
    batch = trainer.to_device(next(iter(trainer.train_loader)))
    output = trainer.model(batch)
    profile = output['metrics']['echo_profile_loss'].item()
    expected = echo_profile_loss(output['echo_profile'], batch['depth'], batch['valid'],
                                 trainer.model.max_depth / trainer.model.depth_scale)
    assert profile == pytest.approx(expected.item()) and profile > 1.0
    trainer.model.echo_profile_weight = 0.0
    without = trainer.model(batch)['loss'].item()
    assert without == pytest.approx(output['loss'].item() - 0.1 * profile, rel=1e-5)
    cfg.model.depth_net.EchoDelayNet.profile_sectors = 0
    with pytest.raises(ConfigError, match='echo_profile_weight is 0.1 but EchoDelayNet'):
        Trainer(cfg, tiny_config.parent / 'run2', SingleProcess())


def test_attending_refinements_read_the_delay_tokens_themselves():
    """With the query grid's features held, the first refined map changes with the delay
    tokens only when that refinement attends to them; the parameters grow by one
    cross-attention."""
    torch.manual_seed(0)
    features, memory = torch.randn(1, 32, 16, 16), torch.randn(2, 128, 32)
    for attending, parameters in ((0, PINNED_PARAMETERS), (1, 92_867)):
        net = EchoDelayNet(attending_refinements=attending, max_depth=30.0).eval()
        assert sum(p.numel() for p in net.parameters()) == parameters
        nn.init.normal_(net.heads[1].weight)
        refined = [net.log_depths(features, memory[[k]])[1] for k in (0, 1)]
        assert torch.equal(*refined) != bool(attending)
    with pytest.raises(ConfigError, match=r'attending_refinements must be in \[0, 2\] \(at most'):
        EchoDelayNet(attending_refinements=3, max_depth=30.0)
