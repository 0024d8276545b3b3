"""ResNet-18/34/50 encoders exposing their five feature levels (monodepth2 / timm style).

Parameter names follow the common ImageNet checkpoint layout (`conv1`, `bn1`,
`layer1.0.conv1`, ..., `layer4.1.bn2.running_var`), so a state dict saved from an ImageNet
ResNet loads with `load_imagenet_weights` (its `fc.*` classifier entries are ignored)."""
import torch
from torch import nn

from packnet_sfm.utils.config import ConfigError

# Normalisation the ImageNet weights expect, applied to [0, 1] RGB inside the encoder.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def conv_bn(in_channels, out_channels, kernel_size, stride=1):
    """(conv without bias, batch norm) pair; padding keeps the size up to the stride."""
    conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
    return conv, nn.BatchNorm2d(out_channels)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""
    expansion = 1

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(in_channels, channels, 3, stride)
        self.conv2, self.bn2 = conv_bn(channels, channels, 3)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand, with a residual connection (ResNet-50)."""
    expansion = 4

    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(in_channels, channels, 1)
        self.conv2, self.bn2 = conv_bn(channels, channels, 3, stride)
        self.conv3, self.bn3 = conv_bn(channels, channels * self.expansion, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut(in_channels, channels * self.expansion, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def shortcut(in_channels, out_channels, stride):
    """Projection shortcut (`downsample.0` conv, `downsample.1` bn) when the shape changes."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(*conv_bn(in_channels, out_channels, 1, stride))


# num_layers -> (block type, blocks per stage)
ARCHITECTURES = {18: (BasicBlock, (2, 2, 2, 2)),
                 34: (BasicBlock, (3, 4, 6, 3)),
                 50: (Bottleneck, (3, 4, 6, 3))}


class ResnetEncoder(nn.Module):
    """ResNet trunk returning the features after the stem and after each of the four stages.

    Parameters
    ----------
    num_layers : int
        18, 34 or 50.
    in_channels : int
        Input channels: 3 for one RGB image, 3*k for k stacked images (pose networks).
    pretrained_path : str
        ImageNet state dict to load ('' starts from random weights).

    `num_ch_enc` lists the channels and `strides` the downsampling factor of each level.
    """
    strides = (2, 4, 8, 16, 32)

    def __init__(self, num_layers=18, in_channels=3, pretrained_path=''):
        super().__init__()
        if num_layers not in ARCHITECTURES:
            raise ConfigError(f"ResNet depth {num_layers} is not supported; use one of "
                              f"{sorted(ARCHITECTURES)}")
        block, blocks = ARCHITECTURES[num_layers]
        self.conv1, self.bn1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths, channels = (64, 128, 256, 512), 64
        for stage, (width, count) in enumerate(zip(widths, blocks), start=1):
            stride = 1 if stage == 1 else 2
            layers = []
            for i in range(count):
                layers.append(block(channels, width, stride if i == 0 else 1))
                channels = width * block.expansion
            setattr(self, f'layer{stage}', nn.Sequential(*layers))
        self.num_ch_enc = [64] + [w * block.expansion for w in widths]
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN * (in_channels // 3)).view(
            1, -1, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(IMAGENET_STD * (in_channels // 3)).view(
            1, -1, 1, 1), persistent=False)
        if pretrained_path:
            load_imagenet_weights(self, pretrained_path)

    def forward(self, image):
        """[B,C,H,W] images in [0, 1] -> list of 5 feature maps at strides 2, 4, 8, 16, 32."""
        x = self.relu(self.bn1(self.conv1((image - self.mean) / self.std)))
        features = [x]
        x = self.maxpool(x)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features


def load_imagenet_weights(encoder, path):
    """Load an ImageNet ResNet state dict from `path` into `encoder`.

    `fc.*` entries are dropped; when the encoder takes k stacked images the first
    convolution's weights are tiled k times and divided by k (monodepth2's recipe)."""
    state = torch.load(path, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    state = {k: v for k, v in state.items() if not k.startswith('fc.')}
    conv1 = encoder.conv1.weight
    if 'conv1.weight' in state and state['conv1.weight'].shape[1] != conv1.shape[1]:
        repeats = conv1.shape[1] // state['conv1.weight'].shape[1]
        state['conv1.weight'] = state['conv1.weight'].repeat(1, repeats, 1, 1) / repeats
    missing, unexpected = encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ConfigError(f"{path} is not an ImageNet ResNet state dict for this encoder: "
                          f"missing {missing[:5]}, unexpected {unexpected[:5]}; check the "
                          "ResNet version (18/34/50) in the network's `version`")


def build_encoder(version, pretrained_path='', in_channels=3, key='version'):
    """ResnetEncoder from a packnet-sfm version string: ResNet depth + 'pt' (ImageNet weights
    read from `pretrained_path`) or 'nt' (random init), e.g. '18pt', '50nt'."""
    depth, mode = version[:-2], version[-2:]
    if not depth.isdigit() or int(depth) not in ARCHITECTURES or mode not in ('pt', 'nt'):
        raise ConfigError(f"{key} '{version}' is not a ResNet version: use 18, 34 or 50 followed "
                          "by 'pt' (pretrained) or 'nt' (not pretrained), e.g. '18pt'")
    if mode == 'pt' and not pretrained_path:
        raise ConfigError(f"{key} '{version}' loads ImageNet weights: set pretrained_path to a "
                          f"ResNet-{depth} state dict file, or use '{depth}nt'")
    return ResnetEncoder(int(depth), in_channels, pretrained_path if mode == 'pt' else '')
