"""Audio depth networks (UNetSoundOnly, BaseResidualUNet, BinauralAttentionUNet) and the RGB
teacher (RGBDepthUNet): parameter counts, shapes, output contract, value ranges, gradients."""
import copy
import math

import pytest
import torch
import torch.nn as nn

from configs.default_config import get_cfg_defaults
from packnet_sfm.networks import build_depth_net
from packnet_sfm.networks.depth.BaseResidualUNet import BaseResidualUNet
from packnet_sfm.networks.depth.BinauralAttentionUNet import BinauralAttentionUNet
from packnet_sfm.networks.depth.RGBDepthUNet import RGBDepthUNet
from packnet_sfm.networks.depth.UNetSoundOnly import UNetSoundOnly
from packnet_sfm.networks.layers.attention import CrossAttention, sinusoidal_encoding_2d

torch.set_num_threads(1)


def num_parameters(net_class, **kwargs):
    """Parameter count of a network built on the meta device (no memory, no init cost)."""
    with torch.device('meta'):
        return sum(p.numel() for p in net_class(**kwargs).parameters())


def conv_block_parameters(in_channels, out_channels):
    """Two bias-free 3x3 convolutions, each with a BatchNorm (weight and bias)."""
    return 9 * out_channels * (in_channels + out_channels) + 4 * out_channels


def unet_parameters(in_channels, base):
    """(encoder, decoder) parameters by hand: in->b, b->2b, 2b->4b, 4b->8b, 8b->8b, then
    up-blocks over [upsampled, skip] 8b+8b->8b, 8b+4b->4b, 4b+2b->2b, 2b+b->b."""
    deeper_levels = [(1, 2), (2, 4), (4, 8), (8, 8)]
    up_levels = [(16, 8), (12, 4), (6, 2), (3, 1)]
    encoder = conv_block_parameters(in_channels, base) + sum(
        conv_block_parameters(i * base, o * base) for i, o in deeper_levels)
    decoder = sum(conv_block_parameters(i * base, o * base) for i, o in up_levels)
    return encoder, decoder


@pytest.mark.parametrize('generator, expected', [('unet_256', 54_408_833),
                                                 ('unet_128', 41_823_873)])
def test_unet_sound_only_has_the_official_parameter_count(generator, expected):
    assert num_parameters(UNetSoundOnly, generator=generator, ngf=64) == expected


@pytest.mark.parametrize('base, expected', [(32, 7_444_738), (64, 29_764_098),
                                            (128, 119_026_690)])
def test_base_residual_parameter_counts(base, expected):
    encoder, decoder = unet_parameters(2, base)
    heads = 2 * (base + 1)
    assert encoder + 2 * decoder + heads == expected
    assert num_parameters(BaseResidualUNet, base_channels=base) == expected


def test_rgb_teacher_parameter_count():
    encoder, decoder = unet_parameters(3, 64)
    assert encoder + decoder + 65 == 19_586_305
    assert num_parameters(RGBDepthUNet, base_channels=64) == 19_586_305


def test_binaural_attention_parameter_counts():
    encoder, decoder = unet_parameters(1, 64)
    fusion = sum(2 * c * c + 2 * c for c in (64, 128, 256, 512, 512))
    c = 512                                             # attention at levels 4 and 5
    cross_attention = (4 * c * c + 4 * c) + 3 * 2 * c + (c * 4 * c + 4 * c) + (4 * c * c + c)
    attention = 2 * 2 * cross_attention                 # 2 levels x (left<-right, right<-left)
    expected = 2 * encoder + fusion + attention + decoder + 65
    assert expected == 42_829_121
    assert num_parameters(BinauralAttentionUNet, base_channels=64) == expected
    assert num_parameters(BinauralAttentionUNet, base_channels=64,
                          share_encoders=True) == expected - encoder


@pytest.mark.parametrize('generator, size', [('unet_128', (128, 128)), ('unet_128', (128, 256)),
                                             ('unet_256', (256, 256))])
