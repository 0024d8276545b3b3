"""Per-split dataset options: `datasets.<split>.<node>.<key>` over `datasets.<node>.<key>`,
for every dataset option node, with the same key and type checks."""
import pytest

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.builder import build_dataset, build_loader
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.utils.config import ConfigError, load_config, merge_opts, to_dict
from packnet_sfm.utils.errors import InputError

FRAMES = 6


def test_split_values_override_the_shared_node_and_keep_its_types():
    cfg = merge_opts(get_cfg_defaults(), ['datasets.kitti.depth_type', 'groundtruth',
                                          'datasets.train.kitti.depth_type', 'velodyne',
                                          'datasets.validation.batvision.max_depth', '12'])
    assert cfg.datasets.train.kitti == {'depth_type': 'velodyne'}
    assert cfg.datasets.validation.kitti == {} and cfg.datasets.kitti.depth_type == 'groundtruth'
    assert cfg.datasets.validation.batvision.max_depth == 12.0
    assert isinstance(cfg.datasets.validation.batvision.max_depth, float)


def test_unknown_or_mistyped_split_values_are_errors():
    with pytest.raises(ConfigError, match=r"datasets\.train\.kitti\.dept_type'.*did you mean "
                                          r"datasets\.train\.kitti\.depth_type"):
        merge_opts(get_cfg_defaults(), ['datasets.train.kitti.dept_type', 'velodyne'])
    with pytest.raises(ConfigError, match=r"datasets\.test\.kitti\.back_context' .*expects int"):
        merge_opts(get_cfg_defaults(), ['datasets.test.kitti.back_context', 'one'])


def test_split_values_round_trip_through_a_stored_config(tmp_path):
    cfg = merge_opts(get_cfg_defaults(), ['datasets.train.kitti.back_context', '1'])
    path = tmp_path / 'stored.yaml'
    import yaml
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    assert load_config(path).datasets.train.kitti == {'back_context': 1}


def test_velodyne_training_with_context_and_groundtruth_validation_lose_no_frame(kitti_cfg):
    cfg = kitti_cfg('datasets.kitti.depth_type', 'groundtruth',
                    'datasets.kitti.back_context', '1', 'datasets.kitti.forward_context', '1',
                    'datasets.train.kitti.depth_type', 'velodyne',
                    'datasets.test.kitti.depth_type', 'velodyne')
    train, validation, test = (build_dataset(cfg, s) for s in ('train', 'validation', 'test'))
    assert (train.depth_type, validation.depth_type, test.depth_type) == (
        'velodyne', 'groundtruth', 'velodyne')
    assert len(train) == FRAMES - 2 and len(train[0]['rgb_context']) == 2
    # evaluation splits ignore context frames: every frame of the split file, none dropped
    assert len(validation) == len(test) == FRAMES
    assert 'rgb_context' not in validation[0]
    seen = [name for batch in build_loader(cfg, 'validation', validation, SingleProcess())
            for name in batch['filename']]
    assert sorted(seen) == sorted(validation[i]['filename'] for i in range(FRAMES))


def test_split_values_for_a_node_the_split_does_not_read_are_an_error(kitti_cfg):
    cfg = kitti_cfg('datasets.train.batvision.max_depth', '10')
    with pytest.raises(InputError, match=r'datasets\.train\.batvision is set .*KITTI'):
        build_dataset(cfg, 'train')
