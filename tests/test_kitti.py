"""KITTI raw reader on the synthetic KITTI layout, and SemiSupModel training on it (seed 004:
ResNetSAN01 + sparse-scale-adaptive, with photometric self-supervision when w < 1)."""
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboardX.proto import event_pb2

from packnet_sfm.datasets.builder import build_dataset, depth_units
from packnet_sfm.datasets.KITTIDataset import (
    KITTIDataset,
    parse_split_line,
    project_lidar,
    velo_to_image,
)
from packnet_sfm.datasets.synthetic import kitti as synthetic_kitti
from packnet_sfm.losses.scale_adaptive_loss import ScaleAdaptiveLoss
from packnet_sfm.models import build_model
from packnet_sfm.networks.depth.ResNetSAN01 import ResNetSAN01
from packnet_sfm.trainers.run import train
from packnet_sfm.utils.config import load_config

torch.set_num_threads(1)
HEIGHT, WIDTH, FRAMES = 64, 128, 4
SPLIT = 'data_splits/eigen_zhou_files.txt'
DRIVE = '2011_09_26/2011_09_26_drive_0001_sync'


@pytest.fixture(scope='module')
def kitti_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('kitti')
    synthetic_kitti.write_synthetic_kitti(root, num_drives=1, num_frames=FRAMES, height=HEIGHT,
                                          width=WIDTH, seed=3)
    return root


def test_generator_writes_the_kitti_raw_layout(kitti_root):
    drive = kitti_root / DRIVE
    for path in ('image_02/data/0000000000.png', 'image_03/data/0000000003.png',
                 'velodyne_points/data/0000000002.bin',
                 'proj_depth/groundtruth/image_02/0000000001.png'):
        assert (drive / path).is_file(), path
    for name in ('calib_cam_to_cam.txt', 'calib_velo_to_cam.txt', 'calib_imu_to_velo.txt'):
        assert (kitti_root / '2011_09_26' / name).is_file()
    lines = (kitti_root / SPLIT).read_text().split('\n')
    assert lines[0] == f'{DRIVE} 0000000000 l'
    scan = np.fromfile(drive / 'velodyne_points/data/0000000000.bin', np.float32).reshape(-1, 4)
    assert len(scan) > 10000 and (scan[:, 3] >= 0).all() and (scan[:, 3] <= 1).all()


def test_calibration_chain_projects_a_point_ahead_by_hand(kitti_root):
    projection = velo_to_image(kitti_root / '2011_09_26', camera=2)
    fx, fy = 0.58 * WIDTH, 1.92 * HEIGHT
    cx, cy = (WIDTH - 1) / 2, (HEIGHT - 1) / 2
    # velodyne (10, 0, 0) is 10 m ahead: camera 0 (0, -0.08, 9.73); camera 2 adds x + 0.06
    u, v, z = projection @ np.array([10.0, 0.0, 0.0, 1.0])
    assert np.isclose(z, 9.73)
    assert np.isclose(u / z, fx * 0.06 / 9.73 + cx) and np.isclose(v / z, fy * -0.08 / 9.73 + cy)


def test_sample_has_the_contract_keys_and_the_written_image(kitti_root):
    import cv2
    dataset = KITTIDataset(kitti_root, SPLIT, depth_type='groundtruth',
                           input_depth_type='velodyne', image_shape=(HEIGHT, WIDTH))
    sample = dataset[2]
    assert sample['filename'] == f'{DRIVE}/image_02/data/0000000002'
    assert sample['rgb'].shape == (3, HEIGHT, WIDTH) and sample['rgb'].dtype == torch.float32
    assert sample['depth'].shape == sample['valid'].shape == sample['input_depth'].shape
    assert sample['valid'].dtype == torch.bool and sample['idx'] == 2
    png = cv2.imread(str(kitti_root / DRIVE / 'image_02/data/0000000002.png'))[..., ::-1]
    assert torch.equal((sample['rgb'] * 255).round().byte(),
                       torch.from_numpy(png.copy()).permute(2, 0, 1))
    assert torch.allclose(sample['intrinsics'], torch.tensor(
        synthetic_kitti.intrinsics(HEIGHT, WIDTH), dtype=torch.float32))
    gt = cv2.imread(str(kitti_root / DRIVE / 'proj_depth/groundtruth/image_02/0000000002.png'),
                    cv2.IMREAD_UNCHANGED)
    assert torch.equal(sample['depth'][0], torch.from_numpy(gt.astype(np.float32) / 256))


