"""The BatVision audio-only baseline: a pix2pix-style U-Net from binaural spectrograms to depth.

Architecture (unet_256): 8 stride-2 4x4 convolutions (256 -> 1) with ngf * (1, 2, 4, 8, 8,
8, 8, 8) channels, mirrored by 4x4 transposed convolutions that each take the concatenation of
the level's input (the skip) and the upsampled inner result. BatchNorm after every
convolution except the two outermost ones and the innermost down convolution; no convolution
has a bias except the last transposed convolution. LeakyReLU(0.2) before each down
convolution but the first, ReLU before each transposed convolution. Output head (`output`):
'official' is the official network's, a Sigmoid when depth is normalised (the batch's
max_depth is 1) and a ReLU (metres, unbounded above) when it is not; 'bounded' is
sigmoid * max_depth in both cases. Weights start as pix2pix initialises them: convolution and
transposed-convolution weights N(0, 0.02), BatchNorm weights N(1, 0.02), every bias 0.
54,408,833 parameters for unet_256 at ngf 64, 41,823,873 for unet_128 (7 levels).

Skip semantics: the original applies its LeakyReLU in place to the level input, so the skip
it concatenates is LeakyReLU(x) rather than x. Here the LeakyReLU is not in place (only the
decoder's ReLU on a fresh concatenation is) and the skip is the level input itself: the
(normalised) output of the parent's down convolution, which `return_features` also returns.
The decoder applies ReLU to the concatenation, and ReLU(LeakyReLU(x)) == ReLU(x) with the same
gradient, so depth predictions, gradients and trained weights behave exactly as in the
original; only the stored skip tensors differ.
"""
import torch
import torch.nn as nn

from packnet_sfm.networks.layers.unet_blocks import named_features
from packnet_sfm.utils.config import ConfigError, check_choice

GENERATOR_DOWNSAMPLINGS = {'unet_128': 7, 'unet_256': 8}
OUTPUT_HEADS = ('official', 'bounded')
INIT_GAIN = 0.02


def init_pix2pix(module):
    """pix2pix initialisation of one module (use with `net.apply`)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, INIT_GAIN)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        nn.init.normal_(module.weight, 1.0, INIT_GAIN)
        nn.init.zeros_(module.bias)


class UNetSkipBlock(nn.Module):
    """One U-Net level wrapping the inner levels (`inner`; None at the innermost level).

    down: [LeakyReLU] -> 4x4 stride-2 conv -> [BatchNorm]; up: ReLU -> 4x4 stride-2
    transposed conv -> [BatchNorm] -> [Dropout]. Every level but the outermost returns the
    concatenation of its input (the skip) and its up-convolution, hence inner levels feed
    their parent's up-convolution 2 * inner_channels channels.
    """

    def __init__(self, outer_channels, inner_channels, inner=None, in_channels=None,
                 outermost=False, use_dropout=False):
        super().__init__()
        innermost = inner is None
        down = [] if outermost else [nn.LeakyReLU(0.2)]
        down.append(nn.Conv2d(in_channels or outer_channels, inner_channels,
                              kernel_size=4, stride=2, padding=1, bias=False))
        if not (outermost or innermost):
            down.append(nn.BatchNorm2d(inner_channels))
        # in place on the inner levels' fresh concatenation, not on the innermost down output
        # (a returned feature)
        up = [nn.ReLU(inplace=not innermost),
              nn.ConvTranspose2d(inner_channels if innermost else 2 * inner_channels,
                                 outer_channels, kernel_size=4, stride=2, padding=1,
                                 bias=outermost)]
        if not outermost:
            up.append(nn.BatchNorm2d(outer_channels))
        if use_dropout:
            up.append(nn.Dropout(0.5))
        self.down = nn.Sequential(*down)
        self.inner = inner
        self.up = nn.Sequential(*up)
        self.outermost = outermost

    def forward(self, x, features):
        """Run this level and the inner ones, appending each level's down output to `features`."""
        encoded = self.down(x)
        features.append(encoded)
        decoded = self.up(encoded if self.inner is None else self.inner(encoded, features))
        return decoded if self.outermost else torch.cat([x, decoded], dim=1)


class UNetSoundOnly(nn.Module):
    """The official BatVision U-Net baseline: audio [B, input_nc, H, W] -> depth [B, 1, H, W].

    Parameters
    ----------
    generator : 'unet_256' (8 downsamplings) or 'unet_128' (7); H and W must be multiples of
        2**downsamplings.
    ngf : channels of the first level.
    input_nc : audio channels (2: left and right spectrograms).
    use_dropout : Dropout(0.5) after the up convolutions of the ngf*8 levels that wrap the
        innermost one (3 of them for unet_256, 2 for unet_128).
    output : 'official' (Sigmoid for normalised depth, ReLU otherwise) or 'bounded'
        (sigmoid * max_depth).
    max_depth : the largest depth in the batch's units (1.0 for normalised depth).

    forward(audio, return_features=False) -> {'depth': [depth]}, plus with return_features
    'features': {'x1'..'xN'} the down-convolution outputs at 1/2 .. 1/2**N resolution.
    """

    input_keys = ('audio',)

    def __init__(self, generator='unet_256', ngf=64, input_nc=2, use_dropout=False,
                 output='official', max_depth=1.0):
        super().__init__()
        check_choice('model.depth_net.UNetSoundOnly.generator', generator,
                     sorted(GENERATOR_DOWNSAMPLINGS))
        check_choice('model.depth_net.UNetSoundOnly.output', output, OUTPUT_HEADS)
        self.num_downsamplings = GENERATOR_DOWNSAMPLINGS[generator]
        self.output, self.max_depth = output, max_depth
        self.audio_channels = input_nc
        block = UNetSkipBlock(8 * ngf, 8 * ngf)
        for _ in range(self.num_downsamplings - 5):
            block = UNetSkipBlock(8 * ngf, 8 * ngf, inner=block, use_dropout=use_dropout)
        for multiplier in (4, 2, 1):
            block = UNetSkipBlock(multiplier * ngf, 2 * multiplier * ngf, inner=block)
        self.unet = UNetSkipBlock(1, ngf, inner=block, in_channels=input_nc, outermost=True)
        self.apply(init_pix2pix)

    @property
    def input_multiple(self):
        """Input sides must be multiples of this (one halving per downsampling)."""
        return 2 ** self.num_downsamplings

    def head(self, raw):
        """Depth from the last transposed convolution's output (see `output`)."""
        if self.output == 'official' and self.max_depth != 1.0:
            return torch.relu(raw)
        return torch.sigmoid(raw) * self.max_depth

    def raw(self, audio, features=None):
        """The last transposed convolution's output [B, 1, H, W], before the head; the
        down-convolution outputs are appended to `features` when given."""
        self._check_size(audio)
        return self.unet(audio, [] if features is None else features)

    def forward(self, audio, return_features=False):
        features = []
        output = {'depth': [self.head(self.raw(audio, features))]}
        if return_features:
            output['features'] = named_features('x', features)
        return output

    def _check_size(self, audio):
        multiple = self.input_multiple
        if audio.dim() != 4 or audio.shape[-1] % multiple or audio.shape[-2] % multiple:
            raise ConfigError(
                f'UNetSoundOnly with {self.num_downsamplings} downsamplings needs audio '
                f'[B, C, H, W] with H and W multiples of {multiple}, got {tuple(audio.shape)}; '
                f'set datasets.batvision.image_size or model.depth_net.UNetSoundOnly.generator')