def test_unet_sound_only_shapes(generator, size):
    net = UNetSoundOnly(generator=generator, ngf=4, max_depth=30.0)
    output = net(torch.randn(1, 2, *size), return_features=True)
    depth = output['depth'][0]
    assert depth.shape == (1, 1, *size)
    assert 0.0 <= depth.min() and depth.max() <= 30.0
    levels = 7 if generator == 'unet_128' else 8
    assert list(output['features']) == [f'x{k}' for k in range(1, levels + 1)]
    assert output['features'][f'x{levels}'].shape[-2:] == (size[0] >> levels, size[1] >> levels)


def test_unet_sound_only_rejects_bad_sizes_and_generators():
    with pytest.raises(ValueError, match='multiples of 128'):
        UNetSoundOnly(generator='unet_128', ngf=4)(torch.randn(1, 2, 128, 96))
    with pytest.raises(ValueError, match='generator'):
        UNetSoundOnly(generator='unet_512')


def test_unet_sound_only_skips_are_not_activated_in_place():
    """The skip tensors are the raw down outputs, yet depth and gradients equal the original's
    in-place variant (there ReLU(LeakyReLU(x)) reaches the up conv instead of ReLU(x))."""
    torch.manual_seed(0)
    net = UNetSoundOnly(generator='unet_128', ngf=4).eval()
    in_place = copy.deepcopy(net)
    for module in in_place.modules():
        if isinstance(module, (nn.ReLU, nn.LeakyReLU)):
            module.inplace = True
    audio = torch.randn(1, 2, 128, 128)
    output = net(audio, return_features=True)
    output_in_place = in_place(audio, return_features=True)

    first_down = net.unet.down(audio)
    assert torch.equal(output['features']['x1'], first_down)
    assert (first_down < 0).any()
    assert not torch.equal(output_in_place['features']['x1'], first_down)   # the quirk
    torch.testing.assert_close(output['depth'][0], output_in_place['depth'][0], rtol=0, atol=0)
    output['depth'][0].sum().backward()
    output_in_place['depth'][0].sum().backward()
    torch.testing.assert_close(net.unet.down[0].weight.grad, in_place.unet.down[0].weight.grad)


def small_nets():
    return [(UNetSoundOnly(generator='unet_128', ngf=4), 'audio', 2, 128),
            (BaseResidualUNet(base_channels=4), 'audio', 2, 32),
            (BinauralAttentionUNet(base_channels=4, num_heads=2), 'audio', 2, 32),
            (RGBDepthUNet(base_channels=4), 'rgb', 3, 32)]


def output_structure(output):
    """{key: [(type, shape), ...]} for the lists of maps (and the feature dict's shapes)."""
    structure = {key: [(type(t), tuple(t.shape)) for t in value]
                 for key, value in output.items() if key != 'features'}
    structure['features'] = {k: tuple(v.shape) for k, v in output.get('features', {}).items()}
    return structure


@pytest.mark.parametrize('net, key, channels, size', small_nets(),
                         ids=lambda value: type(value).__name__ if isinstance(value, nn.Module)
                         else str(value))
def test_output_contract_is_the_same_in_train_and_eval(net, key, channels, size):
    assert net.input_keys == (key,)
    inputs = {key: torch.rand(2, channels, size, size)}
    for return_features in (False, True):
        train_output = net.train()(**inputs, return_features=return_features)
        eval_output = net.eval()(**inputs, return_features=return_features)
        assert output_structure(train_output) == output_structure(eval_output)
        assert train_output['depth'][0].shape == (2, 1, size, size)
        assert ('features' in train_output) == return_features


def set_head(head, bias):
    nn.init.zeros_(head.weight)
    nn.init.constant_(head.bias, bias)


@pytest.mark.parametrize('base_bias, residual_bias, base, residual, final', [
    (0.0, math.atanh(0.5), 5.0, 1.0, 6.0),         # sigmoid(0)*10, tanh(.)*0.2*10, sum
    (100.0, 100.0, 10.0, 2.0, 10.0),               # saturated: 10 + 2 clamps to max_depth
    (-100.0, -100.0, 0.0, -2.0, 0.0),              # saturated: 0 - 2 clamps to 0
])
def test_base_residual_heads(base_bias, residual_bias, base, residual, final):
    net = BaseResidualUNet(base_channels=4, max_depth=10.0, residual_scale=0.2).eval()
    set_head(net.base_head, base_bias)
    set_head(net.residual_head, residual_bias)
    output = net(torch.randn(1, 2, 16, 16))
    for name, value in (('base', base), ('residual', residual), ('depth', final)):
        torch.testing.assert_close(output[name][0], torch.full((1, 1, 16, 16), value))