def test_lidar_projection_lands_on_the_rendered_depth(kitti_root):
    dataset = KITTIDataset(kitti_root, SPLIT, depth_type='groundtruth',
                           input_depth_type='velodyne', image_shape=(HEIGHT, WIDTH))
    sample = dataset[1]
    lidar, rendered = sample['input_depth'][0], sample['depth'][0]
    both = (lidar > 0) & (rendered > 0)
    assert both.sum() > 0.1 * HEIGHT * WIDTH
    relative = (lidar[both] - rendered[both]).abs() / rendered[both]
    assert relative.median() < 0.01
    assert (relative < 0.05).float().mean() > 0.9
    # LiDAR covers the lower image only (beams from +2 to -24.8 degrees)
    assert (lidar[:5] > 0).sum() < (lidar[-5:] > 0).sum()


def test_resized_samples_scale_intrinsics_and_project_lidar_at_the_new_size(kitti_root):
    dataset = KITTIDataset(kitti_root, SPLIT, depth_type='velodyne', image_shape=(32, 64))
    sample = dataset[0]
    K = synthetic_kitti.intrinsics(HEIGHT, WIDTH)
    assert sample['rgb'].shape == (3, 32, 64) and sample['depth'].shape == (1, 32, 64)
    fx, cx = sample['intrinsics'][0, 0].item(), sample['intrinsics'][0, 2].item()
    assert np.isclose(fx, K[0, 0] / 2) and np.isclose(cx, (K[0, 2] + 0.5) / 2 - 0.5)
    assert sample['valid'].any()


def test_context_frames_are_the_neighbours_and_edges_are_left_out(kitti_root):
    dataset = KITTIDataset(kitti_root, SPLIT, back_context=1, forward_context=1,
                           image_shape=(HEIGHT, WIDTH))
    assert len(dataset) == FRAMES - 2
    sample = dataset[0]
    plain = KITTIDataset(kitti_root, SPLIT, image_shape=(HEIGHT, WIDTH))
    assert sample['filename'].endswith('0000000001')
    assert torch.equal(sample['rgb_context'][0], plain[0]['rgb'])
    assert torch.equal(sample['rgb_context'][1], plain[2]['rgb'])


def test_split_lines_in_both_formats():
    assert parse_split_line(f'{DRIVE} 0000000005 l', 's') == (DRIVE, 5, 2)
    assert parse_split_line(f'{DRIVE} 12 r', 's') == (DRIVE, 12, 3)
    assert parse_split_line(f'{DRIVE}/image_03/data/0000000007.png', 's') == (DRIVE, 7, 3)
    with pytest.raises(ValueError, match='Cannot parse line'):
        parse_split_line('nonsense', 'split.txt')


def test_missing_split_file_and_empty_split_are_clear_errors(kitti_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='split file not found'):
        KITTIDataset(kitti_root, 'data_splits/nope.txt')
    split = tmp_path / 'far.txt'
    split.write_text(f'{DRIVE} 0000000099 l\n')
    with pytest.raises(ValueError, match='None of the 1 frames'):
        KITTIDataset(kitti_root, str(split))


CONFIG = """
name: kitti_test
arch: {{seed: 1, max_epochs: 1, validate_every: 1}}
model:
  name: SemiSupModel
  optimizer: {{name: Adam, lr: 0.0005, weight_decay: 0.0}}
  loss:
    supervised_method: sparse-scale-adaptive
    supervised_loss_weight: {weight}
    supervised_num_scales: 4
    scale_adaptive: {{lambda_sg: 0.5, num_scales: 4}}
    photometric: {{num_scales: 4}}
  depth_net:
    name: ResNetSAN01
    ResNetSAN01: {{version: 18nt, use_film: true, film_scales: [0]}}
  pose_net: {{name: PoseNet}}
datasets:
  kitti: {{depth_type: groundtruth, input_depth_type: velodyne, back_context: 1,
          forward_context: 1, image_shape: [{height}, {width}]}}
  train: {{dataset: [KITTI], path: ['{root}'], split: [{split}], batch_size: 2,
          num_workers: 0}}
  validation: {{dataset: [KITTI], path: ['{root}'], split: [{split}], batch_size: 2,
               num_workers: 0}}
  test: {{dataset: [KITTI], path: ['{root}'], split: [{split}], batch_size: 2,
         num_workers: 0}}
evaluation: {{protocol: custom, min_depth: 0.001, max_depth: 80.0}}
checkpoint: {{filepath: '{runs}', monitor: abs_rel}}
log: {{every_n_steps: 1, images_every: 1, num_images: 1}}
"""


def kitti_config(tmp_path, kitti_root, weight):
    path = tmp_path / 'kitti.yaml'
    path.write_text(CONFIG.format(weight=weight, height=HEIGHT, width=WIDTH, root=kitti_root,
                                  split=SPLIT, runs=tmp_path / 'runs'))
    return path


