"""Knowledge distillation (seed 003): a student depth network (e.g. BinauralAttentionUNet on
echoes) trained on its task loss and on a frozen teacher's depth and features (e.g. an
RGBDepthUNet trained beforehand), loss = (2 - w_kd) * task + w_kd * distillation (see
packnet_sfm/losses/distillation_loss.py).

The teacher is a trained model loaded with the config stored in its own checkpoint. It is held
outside the module tree: it has no entry in `parameters()` (the optimiser never sees it) or in
`state_dict()` (student checkpoints hold only the student and the adapters; loading one,
to resume or evaluate, loads the teacher again from `model.distillation.teacher_checkpoint`),
and `train()` does not reach it, so it always runs in eval mode, under `torch.no_grad()`.
`.to(device)` moves it with the student.
"""
import inspect

import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.losses.distillation_loss import DistillationLoss, check_schedule, kd_weight
from packnet_sfm.models.SemiSupModel import SemiSupModel
from packnet_sfm.networks.features import feature_shapes
from packnet_sfm.utils.config import ConfigError, check_numbers, load_config


class DistillationModel(SemiSupModel):
    """A SemiSupModel (the student and its task loss) plus a frozen `teacher` SemiSupModel.

    Training output metrics add 'task', 'kd_depth', 'kd_feat' (and per level), 'w_kd' and
    'w_task'; in eval mode the model is the student alone (no teacher run, no RGB needed).
    """

    def __init__(self, depth_net, teacher, lambda_kd=1.0, lambda_feat=0.0,
                 feature_levels=('x3', 'x4', 'x5'), use_adapters=False, schedule='constant',
                 final_kd_fraction=0.1, max_epochs=1, **semisup_kwargs):
        super().__init__(depth_net, **semisup_kwargs)
        check_schedule(schedule)
        object.__setattr__(self, 'teacher', freeze(teacher))  # not a submodule, see above
        channels = (distilled_channels(depth_net, teacher.depth_net, feature_levels)
                    if lambda_feat > 0 else {})
        self.distillation_loss = DistillationLoss(lambda_kd=lambda_kd, lambda_feat=lambda_feat,
                                                  feature_channels=channels,
                                                  use_adapters=use_adapters)
        self.schedule, self.final_kd_fraction = schedule, final_kd_fraction
        self.max_epochs = max_epochs

    @classmethod
    def from_config(cfg_cls, cfg, depth_scale, max_depth, **kwargs):
        node = cfg.model.distillation
        check_numbers('model.distillation', node, get_cfg_defaults().model.distillation)
        echo = cfg.datasets.augmentation
        for key, change in (('echo_room_scale', 'scales'), ('echo_mix_prob', 'superposes')):
            if echo[key] > 0:
                raise ConfigError(f'datasets.augmentation.{key} {change} the depth the student '
                                  'learns but not the RGB teacher\'s: set it to 0 for '
                                  'distillation')
        return super().from_config(
            cfg, depth_scale, max_depth, teacher=load_teacher(node.teacher_checkpoint),
            lambda_kd=node.lambda_kd, lambda_feat=node.lambda_feat,
            feature_levels=tuple(node.feature_levels), use_adapters=node.use_adapters,
            schedule=node.schedule, final_kd_fraction=node.final_kd_fraction,
            max_epochs=cfg.arch.max_epochs, **kwargs)

    def _apply(self, fn, recurse=True):
        """Device and dtype moves (`.to`, `.cuda`, ...) apply to the teacher too."""
        self.teacher._apply(fn)
        return super()._apply(fn, recurse)

    @property
    def w_kd(self):
        """w_kd of the current epoch."""
        return kd_weight(self.epoch, self.max_epochs, self.schedule, self.final_kd_fraction)

    def predict(self, batch, return_features=False):
        """The student's output in metres, with its features when training with feature KD."""
        uses_features = self.training and self.distillation_loss.uses_features
        return super().predict(batch, return_features or uses_features)

    @torch.no_grad()
    def teacher_predict(self, batch):
        """The frozen teacher's output in metres (with features when they are distilled)."""
        key = self.teacher.depth_net.input_keys[0]
        if batch.get(key) is None:
            raise ConfigError(f"The distillation teacher ({type(self.teacher.depth_net).__name__})"
                              f" needs '{key}' in the batch; for BatVision set "
                              f"datasets.batvision.load_rgb true")
        return self.teacher.predict(batch, self.distillation_loss.uses_features)

    def forward(self, batch):
        """The student's SemiSupModel output; in training, its loss becomes
        (2 - w_kd) * task + w_kd * distillation."""
        output = super().forward(batch)
        student_features = output.pop('features', None)
        if not self.training:
            return output
        teacher = self.teacher_predict(batch)
        distillation = self.distillation_loss(output['depth'], teacher['depth'][0],
                                              batch['valid'], student_features,
                                              teacher.get('features'))
        w_kd = self.w_kd
        task = output['loss']
        metrics = {**output['metrics'], **self.distillation_loss.metrics,
                   'task': task.detach(), 'w_kd': torch.tensor(w_kd),
                   'w_task': torch.tensor(2.0 - w_kd)}
        return {**output, 'loss': (2.0 - w_kd) * task + w_kd * distillation, 'metrics': metrics}


def freeze(teacher):
    """The teacher in eval mode with gradients off."""
    return teacher.eval().requires_grad_(False)


def load_teacher(checkpoint):
    """The trained model of a checkpoint, built from the config stored in it."""
    from packnet_sfm.models import load_trained_model

    if not checkpoint:
        raise ConfigError("model.distillation.teacher_checkpoint is empty: train the teacher "
                          "first (e.g. configs/distill_rgb_teacher_v2.yaml) and give its .ckpt")
    try:
        teacher_cfg = load_config(checkpoint)
    except ConfigError as error:
        raise ConfigError(f"model.distillation.teacher_checkpoint: {error}") from error
    return load_trained_model(teacher_cfg, checkpoint)


def distilled_channels(student_net, teacher_net, levels):
    """{level: (student channels, teacher channels)} of the distilled feature levels."""
    if not levels:
        raise ConfigError("model.distillation.lambda_feat > 0 needs feature_levels "
                          "(e.g. ['x3', 'x4', 'x5'])")
    for net in (student_net, teacher_net):
        if 'return_features' not in inspect.signature(net.forward).parameters:
            raise ConfigError(f"model.distillation.lambda_feat > 0 needs depth networks that "
                              f"return features; {type(net).__name__} does not")
    student, teacher = (feature_shapes(net, image_size=32) for net in (student_net, teacher_net))
    missing = sorted(set(levels) - (set(student) & set(teacher)))
    if missing:
        raise ConfigError(f"model.distillation.feature_levels: {missing} are not features of "
                          f"both networks; shared levels: {sorted(set(student) & set(teacher))}")
    return {level: (student[level][1], teacher[level][1]) for level in levels}