def test_base_residual_ranges_on_random_weights():
    torch.manual_seed(0)
    net = BaseResidualUNet(base_channels=4, max_depth=30.0, residual_scale=0.2)
    for head in (net.base_head, net.residual_head):
        nn.init.normal_(head.weight, std=10.0)      # push both heads towards saturation
    output = net(10 * torch.randn(2, 2, 32, 32))
    base, residual, final = output['base'][0], output['residual'][0], output['depth'][0]
    assert 0.0 <= base.min() and base.max() <= 30.0
    assert -6.0 <= residual.min() and residual.max() <= 6.0
    assert residual.abs().max() > 5.0              # the test reaches the bounds
    assert 0.0 <= final.min() and final.max() <= 30.0
    torch.testing.assert_close(final, torch.clamp(base + residual, 0.0, 30.0))


@pytest.mark.parametrize('detach_base', [False, True])
def test_detach_base_stops_the_reconstruction_gradient_into_the_base_branch(detach_base):
    torch.manual_seed(0)
    net = BaseResidualUNet(base_channels=4)
    net(torch.randn(2, 2, 16, 16), detach_base=detach_base)['depth'][0].sum().backward()

    def gradient_norm(module):
        return sum(p.grad.abs().sum() for p in module.parameters() if p.grad is not None)

    assert gradient_norm(net.residual_decoder) > 0 and gradient_norm(net.residual_head) > 0
    assert gradient_norm(net.encoder) > 0
    base_gradient = gradient_norm(net.base_decoder) + gradient_norm(net.base_head)
    assert (base_gradient == 0) == detach_base


def test_binaural_features_match_the_seed_table():
    """x1..x5: 64/128/256/512/512 channels at 1 .. 1/16 of 256x256; d1..d4 mirror x4..x1."""
    with torch.device('meta'):
        net = BinauralAttentionUNet(base_channels=64)
        features = net(torch.zeros(1, 2, 256, 256), return_features=True)['features']
    expected = {'x1': (64, 256), 'x2': (128, 128), 'x3': (256, 64), 'x4': (512, 32),
                'x5': (512, 16), 'd1': (512, 32), 'd2': (256, 64), 'd3': (128, 128),
                'd4': (64, 256)}
    assert {k: tuple(v.shape) for k, v in features.items()} == {
        k: (1, c, s, s) for k, (c, s) in expected.items()}


def test_binaural_net_uses_both_ears_and_checks_its_input():
    torch.manual_seed(0)
    net = BinauralAttentionUNet(base_channels=4, num_heads=2, share_encoders=True).eval()
    assert net.left_encoder is net.right_encoder
    audio = torch.randn(1, 2, 32, 32)
    swapped = audio.flip(1)                     # left <-> right
    assert not torch.allclose(net(audio)['depth'][0], net(swapped)['depth'][0])
    with pytest.raises(ValueError, match=r'\[B, 2, H, W\]'):
        net(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match='attention_levels: level 6 does not exist'):
        BinauralAttentionUNet(base_channels=4, attention_levels=(6,))
    with pytest.raises(ValueError, match='level 1 has 6 channels'):
        BinauralAttentionUNet(base_channels=6, attention_levels=(1,), num_heads=2)


def test_sinusoidal_encoding_values():
    encoding = sinusoidal_encoding_2d(channels=4, height=2, width=3)  # one frequency: 1
    assert encoding.shape == (6, 4)
    row, column = 1, 2
    expected = torch.tensor([math.sin(row), math.cos(row), math.sin(column), math.cos(column)])
    torch.testing.assert_close(encoding[row * 3 + column], expected)
    with pytest.raises(ValueError, match='divisible by 4'):
        sinusoidal_encoding_2d(channels=6, height=2, width=2)