@pytest.mark.slow
def test_semi_supervised_model_with_photometric_half_trains(kitti_root, tmp_path):
    cfg = load_config(kitti_config(tmp_path, kitti_root, weight=0.9))
    torch.manual_seed(0)
    model = build_model(cfg, *depth_units(cfg)).train()
    dataset = build_dataset(cfg, 'train')
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4)
    losses = []
    for _ in range(6):
        output = model(batch)
        optimizer.zero_grad()
        output['loss'].backward()
        optimizer.step()
        losses.append(output['loss'].item())
    metrics = output['metrics']
    for term in ('photometric/reprojection', 'photometric/smoothness', 'scale_adaptive/rel',
                 'completion/feature_consistency', 'self_supervised_loss'):
        assert term in metrics, term
    w = 0.9
    assert np.isclose(output['loss'].item(), (1 - w) * metrics['self_supervised_loss'].item()
                      + w * metrics['supervised_loss'].item(), rtol=1e-5)
    assert losses[-1] < 0.8 * losses[0], losses


def test_weight_below_one_without_context_frames_names_the_fix(kitti_root, tmp_path):
    cfg = load_config(kitti_config(tmp_path, kitti_root, weight=0.9),
                      ['datasets.kitti.back_context', '0', 'datasets.kitti.forward_context', '0'])
    model = build_model(cfg, *depth_units(cfg)).train()
    batch = next(iter(torch.utils.data.DataLoader(build_dataset(cfg, 'train'), batch_size=1)))
    with pytest.raises(ValueError, match='back_context'):
        model(batch)


def scalar_tags(event_dir):
    """Scalar tags in the TensorBoard event files of a folder (TFRecord framing)."""
    tags = set()
    for path in Path(event_dir).glob('events.out.tfevents.*'):
        data, position = path.read_bytes(), 0
        while position < len(data):
            length = struct.unpack('<Q', data[position:position + 8])[0]
            event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
            tags.update(value.tag for value in event.summary.value)
            position += 12 + length + 4
    return tags


@pytest.mark.slow
def test_scale_adaptive_terms_reach_tensorboard(kitti_root, tmp_path):
    run_dir, metrics = train(kitti_config(tmp_path, kitti_root, weight=1.0))
    tags = scalar_tags(run_dir / 'tensorboard')
    for term in ('scale_adaptive/rel', 'scale_adaptive/grad', 'scale_adaptive/abs',
                 'completion/feature_consistency', 'loss'):
        assert any(tag.endswith(term) for tag in tags), (term, sorted(tags))
    assert 'abs_rel' in metrics


@pytest.mark.parametrize('name', ['train', 'eval', 'overfit'])
def test_seed_004_configs_build_scale_adaptive_san_models(name):
    path = Path(__file__).parents[1] / 'configs' / f'{name}_resnet_san_kitti.yaml'
    cfg = load_config(path, ['model.depth_net.ResNetSAN01.version', '18nt'])
    model = build_model(cfg, *depth_units(cfg))
    assert isinstance(model.depth_net, ResNetSAN01)
    assert set(model.depth_net.films) == {'0'} and model.depth_net.max_depth == 80.0
    loss = model.supervised_loss.loss.loss
    assert isinstance(loss, ScaleAdaptiveLoss)
    assert (loss.lambda_sg, loss.num_scales) == (0.5, 4)
    assert cfg.datasets.kitti.input_depth_type == 'velodyne'


def test_synthetic_lidar_is_as_sparse_on_a_kitti_image_as_a_64_beam_scan(tmp_path):
    """Projected through the calibration the loader reads, onto a 375x1242 image: about 5% of
    the pixels (a real HDL-64E scan: ~4-5%), far fewer above the horizon than below."""
    height, width = 375, 1242
    K = synthetic_kitti.intrinsics(height, width)
    synthetic_kitti.write_calibration(tmp_path, K, height, width)
    rng = np.random.default_rng(0)
    trajectory = synthetic_kitti.Trajectory(rng)
    scene = synthetic_kitti.StreetScene(rng, length=100)
    points = synthetic_kitti.scan_lidar(scene, trajectory.velo_to_world(0))
    depth = project_lidar(points, velo_to_image(tmp_path, camera=2), (height, width))
    measured = depth > 0
    horizon = int(K[1, 2])
    assert 0.03 < measured.mean() < 0.07, measured.mean()
    assert measured[:horizon].mean() < 0.3 * measured[horizon:].mean()
    assert len(synthetic_kitti.LIDAR_ELEVATIONS) == 64
