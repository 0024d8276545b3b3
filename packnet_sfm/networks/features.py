"""Level-by-level feature compatibility of a teacher and a student network (distillation).

Feature distillation compares `features[level]` of the two networks with an MSE, which needs
equal shapes at every distilled level. `compare_features` runs each network once on a dummy
input of its own modality (`input_keys`) and reports the shapes level by level.
"""
from typing import NamedTuple

import torch

from packnet_sfm.datasets.audio import EARS

# Channels of each batch key a network may consume (audio: the ears' spectrograms or
# waveforms; a network that reads more, e.g. the interaural correlation, says so in its
# `audio_channels`).
INPUT_CHANNELS = {'audio': EARS, 'rgb': 3, 'input_depth': 1}


class LevelComparison(NamedTuple):
    level: str
    teacher: tuple | None       # shape, or None when the teacher has no such feature
    student: tuple | None

    @property
    def match(self):
        return self.teacher is not None and self.teacher == self.student


def dummy_inputs(net, image_size, batch_size=1):
    """Zero tensors [batch, channels, image_size, image_size] for each key of `net.input_keys`."""
    device = next(net.parameters()).device
    channels = {**INPUT_CHANNELS, 'audio': getattr(net, 'audio_channels', EARS)}
    return {key: torch.zeros(batch_size, channels[key], image_size, image_size, device=device)
            for key in net.input_keys}


@torch.no_grad()
def feature_shapes(net, image_size=256):
    """{level: shape} of `net(..., return_features=True)['features']` on a dummy input."""
    was_training = net.training
    net.eval()
    try:
        features = net(**dummy_inputs(net, image_size), return_features=True)['features']
    finally:
        net.train(was_training)
    return {level: tuple(tensor.shape) for level, tensor in features.items()}


def compare_features(teacher, student, image_size=256, levels=None):
    """One LevelComparison per level in `levels` (default: every teacher feature level)."""
    teacher_shapes = feature_shapes(teacher, image_size)
    student_shapes = feature_shapes(student, image_size)
    return [LevelComparison(level, teacher_shapes.get(level), student_shapes.get(level))
            for level in (levels or teacher_shapes)]
