"""Training-time augmentation of RGB samples, as packnet-sfm does it: a horizontal flip of the
whole sample and a colour jitter that is the same on a sample's target and context frames.

The flip mirrors every image and map of the sample and the principal point, so a flipped sample
is a real view of the mirrored world: its photometric loss under the mirrored poses equals the
original's (tests/test_augmentation.py). The jitter changes what the networks see; the
unjittered frames stay in `rgb_original` / `rgb_context_original` for the photometric loss.
Random draws come from torch's generator (seeded per data-loader worker and epoch)."""
import cv2
import numpy as np
import torch

from packnet_sfm.utils.config import check_interval

# Sample entries mirrored by the flip: [C,H,W] maps and lists of them.
FLIPPED_MAPS = ('rgb', 'depth', 'valid', 'input_depth')
FLIPPED_LISTS = ('rgb_context',)


def flip_sample(sample):
    """The sample mirrored left-right: maps, context frames and the principal point
    (pixel centres at integers: cx -> width - 1 - cx)."""
    flipped = dict(sample)
    for key in FLIPPED_MAPS:
        if sample.get(key) is not None:
            flipped[key] = sample[key].flip(-1)
    for key in FLIPPED_LISTS:
        if sample.get(key) is not None:
            flipped[key] = [image.flip(-1) for image in sample[key]]
    if 'intrinsics' in sample:
        K = sample['intrinsics'].clone()
        K[0, 2] = sample['rgb'].shape[-1] - 1 - K[0, 2]
        flipped['intrinsics'] = K
    return flipped


def mirror_batch(batch, chosen=None):
    """The batch with the samples `chosen` ([B] bool; all when None) as recorded in the mirrored
    world of a left-right symmetric rig: the ears of 'audio' [B, 2, ...] (waveforms or their
    features) swapped and FLIPPED_MAPS flipped left-right (intrinsics are left as they are:
    predicting depth needs none)."""
    mirrored = dict(batch)
    for key in ('audio', *FLIPPED_MAPS):
        value = batch.get(key)
        if not torch.is_tensor(value):
            continue
        flipped = value.flip(1) if key == 'audio' else value.flip(-1)
        if chosen is not None:
            where = chosen.to(value.device).view(-1, *[1] * (value.dim() - 1))
            flipped = torch.where(where, flipped, value)
        mirrored[key] = flipped
    return mirrored


def grey(image):
    """[1,H,W] luma (ITU-R 601) of a [3,H,W] RGB image."""
    weights = image.new_tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
    return (image * weights).sum(0, keepdim=True)


def shift_hue(image, shift):
    """[3,H,W] RGB in [0, 1] with its hue turned by `shift` (a fraction of the circle)."""
    hsv = cv2.cvtColor(image.permute(1, 2, 0).numpy(), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = np.mod(hsv[..., 0] + 360.0 * shift, 360.0)
    return torch.from_numpy(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)).permute(2, 0, 1)


JITTERS = {
    'brightness': lambda image, f: image * f,
    'contrast': lambda image, f: f * image + (1 - f) * grey(image).mean(),
    'saturation': lambda image, f: f * image + (1 - f) * grey(image),
    'hue': shift_hue,
}


class Augmentation:
    """Horizontal flip with probability `flip_prob`, then colour jitter: brightness, contrast
    and saturation factors drawn uniformly from [1 - x, 1 + x], a hue shift from [-hue, hue]
    turns, applied in a random order (each result clipped to [0, 1]); one draw per sample."""

    def __init__(self, flip_prob=0.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0):
        check_interval('datasets.augmentation.flip_prob', flip_prob, 0, 1)
        check_interval('datasets.augmentation.hue', hue, 0, 0.5)
        self.flip_prob = flip_prob
        ranges = {'brightness': (max(0.0, 1 - brightness), 1 + brightness),
                  'contrast': (max(0.0, 1 - contrast), 1 + contrast),
                  'saturation': (max(0.0, 1 - saturation), 1 + saturation),
                  'hue': (-hue, hue)}
        self.ranges = {name: r for name, r in ranges.items() if r[0] != r[1]}  # jitters in use

    @classmethod
    def from_config(cls, node):
        """From `datasets.augmentation`, whose echo_* keys belong to the model's front end
        (networks/layers/audio_frontend.py)."""
        return cls(**{key: value for key, value in node.items() if not key.startswith('echo_')})

    @property
    def enabled(self):
        return self.flip_prob > 0 or bool(self.ranges)

    def draw_jitter(self):
        """[(name, factor)] in a random order."""
        names = list(self.ranges)
        order = torch.randperm(len(names)).tolist()
        return [(names[i], float(torch.empty(()).uniform_(*self.ranges[names[i]])))
                for i in order]

    def jitter(self, image, steps):
        for name, factor in steps:
            image = JITTERS[name](image, factor).clamp(0.0, 1.0)
        return image

    def __call__(self, sample):
        if self.flip_prob > 0 and float(torch.rand(())) < self.flip_prob:
            sample = flip_sample(sample)
        if not self.ranges:
            return sample
        steps = self.draw_jitter()
        sample = {**sample, 'rgb_original': sample['rgb'],
                  'rgb': self.jitter(sample['rgb'], steps)}
        if sample.get('rgb_context') is not None:
            sample['rgb_context_original'] = sample['rgb_context']
            sample['rgb_context'] = [self.jitter(image, steps) for image in sample['rgb_context']]
        return sample
