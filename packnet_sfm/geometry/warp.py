"""Warping a context image into the target view with the target depth and relative pose."""
import torch.nn.functional as F

from packnet_sfm.geometry.camera import Camera


def view_synthesis(context, depth, K, pose, padding_mode='zeros'):
    """Sample `context` [B,C,H,W] at the projections of the target pixels.

    depth [B,1,H,W] target depth (metres), K [B,3,3] target intrinsics, pose: Pose taking
    target-camera points into the context camera (same intrinsics, as for one camera)."""
    points = Camera(K).reconstruct(depth)
    grid = Camera(K, Tcw=pose).project(points)
    return F.grid_sample(context, grid, mode='bilinear', padding_mode=padding_mode,
                         align_corners=True)
