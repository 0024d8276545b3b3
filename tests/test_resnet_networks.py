"""RGB-path networks: ResNet encoders (ImageNet layout), DepthResNet, ResNetSAN01, pose nets."""
import pytest
import torch

from packnet_sfm.networks.depth.DepthResNet import DepthResNet
from packnet_sfm.networks.depth.ResNetSAN01 import ResNetSAN01
from packnet_sfm.networks.layers.depth_decoder import sigmoid_to_depth
from packnet_sfm.networks.layers.resnet_encoder import ResnetEncoder
from packnet_sfm.networks.layers.sparse_conv import SparseConv
from packnet_sfm.networks.pose.PoseNet import PoseNet
from packnet_sfm.networks.pose.PoseResNet import PoseResNet

torch.set_num_threads(1)


def sparse_depth(batch, height, width, seed=0):
    """Every 3rd row and 2nd column measured, 2..60 m."""
    generator = torch.Generator().manual_seed(seed)
    depth = torch.zeros(batch, 1, height, width)
    depth[:, :, ::3, ::2] = 2 + 58 * torch.rand(batch, 1, (height + 2) // 3, (width + 1) // 2,
                                                generator=generator)
    return depth


def resnet18_imagenet_keys():
    """The state-dict keys of an ImageNet ResNet-18 checkpoint, written out by hand."""
    def bn(prefix):
        return [f'{prefix}.{n}' for n in
                ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')]
    keys = ['conv1.weight', *bn('bn1')]
    for stage in range(1, 5):
        for block in range(2):
            p = f'layer{stage}.{block}'
            keys += [f'{p}.conv1.weight', *bn(f'{p}.bn1'), f'{p}.conv2.weight', *bn(f'{p}.bn2')]
            if stage > 1 and block == 0:
                keys += [f'{p}.downsample.0.weight', *bn(f'{p}.downsample.1')]
    return keys + ['fc.weight', 'fc.bias']


def resnet18_shape(key):
    """Shape of a ResNet-18 checkpoint entry, from the architecture (64-128-256-512 stages)."""
    if key == 'fc.weight':
        return (1000, 512)
    if key == 'fc.bias':
        return (1000,)
    if key == 'conv1.weight':
        return (64, 3, 7, 7)
    if key.endswith('num_batches_tracked'):
        return ()
    if key.startswith('bn1'):
        return (64,)
    stage = int(key[5])
    width, previous = 64 * 2 ** (stage - 1), 64 * 2 ** max(stage - 2, 0)
    first = key[7] == '0'
    if 'downsample.0' in key:
        return (width, previous, 1, 1)
    if '.conv1.' in key:
        return (width, previous if first else width, 3, 3)
    if '.conv2.' in key:
        return (width, width, 3, 3)
    return (width,)


@pytest.fixture(scope='module')
def imagenet_checkpoint(tmp_path_factory):
    """A state dict in the ImageNet ResNet-18 layout with distinct random values."""
    generator = torch.Generator().manual_seed(1)
    state = {k: (torch.tensor(7) if k.endswith('num_batches_tracked') else
                 torch.rand(resnet18_shape(k), generator=generator) + 0.5)
             for k in resnet18_imagenet_keys()}
    path = tmp_path_factory.mktemp('weights') / 'resnet18.pth'
    torch.save(state, path)
    return path, state


def test_encoder_parameter_names_are_the_imagenet_layout():
    keys = set(ResnetEncoder(18).state_dict())
    assert keys == set(resnet18_imagenet_keys()) - {'fc.weight', 'fc.bias'}
    assert 'layer4.1.bn2.running_var' in keys


def test_imagenet_state_dict_loads_into_encoder_and_depth_net(imagenet_checkpoint):
    path, state = imagenet_checkpoint
    encoder = ResnetEncoder(18, pretrained_path=str(path))
    for key in ('conv1.weight', 'layer4.1.bn2.running_var', 'layer2.0.downsample.0.weight'):
        assert torch.equal(encoder.state_dict()[key], state[key])
    net = DepthResNet('18pt', pretrained_path=str(path))
    assert torch.equal(net.encoder.layer3[1].conv2.weight, state['layer3.1.conv2.weight'])


def test_pose_resnet_tiles_the_first_convolution_over_the_image_pair(imagenet_checkpoint):
    path, state = imagenet_checkpoint
    conv1 = PoseResNet('18pt', pretrained_path=str(path)).encoder.conv1.weight
    assert conv1.shape == (64, 6, 7, 7)
    assert torch.allclose(conv1[:, :3], state['conv1.weight'] / 2)
    assert torch.allclose(conv1[:, 3:], state['conv1.weight'] / 2)


def test_wrong_resnet_version_for_checkpoint_is_a_clear_error(imagenet_checkpoint):
    with pytest.raises(ValueError, match='not an ImageNet ResNet state dict'):
        ResnetEncoder(34, pretrained_path=str(imagenet_checkpoint[0]))


@pytest.mark.parametrize('version, message', [('18pt', 'pretrained_path'),
                                              ('19nt', 'not a ResNet version'),
                                              ('18', 'not a ResNet version')])
def test_bad_versions_name_the_fix(version, message):
    with pytest.raises(ValueError, match=message):
        DepthResNet(version)


@pytest.mark.parametrize('layers, channels', [(18, [64, 64, 128, 256, 512]),
                                              (34, [64, 64, 128, 256, 512]),
                                              (50, [64, 256, 512, 1024, 2048])])
def test_encoder_levels_have_the_declared_channels_and_strides(layers, channels):
    encoder = ResnetEncoder(layers)
    features = encoder(torch.rand(1, 3, 64, 96))
    assert encoder.num_ch_enc == channels
    assert [f.shape[1] for f in features] == channels
    assert [64 // f.shape[2] for f in features] == list(encoder.strides)
    assert [96 // f.shape[3] for f in features] == list(encoder.strides)


def test_sigmoid_maps_to_the_depth_range():
    depth = sigmoid_to_depth(torch.tensor([0.0, 0.5, 1.0]), 0.1, 80.0)
    # inverse depth 1/80, (1/80 + 10) / 2, 10
    assert torch.allclose(depth, torch.tensor([80.0, 1 / ((1 / 80 + 10) / 2), 0.1]))


@pytest.mark.parametrize('net_class', [DepthResNet, ResNetSAN01])
@pytest.mark.parametrize('height, width', [(64, 64), (64, 224), (96, 128)])
def test_depth_nets_predict_four_scales_in_range(net_class, height, width):
    net = net_class('18nt', min_depth=0.5, max_depth=40.0).eval()
    inputs = {'rgb': torch.rand(2, 3, height, width)}
    if 'input_depth' in net.input_keys:
        inputs['input_depth'] = sparse_depth(2, height, width)
    with torch.no_grad():
        depth = net(**inputs)['depth']
    assert [tuple(d.shape) for d in depth] == [(2, 1, height // 2 ** s, width // 2 ** s)
                                               for s in range(4)]
    assert all(((d >= 0.5) & (d <= 40.0)).all() for d in depth)


def test_untrained_net_starts_near_the_log_middle_of_its_range():
    torch.manual_seed(0)
    net = DepthResNet('18nt', min_depth=1.0, max_depth=64.0).eval()
    with torch.no_grad():
        depth = net(torch.rand(1, 3, 64, 96))['depth']
    # sqrt(1 * 64) = 8 m; the random head weights spread it a little
    assert all(6.0 < d.median() < 10.0 for d in depth)


@pytest.mark.parametrize('net_class', [DepthResNet, ResNetSAN01])
def test_normalised_depth_is_refused_because_the_range_is_in_metres(net_class):
    with pytest.raises(ValueError, match='depth_norm false'):
        net_class('18nt', depth_scale=30.0)


def test_size_not_multiple_of_32_names_the_fix():
    with pytest.raises(ValueError, match='multiples of 32'):
        DepthResNet('18nt')(torch.rand(1, 3, 48, 64))


def test_san_training_output_has_both_branches_and_consistency():
    net = ResNetSAN01('18nt', use_film=True, film_scales=[0, 2]).train()
    output = net(torch.rand(2, 3, 64, 96), sparse_depth(2, 64, 96))
    assert set(output) == {'depth', 'depth_rgb', 'feature_consistency'}
    assert [d.shape for d in output['depth']] == [d.shape for d in output['depth_rgb']]
    assert output['feature_consistency'].ndim == 0 and output['feature_consistency'] > 0
    assert set(net.train()(torch.rand(2, 3, 64, 96))) == {'depth'}


def test_san_branch_acts_only_where_input_depth_is_measured():
    torch.manual_seed(0)
    net = ResNetSAN01('18nt', use_film=True).eval()
    rgb = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        rgb_only = net(rgb)['depth'][0]
        no_measurement = net(rgb, torch.zeros(1, 1, 64, 96))['depth'][0]
        completed = net(rgb, sparse_depth(1, 64, 96))['depth'][0]
    assert torch.equal(no_measurement, rgb_only)
    assert (completed - rgb_only).abs().mean() > 1e-3


def test_the_sparse_branch_gets_a_gradient_on_the_first_step():
    torch.manual_seed(0)
    net = ResNetSAN01('18nt').train()
    output = net(torch.rand(2, 3, 64, 96), sparse_depth(2, 64, 96))
    output['depth'][0].mean().backward()
    gradients = {name: p.grad for name, p in net.sparse_encoder.named_parameters()}
    assert all(g is not None and g.abs().sum() > 0 for g in gradients.values()), [
        name for name, g in gradients.items() if g is None or g.abs().sum() == 0]


def test_sparse_conv_renormalises_by_the_valid_fraction_of_each_window():
    conv = SparseConv(1, 1, kernel_size=3)
    torch.nn.init.constant_(conv.conv.weight, 1 / 9)   # a 3x3 mean filter on dense input
    x = torch.tensor([[[[4.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 8.0]]]])
    mask = (x > 0).float()
    out, valid = conv(x, mask)
    # centre: the two measurements -> (4 + 8) / 2; (0,0) sees only the 4; (0,2) sees none
    assert torch.isclose(out[0, 0, 1, 1], torch.tensor(6.0))
    assert torch.isclose(out[0, 0, 0, 0], torch.tensor(4.0)) and valid[0, 0, 0, 0] == 1.0
    assert out[0, 0, 0, 2] == 0.0 and valid[0, 0, 0, 2] == 0.0


@pytest.mark.parametrize('pose_net', [PoseNet(), PoseResNet('18nt')])
def test_pose_nets_give_one_small_6dof_vector_per_context(pose_net):
    image = torch.rand(2, 3, 64, 96)
    poses = pose_net(image, [torch.rand(2, 3, 64, 96) for _ in range(3)])
    assert poses.shape == (2, 3, 6)
    assert poses.abs().max() < 0.5
