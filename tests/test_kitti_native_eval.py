"""KITTI evaluation at native resolution: ground truth at the image's own size, the prediction
upsampled bilinearly to it, the Garg crop on that grid, batches of mixed native sizes; and
training depth resized without losing a LiDAR measurement."""
import cv2
import numpy as np
import torch
from torch import nn

from packnet_sfm.datasets.builder import build_dataset, build_loader
from packnet_sfm.datasets.KITTIDataset import KITTIDataset, resize_sparse_depth
from packnet_sfm.datasets.synthetic import kitti as synthetic_kitti
from packnet_sfm.trainers import evaluation
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.utils.depth import crop_mask
from packnet_sfm.utils.protocols import PROTOCOLS

SPLIT = 'data_splits/eigen_zhou_files.txt'
NATIVE = (64, 128)


class Constant(nn.Module):
    """A model that predicts `value` metres at the network resolution."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def evaluation_output(self, batch):
        gt = batch['depth'] * batch['valid']
        return {'depth': torch.full_like(gt, self.value), 'gt': gt}


def test_sparse_resize_keeps_every_measurement_in_the_pixel_containing_it():
    rng = np.random.default_rng(0)
    depth = np.where(rng.random((375, 1242)) < 0.05, rng.uniform(1, 80, (375, 1242)), 0)
    depth = depth.astype(np.float32)
    small = resize_sparse_depth(depth, (96, 320))
    nearest = {}
    for row, col in zip(*np.nonzero(depth)):
        cell = (int((row + 0.5) * 96 / 375), int((col + 0.5) * 320 / 1242))
        nearest[cell] = min(nearest.get(cell, np.inf), depth[row, col])
    expected = np.zeros((96, 320), np.float32)
    for (row, col), value in nearest.items():
        expected[row, col] = value
    assert np.array_equal(small, expected)
    naive = cv2.resize(depth, (320, 96), interpolation=cv2.INTER_NEAREST)
    assert (naive > 0).sum() < 0.5 * (small > 0).sum()   # what a nearest resize would lose


def test_evaluation_samples_carry_native_ground_truth(kitti_synthetic, kitti_cfg):
    cfg = kitti_cfg('datasets.kitti.image_shape', '[32, 64]')
    sample = build_dataset(cfg, 'validation')[1]
    assert sample['depth'].shape == (1, 32, 64)
    assert sample['depth_native'].shape == (1, *NATIVE)
    assert sample['native_shape'].tolist() == list(NATIVE)
    png = cv2.imread(str(kitti_synthetic / synthetic_kitti.DATE /
                         f'{synthetic_kitti.DATE}_drive_0001_sync' /
                         'proj_depth/groundtruth/image_02/0000000001.png'), cv2.IMREAD_UNCHANGED)
    gt = png.astype(np.float32) / 256
    assert torch.equal(sample['depth_native'][0], torch.from_numpy(gt * (gt <= 80)))
    assert 'depth_native' not in build_dataset(cfg, 'train')[1]


def evaluate_with(model, cfg, crop='garg'):
    """evaluate() on the validation split, recording the shapes the metrics see."""
    seen = []
    metrics_per_image = evaluation.compute_depth_metrics_per_image

    def recording(gt, pred, **kwargs):
        seen.append((tuple(gt.shape), tuple(pred.shape)))
        return metrics_per_image(gt, pred, **kwargs)

    evaluation.compute_depth_metrics_per_image = recording
    try:
        loader = build_loader(cfg, 'validation', build_dataset(cfg, 'validation'),
                              SingleProcess())
        protocol = {**PROTOCOLS['kitti_eigen'].options(), 'crop': crop, 'use_gt_scale': False}
        metrics, rows = evaluation.evaluate(model, loader, SingleProcess(), 'cpu',
                                            {'kitti': protocol})['kitti']
    finally:
        evaluation.compute_depth_metrics_per_image = metrics_per_image
    return metrics, rows, seen


def test_metrics_see_native_ground_truth_and_an_upsampled_prediction(kitti_synthetic, kitti_cfg):
    cfg = kitti_cfg('datasets.kitti.image_shape', '[32, 64]',
                    'datasets.validation.batch_size', '4')
    metrics, rows, seen = evaluate_with(Constant(10.0), cfg, crop='garg')
    assert seen and all(shapes == ((4, 1, *NATIVE), (4, 1, *NATIVE)) or
                        shapes == ((2, 1, *NATIVE), (2, 1, *NATIVE)) for shapes in seen)
    dataset = KITTIDataset(kitti_synthetic, SPLIT, image_shape=(32, 64), training=False)
    for row in rows:  # a constant upsamples to the constant; scored on the native Garg crop
        gt = dataset[row['idx']]['depth_native'][0].double()
        mask = crop_mask(NATIVE, 'garg') & (gt > 0.001) & (gt < 80)
        assert np.isclose(row['abs_rel'], ((10 - gt[mask]).abs() / gt[mask]).mean().item())


class NearestGroundTruth(nn.Module):
    """Predicts the native ground truth itself, each pixel repeated 2x2 on a network grid of
    twice the native size (sky and holes filled with 50 m)."""

    def evaluation_output(self, batch):
        native = batch['depth_native']
        filled = torch.where(native > 0, native, torch.full_like(native, 50.0))
        return {'depth': filled.repeat_interleave(2, -2).repeat_interleave(2, -1),
                'gt': batch['depth'] * batch['valid']}


def test_a_prediction_equal_to_the_ground_truth_scores_zero_after_resampling(kitti_cfg):
    cfg = kitti_cfg('datasets.kitti.image_shape', '[128, 256]')
    metrics, _, seen = evaluate_with(NearestGroundTruth(), cfg, crop='garg')
    assert all(shapes[0][-2:] == NATIVE for shapes in seen)
    assert metrics['abs_rel'] == 0.0 and metrics['rmse'] == 0.0 and metrics['a1'] == 1.0


def test_batches_of_mixed_native_sizes_collate_and_score_each_image_on_its_grid(
        kitti_synthetic, kitti_cfg, tmp_path):
    other = tmp_path / 'small'
    synthetic_kitti.write_synthetic_kitti(other, num_drives=1, num_frames=3, height=48,
                                          width=96, seed=5)
    cfg = kitti_cfg('datasets.kitti.image_shape', '[32, 64]',
                    'datasets.validation.batch_size', '4',
                    'datasets.validation.dataset', '[KITTI, KITTI]',
                    'datasets.validation.path', f"['{kitti_synthetic}', '{other}']",
                    'datasets.validation.split', f'[{SPLIT}, {SPLIT}]')
    _, rows, seen = evaluate_with(Constant(10.0), cfg, crop='garg')
    assert (4, 1, *NATIVE) in [gt for gt, _ in seen]   # a batch holding both sizes, padded
    expected = []
    for root, shape in ((kitti_synthetic, NATIVE), (other, (48, 96))):
        dataset = KITTIDataset(root, SPLIT, image_shape=(32, 64), training=False)
        for i in range(len(dataset)):
            gt = dataset[i]['depth_native'][0].double()
            assert gt.shape == shape
            mask = crop_mask(shape, 'garg') & (gt > 0.001) & (gt < 80)
            expected.append(((10 - gt[mask]).abs() / gt[mask]).mean().item())
    assert np.allclose([row['abs_rel'] for row in rows], expected)
