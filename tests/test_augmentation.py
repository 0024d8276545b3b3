"""Training augmentation (horizontal flip, colour jitter): geometric consistency of the flip,
one jitter per sample, training split only."""
import pytest
import torch

from packnet_sfm.datasets.augmentation import Augmentation, flip_sample
from packnet_sfm.datasets.builder import build_dataset
from packnet_sfm.datasets.KITTIDataset import KITTIDataset
from packnet_sfm.geometry.pose import Pose
from packnet_sfm.losses.multiview_photometric_loss import MultiViewPhotometricLoss
from packnet_sfm.utils.errors import InputError

SPLIT = 'data_splits/eigen_zhou_files.txt'
MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0, 1.0]))


@pytest.fixture
def sample(kitti_synthetic):
    dataset = KITTIDataset(kitti_synthetic, SPLIT, input_depth_type='velodyne', back_context=1,
                           forward_context=1, image_shape=(64, 128))
    sample = dataset[1]
    sample['intrinsics'][0, 2] = 41.3   # off centre, so that flipping the principal point matters
    sample['depth'] = torch.where(sample['depth'] > 0, sample['depth'], torch.tensor(60.0))
    return sample


def photometric(sample, poses):
    loss = MultiViewPhotometricLoss(num_scales=1, automask=False)
    return loss(sample['rgb'][None], [c[None] for c in sample['rgb_context']],
                [sample['depth'][None]], sample['intrinsics'][None], poses).item()


def test_flipped_sample_has_the_same_photometric_loss_under_the_mirrored_poses(sample):
    vectors = torch.tensor([[0.01, -0.03, 0.02, 0.12, -0.04, -0.9],
                            [-0.02, 0.02, -0.01, -0.08, 0.03, 1.1]])
    poses = [Pose.from_vec(v[None]) for v in vectors]
    mirrored = [Pose(MIRROR @ p.mat @ MIRROR) for p in poses]
    original = photometric(sample, poses)
    flipped = flip_sample(sample)
    assert photometric(flipped, mirrored) == pytest.approx(original, rel=1e-5)
    # the test can fail: forgetting the principal point (or the context) changes the loss
    wrong_k = {**flipped, 'intrinsics': sample['intrinsics']}
    wrong_context = {**flipped, 'rgb_context': sample['rgb_context']}
    for wrong in (wrong_k, wrong_context):
        assert photometric(wrong, mirrored) != pytest.approx(original, rel=1e-2)


def test_flip_mirrors_every_map_and_the_principal_point(sample):
    flipped = Augmentation(flip_prob=1.0)(sample)
    for key in ('rgb', 'depth', 'valid', 'input_depth'):
        assert torch.equal(flipped[key], sample[key].flip(-1)), key
    assert all(torch.equal(f, c.flip(-1))
               for f, c in zip(flipped['rgb_context'], sample['rgb_context']))
    assert flipped['intrinsics'][0, 2] == pytest.approx(127 - 41.3)
    assert torch.equal(Augmentation(flip_prob=0.0)(sample)['rgb'], sample['rgb'])


def test_colour_jitter_is_the_same_on_target_and_context_and_keeps_the_originals(sample):
    sample['rgb_context'] = [sample['rgb'].clone(), sample['rgb_context'][1]]
    torch.manual_seed(0)
    jittered = Augmentation(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)(sample)
    assert torch.allclose(jittered['rgb_context'][0], jittered['rgb'], atol=1e-6)
    assert (jittered['rgb'] - sample['rgb']).abs().mean() > 1e-3
    assert torch.equal(jittered['rgb_original'], sample['rgb'])
    assert torch.equal(jittered['rgb_context_original'][1], sample['rgb_context'][1])
    assert jittered['rgb'].min() >= 0 and jittered['rgb'].max() <= 1


def test_hue_shift_by_a_third_of_a_turn_rotates_the_channels():
    image = torch.rand(3, 8, 8)
    turned = Augmentation(hue=0.5).jitter(image, [('hue', 1 / 3)])
    assert torch.allclose(turned, image[[2, 0, 1]], atol=1e-4)


def test_augmentation_applies_to_the_training_split_only(kitti_cfg):
    opts = ['datasets.augmentation.flip_prob', '1.0', 'datasets.augmentation.brightness', '0.3']
    plain = kitti_cfg()
    cfg = kitti_cfg(*opts)
    torch.manual_seed(0)
    train = build_dataset(cfg, 'train')[2]
    assert torch.equal(train['rgb_original'], build_dataset(plain, 'train')[2]['rgb'].flip(-1))
    for split in ('validation', 'test'):
        augmented, reference = build_dataset(cfg, split)[2], build_dataset(plain, split)[2]
        assert torch.equal(augmented['rgb'], reference['rgb']) and 'rgb_original' not in augmented


def test_augmenting_a_dataset_that_cannot_be_augmented_is_an_error(tiny_config):
    from packnet_sfm.utils.config import load_config
    cfg = load_config(tiny_config, ['datasets.augmentation.flip_prob', '0.5'])
    with pytest.raises(InputError, match='BatvisionV2Dataset does not augment'):
        build_dataset(cfg, 'train')
