"""WaveformDepthNet: output shape and range for V1- and V2-length waveforms, features,
gradients to the first layer, and errors that name the fix."""
import pytest
import torch

from packnet_sfm.networks.depth.WaveformDepthNet import WaveformDepthNet

torch.set_num_threads(1)


@pytest.mark.parametrize('samples', [4410, 7782])       # ~0.1 s (V1), 30 m cut (V2)
def test_waveforms_become_a_depth_map_of_output_size(samples):
    torch.manual_seed(0)
    net = WaveformDepthNet(base_channels=4, output_size=64, max_depth=12.0)
    output = net(torch.randn(2, 2, samples), return_features=True)
    depth = output['depth'][0]
    assert depth.shape == (2, 1, 64, 64)
    assert 0 <= depth.min() and depth.max() <= 12.0
    # Four stride-4 stages: T -> ceil(T / 4) each; decoder 4x4 -> 64x64 in four doublings.
    lengths = [output['features'][f'x{i}'].shape[-1] for i in range(1, 5)]
    expected, length = [], samples
    for _ in range(4):
        length = (length - 1) // 4 + 1
        expected.append(length)
    assert lengths == expected
    assert [output['features'][f'd{i}'].shape[-1] for i in range(1, 5)] == [8, 16, 32, 64]


def test_loss_reaches_the_first_layer():
    net = WaveformDepthNet(base_channels=4, output_size=64)
    net(torch.randn(2, 2, 4410))['depth'][0].mean().backward()
    assert net.encoder[0][0].weight.grad.abs().sum() > 0


def test_spectrogram_input_and_bad_size_name_the_keys():
    net = WaveformDepthNet(base_channels=4, output_size=64)
    with pytest.raises(ValueError, match='audio_format: waveform'):
        net(torch.randn(2, 2, 64, 64))
    with pytest.raises(ValueError, match='WaveformDepthNet.output_size'):
        WaveformDepthNet(output_size=100)
