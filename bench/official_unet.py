"""The official BatVision U-Net written here from its description, as the reference that
UNetSoundOnly is checked against (tests/test_unet_official.py) and timed against
(bench/train_step.py): pix2pix skip blocks whose LeakyReLU and ReLU work in place, as the
official code's do, and a Sigmoid head for normalised depth or a ReLU head for metres."""
import torch
from torch import nn


class ReferenceBlock(nn.Module):
    """One pix2pix skip level wrapping `submodule` (None at the innermost level)."""

    def __init__(self, outer, inner, input_nc=None, submodule=None, outermost=False,
                 depth_norm=True):
        super().__init__()
        self.outermost = outermost
        down_conv = nn.Conv2d(input_nc or outer, inner, 4, 2, 1, bias=False)
        if outermost:
            final = nn.Sigmoid() if depth_norm else nn.ReLU()
            layers = [down_conv, submodule, nn.ReLU(True),
                      nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1), final]
        elif submodule is None:
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.ReLU(True),
                      nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=False), nn.BatchNorm2d(outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down_conv, nn.BatchNorm2d(inner), submodule,
                      nn.ReLU(True), nn.ConvTranspose2d(2 * inner, outer, 4, 2, 1, bias=False),
                      nn.BatchNorm2d(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def reference_unet(num_downs, ngf, depth_norm=True):
    """The official U-Net of `num_downs` halvings (7: unet_128, 8: unet_256) on 2 channels."""
    block = ReferenceBlock(8 * ngf, 8 * ngf)
    for _ in range(num_downs - 5):
        block = ReferenceBlock(8 * ngf, 8 * ngf, submodule=block)
    for multiplier in (4, 2, 1):
        block = ReferenceBlock(multiplier * ngf, 2 * multiplier * ngf, submodule=block)
    return ReferenceBlock(1, ngf, input_nc=2, submodule=block, outermost=True,
                          depth_norm=depth_norm)
