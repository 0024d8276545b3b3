"""Camera/pose geometry and the multi-view photometric loss on a rendered synthetic street."""
import math

import numpy as np
import pytest
import torch

from packnet_sfm.datasets.synthetic import kitti as synthetic_kitti
from packnet_sfm.geometry.camera import Camera, scale_intrinsics
from packnet_sfm.geometry.pose import Pose, axis_angle_to_matrix
from packnet_sfm.geometry.warp import view_synthesis
from packnet_sfm.losses.multiview_photometric_loss import MultiViewPhotometricLoss

torch.set_num_threads(1)
HEIGHT, WIDTH, SKY_DEPTH = 48, 160, 1000.0


def test_axis_angle_quarter_turn_about_z_maps_x_to_y():
    rotation = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]]))
    assert torch.allclose(rotation[0] @ torch.tensor([1.0, 0.0, 0.0]),
                          torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_pose_inverse_and_composition():
    pose = Pose.from_vec(torch.tensor([[0.1, -0.2, 0.3, 1.0, 2.0, 3.0]]))
    assert torch.allclose((pose @ pose.inverse()).mat, torch.eye(4).unsqueeze(0), atol=1e-6)
    point = torch.tensor([[[0.5], [-1.0], [4.0]]])
    moved = pose.transform(point)
    assert torch.allclose(moved, pose.rotation @ point + pose.translation.unsqueeze(-1))
    assert torch.allclose(pose.inverse().transform(moved), point, atol=1e-5)


def test_reconstruct_then_project_returns_each_pixel():
    K = torch.tensor([[[50.0, 0.0, 15.5], [0.0, 40.0, 7.5], [0.0, 0.0, 1.0]]])
    depth = 1.0 + 9.0 * torch.rand(1, 1, 16, 32)
    camera = Camera(K)
    points = camera.reconstruct(depth)
    assert torch.allclose(points[:, 2:], depth)
    # pixel (u=31, v=0) at depth d is at x = (31 - 15.5) * d / 50, y = -7.5 * d / 40
    assert torch.isclose(points[0, 0, 0, 31], 15.5 * depth[0, 0, 0, 31] / 50)
    assert torch.isclose(points[0, 1, 0, 31], -7.5 * depth[0, 0, 0, 31] / 40)
    uv = camera.project(points, normalize=False)
    v, u = torch.meshgrid(torch.arange(16.0), torch.arange(32.0), indexing='ij')
    assert torch.allclose(uv[0], torch.stack([u, v], -1), atol=1e-3)


def test_translated_camera_sees_points_shifted():
    K = torch.tensor([[[100.0, 0.0, 50.0], [0.0, 100.0, 20.0], [0.0, 0.0, 1.0]]])
    # the context camera is 1 m to the right: target points appear 100 * 1 / 10 px further left
    pose = Pose.from_vec(torch.tensor([[0.0, 0.0, 0.0, -1.0, 0.0, 0.0]]))
    points = Camera(K).reconstruct(torch.full((1, 1, 4, 4), 10.0))
    uv = Camera(K, Tcw=pose).project(points, normalize=False)
    assert torch.allclose(uv[0, 0, 3], torch.tensor([3.0 - 10.0, 0.0]), atol=1e-4)


def test_scale_intrinsics_maps_pixel_centres_like_resizing():
    K = torch.tensor([[100.0, 0.0, 49.5], [0.0, 80.0, 19.5], [0.0, 0.0, 1.0]])
    half = scale_intrinsics(K, 0.5, 0.5)
    # the centre of a 100x40 image (49.5, 19.5) is the centre of the 50x20 one (24.5, 9.5)
    assert torch.allclose(half, torch.tensor([[50.0, 0.0, 24.5], [0.0, 40.0, 9.5],
                                              [0.0, 0.0, 1.0]]))


@pytest.fixture(scope='module')
def street():
    """Target frame 3 and context frames 2 and 4 of a rendered drive, with true depth and
    target -> context poses."""
    rng = np.random.default_rng(5)
    trajectory = synthetic_kitti.Trajectory(rng, speed=1.0)
    scene = synthetic_kitti.StreetScene(rng, length=100)
    K = synthetic_kitti.intrinsics(HEIGHT, WIDTH)
    frames = {f: synthetic_kitti.render_camera(scene, trajectory.camera_to_world(f, 2), K,
                                               HEIGHT, WIDTH) for f in (2, 3, 4)}

    def image(frame):
        return torch.from_numpy(frames[frame][0]).float().permute(2, 0, 1).unsqueeze(0)

    def pose(context):
        world_to_context = np.linalg.inv(trajectory.camera_to_world(context, 2))
        return Pose(torch.from_numpy(
            world_to_context @ trajectory.camera_to_world(3, 2)).float().unsqueeze(0))

    depth = torch.from_numpy(frames[3][1]).float()[None, None]
    return {'image': image(3), 'context': [image(2), image(4)], 'poses': [pose(2), pose(4)],
            'depth': torch.where(depth > 0, depth, torch.full_like(depth, SKY_DEPTH)),
            'K': torch.from_numpy(K).float().unsqueeze(0)}


def test_true_depth_and_pose_warp_the_context_onto_the_target(street):
    warped = view_synthesis(street['context'][1], street['depth'], street['K'],
                            street['poses'][1])
    inside = warped.sum(1, keepdim=True) > 0
    error = (warped - street['image']).abs().mean(1, keepdim=True)
    assert inside.float().mean() > 0.6   # moving forward: the borders leave the view
    assert error[inside].median() < 0.02
    unwarped = (street['context'][1] - street['image']).abs().mean(1, keepdim=True)
    assert unwarped[inside].median() > 3 * error[inside].median()


def photometric(street, depth, **options):
    loss = MultiViewPhotometricLoss(num_scales=1, smooth_loss_weight=0.0, **options)
    return loss(street['image'], street['context'], [depth], street['K'], street['poses'])


def test_photometric_loss_is_near_zero_for_true_depth_and_large_for_wrong_depth(street):
    true = photometric(street, street['depth'], automask=False)
    assert true < 0.03
    assert photometric(street, street['depth'] * 0.5, automask=False) > 3 * true
    assert photometric(street, torch.full_like(street['depth'], 10.0), automask=False) > 3 * true


def test_min_reduction_is_at_most_the_mean_over_contexts(street):
    wrong = street['depth'] * 0.7
    low = photometric(street, wrong, automask=False, photometric_reduce_op='min')
    mean = photometric(street, wrong, automask=False, photometric_reduce_op='mean')
    assert low < mean


def test_automask_reports_masked_pixels_and_never_raises_the_loss(street):
    loss = MultiViewPhotometricLoss(num_scales=1, smooth_loss_weight=0.0)
    wrong = torch.full_like(street['depth'], 3.0)
    masked = loss(street['image'], street['context'], [wrong], street['K'], street['poses'])
    assert 0 < loss.metrics['photometric/automasked_fraction'] < 1
    assert masked <= photometric(street, wrong, automask=False)


def test_smoothness_is_zero_for_constant_depth_and_multi_scale_depths_are_upsampled(street):
    loss = MultiViewPhotometricLoss(num_scales=4, smooth_loss_weight=1.0)
    depths = [torch.full((1, 1, HEIGHT // 2 ** s, WIDTH // 2 ** s), 8.0) for s in range(4)]
    total = loss(street['image'], street['context'], depths, street['K'], street['poses'])
    assert loss.metrics['photometric/smoothness'] == 0
    assert torch.isclose(total, loss.metrics['photometric/reprojection'])


def test_unknown_reduce_op_and_automask_with_mean_name_the_keys():
    with pytest.raises(ValueError, match='photometric_reduce_op'):
        MultiViewPhotometricLoss(photometric_reduce_op='median')
    with pytest.raises(ValueError, match="automask .* needs photometric_reduce_op 'min'"):
        MultiViewPhotometricLoss(photometric_reduce_op='mean', automask=True)
