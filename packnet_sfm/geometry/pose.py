"""Rigid transforms as batched 4x4 matrices, built from 6-DoF vectors (axis-angle, translation)."""
import torch


def axis_angle_to_matrix(axis_angle):
    """Rodrigues' formula: [B,3] rotation vectors (angle = norm, radians) -> [B,3,3]."""
    angle = axis_angle.norm(dim=1, keepdim=True).clamp(min=1e-8)
    x, y, z = (axis_angle / angle).unbind(1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], 1).view(-1, 3, 3)
    sin, cos = angle.sin().unsqueeze(-1), angle.cos().unsqueeze(-1)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin * skew + (1 - cos) * skew @ skew


class Pose:
    """A batch of rigid transforms `mat` [B,4,4] acting on column vectors: X' = R X + t."""

    def __init__(self, mat):
        self.mat = mat

    @classmethod
    def identity(cls, batch_size, device=None, dtype=torch.float32):
        return cls(torch.eye(4, device=device, dtype=dtype).repeat(batch_size, 1, 1))

    @classmethod
    def from_vec(cls, vec):
        """[B,6] vectors (axis-angle rotation, translation) -> Pose."""
        top = torch.cat([axis_angle_to_matrix(vec[:, :3]), vec[:, 3:].unsqueeze(-1)], 2)
        bottom = vec.new_tensor([0.0, 0.0, 0.0, 1.0]).expand(vec.shape[0], 1, 4)
        return cls(torch.cat([top, bottom], 1))

    @property
    def rotation(self):
        return self.mat[:, :3, :3]

    @property
    def translation(self):
        return self.mat[:, :3, 3]

    def inverse(self):
        """The inverse transforms (R^T, -R^T t)."""
        rot_t = self.rotation.transpose(1, 2)
        top = torch.cat([rot_t, -rot_t @ self.translation.unsqueeze(-1)], 2)
        return Pose(torch.cat([top, self.mat[:, 3:]], 1))

    def __matmul__(self, other):
        """Composition: (self @ other) applies `other` first."""
        return Pose(self.mat @ other.mat)

    def transform(self, points):
        """[B,3,...] points -> the same points transformed, same shape."""
        flat = points.reshape(points.shape[0], 3, -1)
        moved = self.rotation @ flat + self.translation.unsqueeze(-1)
        return moved.reshape(points.shape)
