"""Pinhole camera: back-projection of depth maps to 3D and projection to sampling grids.

Pixel (u, v) has its centre at integer coordinates u = column, v = row; intrinsics K map
camera coordinates to those pixel coordinates."""
import torch

from packnet_sfm.geometry.pose import Pose


def pixel_grid(batch_size, height, width, device=None, dtype=torch.float32):
    """Homogeneous pixel coordinates [B,3,H,W] (u, v, 1)."""
    v, u = torch.meshgrid(torch.arange(height, device=device, dtype=dtype),
                          torch.arange(width, device=device, dtype=dtype), indexing='ij')
    grid = torch.stack([u, v, torch.ones_like(u)], 0)
    return grid.unsqueeze(0).expand(batch_size, 3, height, width)


def scale_intrinsics(K, x_scale, y_scale):
    """Intrinsics of an image resized by (x_scale, y_scale) with pixel centres mapped as
    cv2.resize and grid sampling with aligned corners do: u' = (u + 0.5) * s - 0.5."""
    K = K.clone()
    K[..., 0, 0] *= x_scale
    K[..., 1, 1] *= y_scale
    K[..., 0, 2] = (K[..., 0, 2] + 0.5) * x_scale - 0.5
    K[..., 1, 2] = (K[..., 1, 2] + 0.5) * y_scale - 0.5
    return K


class Camera:
    """Intrinsics K [B,3,3] and the pose `Tcw` taking reference-frame ('world') points into
    this camera's frame (identity: the camera is the reference frame)."""

    def __init__(self, K, Tcw=None):
        self.K = K
        self.Tcw = Pose.identity(K.shape[0], K.device, K.dtype) if Tcw is None else Tcw

    def reconstruct(self, depth):
        """[B,1,H,W] depth (z, metres) -> [B,3,H,W] points in the reference frame."""
        batch, _, height, width = depth.shape
        pixels = pixel_grid(batch, height, width, depth.device, depth.dtype)
        rays = (torch.linalg.inv(self.K) @ pixels.reshape(batch, 3, -1)).view(pixels.shape)
        return self.Tcw.inverse().transform(rays * depth)

    def project(self, points, normalize=True):
        """[B,3,H,W] reference-frame points -> [B,H,W,2] pixel coordinates (u, v) of this
        camera, or, with `normalize`, grid_sample coordinates in [-1, 1]
        (align_corners=True). Points behind the camera land far outside the image."""
        batch, _, height, width = points.shape
        cam = self.Tcw.transform(points).reshape(batch, 3, -1)
        proj = self.K @ cam
        z = proj[:, 2:]
        uv = proj[:, :2] / torch.where(z > 1e-5, z, torch.full_like(z, 1e-5))
        uv = torch.where(z > 1e-5, uv, torch.full_like(uv, -1e5))
        if normalize:
            size = uv.new_tensor([width - 1, height - 1]).view(1, 2, 1)
            uv = 2 * uv / size - 1
        return uv.view(batch, 2, height, width).permute(0, 2, 3, 1)
