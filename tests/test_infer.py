"""scripts/infer.py: RGB images, folders, videos and sparse input depth, BatVision recordings;
outputs mirror the input tree; every input problem is one error line."""
import importlib.util
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import script

from packnet_sfm.datasets.builder import depth_units
from packnet_sfm.datasets.KITTIDataset import KITTIDataset
from packnet_sfm.models import build_model
from packnet_sfm.utils.checkpoint import load_checkpoint, save_checkpoint
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config, to_dict

REPO = Path(__file__).resolve().parents[1]
DRIVE = '2011_09_26/2011_09_26_drive_0001_sync'
SPEC = importlib.util.spec_from_file_location('infer_script', REPO / 'scripts' / 'infer.py')
INFER = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(INFER)


@pytest.fixture
def infer(monkeypatch, capsys):
    """run(*args): scripts/infer.py in this process; returns its one error line on stderr
    ('' on success)."""
    def run(*args):
        monkeypatch.setattr(sys, 'argv', ['infer.py', *map(str, args)])
        capsys.readouterr()
        try:
            run_cli(INFER.main)
        except SystemExit:
            errors = [line for line in capsys.readouterr().err.splitlines()
                      if line.startswith('error')]
            assert len(errors) == 1, errors
            return errors[0]
        return ''
    return run


def untrained_checkpoint(path, config, opts=()):
    """A checkpoint of the model a config builds (untrained: inference reads only this)."""
    cfg = load_config(config, opts)
    model = build_model(cfg, *depth_units(cfg))
    save_checkpoint({'config': to_dict(cfg), 'state_dict': model.state_dict(), 'epoch': 0}, path)
    return path


@pytest.fixture(scope='module')
def san_checkpoint(tmp_path_factory):
    return untrained_checkpoint(
        tmp_path_factory.mktemp('san') / 'san.ckpt', REPO / 'configs/train_resnet_san_kitti.yaml',
        ['model.depth_net.ResNetSAN01.version', '18nt', 'datasets.kitti.image_shape', '[64, 128]'])


@pytest.fixture
def image_tree(kitti_synthetic, tmp_path):
    """images/{a/0.png, a/1.png, b/c/2.png} from the synthetic drive, and depth/ mirroring it
    (a KITTI uint16 PNG for a/, .npy metres for b/c/) from its LiDAR."""
    lidar = KITTIDataset(kitti_synthetic, 'data_splits/eigen_zhou_files.txt',
                         depth_type='velodyne', image_shape=(64, 128))
    images, depth = tmp_path / 'images', tmp_path / 'depth'
    for frame, name in ((0, 'a/0'), (1, 'a/1'), (2, 'b/c/2')):
        (images / name).parent.mkdir(parents=True, exist_ok=True)
        (depth / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(kitti_synthetic / DRIVE / f'image_02/data/{frame:010d}.png',
                    images / f'{name}.png')
        metres = lidar[frame]['depth'][0].numpy()
        if name.startswith('a'):
            cv2.imwrite(str(depth / f'{name}.png'), np.round(metres * 256).astype(np.uint16))
        else:
            np.save(depth / f'{name}.npy', metres)
    return images, depth


def test_folder_of_images_with_and_without_input_depth_mirrors_the_tree(
        infer, san_checkpoint, image_tree, tmp_path):
    images, depth = image_tree
    assert infer('--checkpoint', san_checkpoint, '--input', images,
                 '--output', tmp_path / 'rgb', '--batch-size', 2) == ''
    assert infer('--checkpoint', san_checkpoint, '--input', images,
                 '--input-depth', depth, '--output', tmp_path / 'rgbd', '--save', 'npy') == ''
    for name in ('a/0', 'a/1', 'b/c/2'):
        rgb_only = np.load(tmp_path / 'rgb' / f'{name}.npy')
        completed = np.load(tmp_path / 'rgbd' / f'{name}.npy')
        assert rgb_only.shape == completed.shape == (64, 128)
        assert (rgb_only >= 0.1).all() and (rgb_only <= 80).all()
        assert np.abs(completed - rgb_only).mean() > 1e-4   # the sparse depth was used
        picture = cv2.imread(str(tmp_path / 'rgb' / f'{name}.png'))
        assert picture.shape[0] > 64 and picture.shape[1] == 128   # the map over its legend
    assert sorted(p.relative_to(tmp_path / 'rgbd').as_posix()
                  for p in (tmp_path / 'rgbd').rglob('*')
                  if p.is_file()) == ['a/0.npy', 'a/1.npy', 'b/c/2.npy']


def test_one_image_with_one_input_depth_file_and_a_chosen_shape(
        infer, san_checkpoint, image_tree, tmp_path):
    images, depth = image_tree
    assert infer('--checkpoint', san_checkpoint, '--input', images / 'a/1.png',
                 '--input-depth', depth / 'a/1.png', '--output', tmp_path / 'out',
                 '--image-shape', 96, 160, '--save', 'npz') == ''
    assert np.load(tmp_path / 'out' / '1.npz')['depth'].shape == (96, 160)


def test_video_writes_one_output_per_processed_frame(infer, san_checkpoint,
                                                     kitti_synthetic, tmp_path):
    video = tmp_path / 'clips' / 'drive.avi'
    video.parent.mkdir()
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 10, (128, 64))
    for frame in range(5):
        writer.write(cv2.imread(str(kitti_synthetic / DRIVE / f'image_02/data/{frame:010d}.png')))
    writer.release()
    assert infer('--checkpoint', san_checkpoint, '--input', tmp_path / 'clips',
                 '--output', tmp_path / 'out', '--every', 2, '--save', 'npy', 'png') == ''
    written = sorted(p.relative_to(tmp_path / 'out').as_posix()
                     for p in (tmp_path / 'out').rglob('*.npy'))
    assert written == ['drive/000000.npy', 'drive/000002.npy', 'drive/000004.npy']
    assert (tmp_path / 'out' / 'drive' / '000002.png').is_file()


