"""Knowledge distillation from a frozen teacher to a student depth network (seed 003).

    distillation = lambda_kd * L_depth + lambda_feat * L_feat
    L_depth = mean over valid-GT pixels of (depth_s - depth_t)^2, depths in metres (m^2)
    L_feat  = sum over levels l of mean over all elements of (A_l(feat_s[l]) - feat_t[l])^2

A_l is a learned 1x1 convolution (an adapter) where the student's and the teacher's channels
differ at level l, or at every level with `use_adapters`; the identity otherwise.

The schedule (`kd_weight`) scales the distillation over training; the model adds the task loss:
loss = (2 - w_kd) * task + w_kd * distillation, so at w_kd = 1 (constant schedule) it is
task + distillation, and the weight that leaves the distillation goes to the task.
"""
import math

from torch import nn

from packnet_sfm.losses.loss_base import LossBase, masked_mean, select_valid
from packnet_sfm.utils.config import ConfigError, check_choice

SCHEDULES = ('constant', 'linear', 'cosine')


def kd_weight(epoch, max_epochs, schedule='constant', final_kd_fraction=0.1):
    """w_kd at `epoch` (0-based): 1 at the first epoch, `final_kd_fraction` at the last
    (`max_epochs - 1`), linear or half-cosine in between; 1 throughout for 'constant'.

    With progress p = epoch / (max_epochs - 1) (0 for a single epoch, at most 1):
    linear w = 1 - (1 - f) p; cosine w = f + (1 - f) (1 + cos(pi p)) / 2.
    """
    check_schedule(schedule)
    if schedule == 'constant':
        return 1.0
    progress = min(epoch / max(max_epochs - 1, 1), 1.0)
    if schedule == 'linear':
        return 1.0 - (1.0 - final_kd_fraction) * progress
    return final_kd_fraction + (1.0 - final_kd_fraction) * (1.0 + math.cos(math.pi * progress)) / 2


def check_schedule(schedule):
    check_choice('model.distillation.schedule', schedule, SCHEDULES)


class DistillationLoss(LossBase):
    """lambda_kd * depth MSE + lambda_feat * feature MSE summed over levels.

    `feature_channels`: {level: (student channels, teacher channels)} of the distilled levels
    (empty: no feature term). Reports 'kd_depth', 'kd_feat' and 'kd_feat/<level>'.
    """

    def __init__(self, lambda_kd=1.0, lambda_feat=0.0, feature_channels=None,
                 use_adapters=False):
        super().__init__()
        self.lambda_kd = lambda_kd
        self.lambda_feat = lambda_feat
        self.levels = tuple(feature_channels or ())
        self.adapters = nn.ModuleDict({
            level: nn.Conv2d(student, teacher, kernel_size=1)
            for level, (student, teacher) in (feature_channels or {}).items()
            if use_adapters or student != teacher})

    @property
    def uses_features(self):
        return bool(self.levels)

    def forward(self, student_depth, teacher_depth, valid, student_features=None,
                teacher_features=None):
        """Depths [B,1,H,W] in metres, `valid` bool [B,1,H,W]; features {level: [B,C,h,w]}."""
        check_shapes('depth', student_depth, teacher_depth)
        valid = valid.bool()
        student_depth, teacher_depth = select_valid(valid, student_depth, teacher_depth)
        depth_term = masked_mean((student_depth - teacher_depth) ** 2, valid)
        self.add_metric('kd_depth', depth_term)
        total = self.lambda_kd * depth_term
        if self.uses_features:
            feature_term = sum(self.feature_term(level, student_features[level],
                                                 teacher_features[level])
                               for level in self.levels)
            self.add_metric('kd_feat', feature_term)
            total = total + self.lambda_feat * feature_term
        return total

    def feature_term(self, level, student, teacher):
        """MSE between the (adapted) student feature and the teacher feature of one level."""
        if level in self.adapters:
            student = self.adapters[level](student)
        check_shapes(f'feature {level}', student, teacher)
        value = ((student - teacher) ** 2).mean()
        self.add_metric(f'kd_feat/{level}', value)
        return value


def check_shapes(what, student, teacher):
    if student.shape != teacher.shape:
        raise ConfigError(f"Distillation: student {what} {tuple(student.shape)} and teacher "
                          f"{what} {tuple(teacher.shape)} differ; feed both networks inputs of one "
                          f"size (datasets.batvision.image_size)")
