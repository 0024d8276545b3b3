"""Batching samples: torch's default_collate, but native-resolution ground truth
(`depth_native`), whose size differs between KITTI drives by a few pixels, is zero-padded
(invalid) at the bottom and right to the batch's largest; each sample's `native_shape` keeps
its own size (trainers/evaluation.py `scored_depth` scores each image on it)."""
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate


def collate(samples):
    if 'depth_native' not in samples[0]:
        return default_collate(samples)
    maps = [sample['depth_native'] for sample in samples]
    height, width = (max(m.shape[axis] for m in maps) for axis in (-2, -1))
    batch = default_collate([{k: v for k, v in sample.items() if k != 'depth_native'}
                             for sample in samples])
    batch['depth_native'] = torch.stack(
        [F.pad(m, (0, width - m.shape[-1], 0, height - m.shape[-2])) for m in maps])
    return batch