def test_every_input_problem_is_one_error_line(infer, san_checkpoint, image_tree,
                                               tmp_path):
    images, depth = image_tree
    (tmp_path / 'notes.txt').write_text('not an image')
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'broken.png').write_text('not a png either')
    (tmp_path / 'broken.mp4').write_text('nor a video')
    cases = {
        tmp_path / 'notes.txt': 'not an image or a video in --input',
        tmp_path / 'empty': 'no images or videos in --input',
        tmp_path / 'broken.png': 'unreadable image in',
        tmp_path / 'broken.mp4': 'unreadable video in',
        tmp_path / 'nowhere': 'missing input in --input',
    }
    for path, message in cases.items():
        error = infer('--checkpoint', san_checkpoint, '--input', path,
                      '--output', tmp_path / 'out')
        assert error.startswith('error: ') and message in error, error
    (depth / 'a/1.png').unlink()
    error = infer('--checkpoint', san_checkpoint, '--input', images,
                  '--input-depth', depth, '--output', tmp_path / 'out')
    assert error.startswith('error: missing input depth in --input-depth') and 'a/1.png' in error
    error = infer('--checkpoint', san_checkpoint, '--input', images,
                  '--output', tmp_path / 'out', '--image-shape', 50, 100)
    assert 'multiples of 32' in error
    error = infer('--checkpoint', san_checkpoint, '--input', images,
                  '--output', tmp_path / 'out', '--color-max', -1)
    assert error == 'error: bad --color-max -1: give a depth in metres > 0'


def test_the_script_prints_the_error_line_without_a_traceback(san_checkpoint, tmp_path):
    (tmp_path / 'notes.txt').write_text('not an image')
    result = script('infer.py', '--checkpoint', san_checkpoint, '--input',
                    tmp_path / 'notes.txt', '--output', tmp_path / 'out')
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith('error: not an image or a video')


def test_v2_locations_sharing_file_names_each_get_their_outputs(infer, tiny_config,
                                                                 tiny_bv2, tmp_path):
    checkpoint = untrained_checkpoint(tmp_path / 'unet.ckpt', tiny_config)
    recordings = sorted(tiny_bv2.rglob('*.wav'))
    names = [p.name for p in recordings]
    assert len(set(names)) < len(names)   # locations reuse file names
    assert infer('--checkpoint', checkpoint, '--input', tiny_bv2,
                 '--output', tmp_path / 'out') == ''
    for wav in recordings:
        stem = tmp_path / 'out' / wav.relative_to(tiny_bv2).with_suffix('')
        assert np.load(f'{stem}.npy').shape == (128, 128) and Path(f'{stem}.png').is_file()
    error = infer('--checkpoint', checkpoint, '--input', tiny_bv2,
                  '--output', tmp_path / 'out', '--image-shape', 64, 64)
    assert error.startswith('error: --image-shape is for RGB checkpoints')

    # a checkpoint whose model computes the features itself gets the cut waveforms
    state = load_checkpoint(checkpoint)
    on_device = load_config(tiny_config, ['datasets.batvision.features_on', 'device'])
    save_checkpoint({**state, 'config': to_dict(on_device)}, tmp_path / 'device.ckpt')
    assert infer('--checkpoint', tmp_path / 'device.ckpt', '--input', recordings[0],
                 '--output', tmp_path / 'device', '--save', 'npy') == ''
    expected = tmp_path / 'out' / recordings[0].relative_to(tiny_bv2).with_suffix('.npy')
    assert np.allclose(np.load(tmp_path / 'device' / f'{recordings[0].stem}.npy'),
                       np.load(expected), atol=1e-4)