def test_cross_attention_output_depends_on_the_context():
    torch.manual_seed(0)
    attention = CrossAttention(channels=8, num_heads=2, mlp_ratio=2)
    query, context = torch.randn(1, 8, 4, 4), torch.randn(1, 8, 4, 4)
    out = attention(query, context)
    assert out.shape == query.shape
    assert not torch.allclose(out, attention(query, torch.randn(1, 8, 4, 4)))


@pytest.mark.parametrize('name', ['UNetSoundOnly', 'BaseResidualUNet', 'BinauralAttentionUNet',
                                  'RGBDepthUNet'])
def test_networks_build_from_the_default_config(name):
    cfg = get_cfg_defaults()
    cfg.model.depth_net.name = name
    with torch.device('meta'):
        net = build_depth_net(cfg, max_depth=30.0, in_channels=2)
    assert type(net).__name__ == name and net.max_depth == 30.0


def left_stream_gradient_from_the_right_ear(net, level):
    """|d(left stream at `level`, as its fusion receives it) / d(right ear input)|, summed."""
    captured = {}
    net.fusion[level - 1].register_forward_hook(
        lambda module, inputs, output: captured.update(streams=inputs[0]))
    audio = torch.randn(2, 2, 32, 32, requires_grad=True)
    net(audio)
    channels = captured['streams'].shape[1] // 2
    left_stream = captured['streams'][:, :channels]
    gradient, = torch.autograd.grad(left_stream.pow(2).sum(), audio)
    return gradient[:, 1].abs().sum().item()


def test_cross_attention_carries_the_other_ear_into_each_stream():
    """The ears meet only in the cross-attention (and the per-level fusion after it): the left
    stream depends on the right ear from the first attention level on, and not before; the
    same network without attention keeps the left stream blind to the right ear."""
    torch.manual_seed(0)
    net = BinauralAttentionUNet(base_channels=4, num_heads=2, attention_levels=(4, 5)).eval()
    assert left_stream_gradient_from_the_right_ear(net, 3) == 0.0
    assert left_stream_gradient_from_the_right_ear(net, 4) > 1e-3
    assert left_stream_gradient_from_the_right_ear(net, 5) > 1e-3
    without = BinauralAttentionUNet(base_channels=4, num_heads=2, attention_levels=()).eval()
    assert left_stream_gradient_from_the_right_ear(without, 5) == 0.0


@pytest.mark.parametrize('net_class, head, key', [(BaseResidualUNet, 'base_head', 'base'),
                                                  (BinauralAttentionUNet, 'head', 'depth'),
                                                  (RGBDepthUNet, 'head', 'depth')])
@pytest.mark.parametrize('max_depth, depth_scale', [(30.0, 1.0), (1.0, 30.0)])
def test_sigmoid_heads_start_at_the_prior_depth(net_class, head, key, max_depth, depth_scale):
    """With the head's weights zeroed the output is its bias alone: prior_depth metres, in the
    network's units (metres, or normalised by max_depth). A prior of 0 keeps the default
    initialisation (near max_depth / 2), as before priors existed."""
    kwargs = {'base_channels': 4, 'max_depth': max_depth, 'depth_scale': depth_scale}
    if net_class is BinauralAttentionUNet:
        kwargs['num_heads'] = 2
    net = net_class(**kwargs, prior_depth=2.5).eval()
    nn.init.zeros_(getattr(net, head).weight)
    inputs = torch.rand(1, 3 if net_class is RGBDepthUNet else 2, 16, 16)
    depth = net(inputs)[key][0] * depth_scale
    torch.testing.assert_close(depth, torch.full_like(depth, 2.5))
    torch.manual_seed(0)
    default = net_class(**kwargs)
    torch.manual_seed(0)
    assert torch.equal(getattr(net_class(**kwargs, prior_depth=0.0), head).bias,
                       getattr(default, head).bias)
    with pytest.raises(ValueError, match='prior_depth is 40'):
        net_class(**kwargs, prior_depth=40.0)
