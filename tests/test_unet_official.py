"""UNetSoundOnly against the official BatVision U-Net (the reference of bench/official_unet.py,
written from the architecture's description), weights copied by order, outputs compared; and
the pix2pix initialisation statistics."""
import pytest
import torch
from conftest import REPO, load_script
from torch import nn

from packnet_sfm.networks.depth.UNetSoundOnly import UNetSoundOnly

torch.set_num_threads(1)
reference_unet = load_script(REPO / 'bench' / 'official_unet.py').reference_unet


def copy_by_order(source, target):
    """Copy every parameter and buffer of `source` into `target` in registration order."""
    source_state, target_state = source.state_dict(), target.state_dict()
    assert [v.shape for v in source_state.values()] == [v.shape for v in target_state.values()]
    target.load_state_dict(dict(zip(target_state, source_state.values())))


@pytest.mark.parametrize('depth_norm, max_depth', [(True, 1.0), (False, 30.0)])
@pytest.mark.parametrize('train_mode', [False, True])
def test_official_head_equals_the_reference(depth_norm, max_depth, train_mode):
    torch.manual_seed(0)
    ours = UNetSoundOnly(generator='unet_128', ngf=8, max_depth=max_depth)
    with torch.no_grad():   # a last layer whose output spans both signs and beyond 1
        ours.unet.up[1].weight.mul_(100.0)
        ours.unet.up[1].bias.fill_(1.0)
    reference = reference_unet(7, 8, depth_norm)
    copy_by_order(ours, reference)
    ours.train(train_mode)
    reference.train(train_mode)
    audio = torch.randn(3, 2, 128, 128)
    expected = reference(audio.clone())
    depth = ours(audio)['depth'][0]
    torch.testing.assert_close(depth, expected, rtol=1e-5, atol=1e-5)
    if depth_norm:
        assert depth.max() <= 1.0
    else:
        assert (depth == 0).any() and depth.max() > 1.0   # ReLU: zero floor, no upper bound


def test_bounded_head_is_sigmoid_times_max_depth():
    torch.manual_seed(0)
    official = UNetSoundOnly(generator='unet_128', ngf=4, max_depth=30.0).eval()
    bounded = UNetSoundOnly(generator='unet_128', ngf=4, max_depth=30.0, output='bounded').eval()
    bounded.load_state_dict(official.state_dict())
    audio = torch.randn(2, 2, 128, 128)
    raw = official(audio)['depth'][0]
    depth = bounded(audio)['depth'][0]
    assert 0 < depth.min() and depth.max() < 30.0
    assert not torch.allclose(raw, depth)
    # Same pre-activation: where the ReLU output is positive, sigmoid(raw) * 30 follows it.
    positive = raw > 0
    torch.testing.assert_close(depth[positive], torch.sigmoid(raw[positive]) * 30.0)


def test_pix2pix_initialisation_statistics():
    torch.manual_seed(0)
    net = UNetSoundOnly(generator='unet_256', ngf=16)
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    gammas = torch.cat([m.weight.flatten() for m in norms])
    assert weights.mean().abs() < 1e-3 and abs(weights.std() - 0.02) < 1e-3
    assert abs(gammas.mean() - 1.0) < 3e-3 and abs(gammas.std() - 0.02) < 3e-3
    biases = [m.bias for m in convs if m.bias is not None] + [m.bias for m in norms]
    assert len(biases) == len(norms) + 1 and all(torch.count_nonzero(b) == 0 for b in biases)
