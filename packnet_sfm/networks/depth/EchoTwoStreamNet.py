"""EchoDelayNet with a small U-Net beside it, their depths blended.

In rooms they were not trained in, the U-Net and EchoDelayNet make different errors: blending
one trained U-Net's depth with one EchoDelayNet's (0.3 and 0.7) is 2% below EchoDelayNet alone
on both held-out splits (bench/echo_models.md, `bench/seed_ensemble.py --blend`), though that
costs two trainings. Here both streams read the same spectrograms in one network, each is
supervised on its own, and their blend is the prediction. The U-Net's last convolution is
read as log depth over the same prior as EchoDelayNet's (its official ReLU head, which starts
at 0 m, left this narrower U-Net dead at 0 in training). No gradient flows through the
blend, so that each stream learns as if it were trained alone; and the U-Net's weights are
drawn without moving the global random numbers, so that for one seed the EchoDelayNet stream
starts from EchoDelayNet's weights and training draws the same mirrors and batches (the runs
still drift apart as they train: the loss averages six maps instead of four).

forward(audio) -> {'depth': [blend, the U-Net's depth, EchoDelayNet's maps (its full-resolution
map, then from its finest to its query grid)]}: supervise as many maps as that list holds
(`model.loss.supervised_num_scales`), so that EchoDelayNet's maps weigh what they weigh when
it is trained alone.
"""
import torch

from packnet_sfm.networks.depth.EchoDelayNet import EchoDelayNet
from packnet_sfm.networks.depth.UNetSoundOnly import UNetSoundOnly
from packnet_sfm.utils.config import check_interval

KEY = 'model.depth_net.EchoTwoStreamNet'


class EchoTwoStreamNet(EchoDelayNet):
    """EchoDelayNet (its parameters as keyword arguments) and UNetSoundOnly(unet_generator,
    unet_ngf) with a log-depth head on the same input; depth = (1 - unet_weight) *
    EchoDelayNet's + unet_weight * the U-Net's."""

    def __init__(self, unet_generator='unet_128', unet_ngf=8, unet_weight=0.3, max_depth=1.0,
                 depth_scale=1.0, **delay_net):
        super().__init__(max_depth=max_depth, depth_scale=depth_scale, **delay_net)
        check_interval(f'{KEY}.unet_weight', unet_weight, 0, 1)
        with torch.random.fork_rng(devices=[]):
            self.unet = UNetSoundOnly(unet_generator, unet_ngf, input_nc=self.audio_channels,
                                      max_depth=max_depth)
        self.unet_weight = unet_weight

    @property
    def input_multiple(self):
        """Input sides must be multiples of this (the U-Net's)."""
        return self.unet.input_multiple

    def forward(self, audio, return_features=False):
        output = super().forward(audio, return_features)
        delay_maps = output['depth']
        unet = self.depth_from_log(self.unet.raw(audio))
        blend = ((1 - self.unet_weight) * delay_maps[0].detach()
                 + self.unet_weight * unet.detach())
        output['depth'] = [blend, unet, *delay_maps]
        return output
