"""The prepared cache (datasets.cache_dir): equal to the uncached loader sample by sample for
V1 and V2 in every format (float16 features and depth to their rounding), never stale, rebuilt
or resumed (never read) after a killed build, built ahead by scripts/prepare_cache.py."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from packnet_sfm.datasets import cache
from packnet_sfm.datasets.BatvisionV1Dataset import BatvisionV1Dataset
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.datasets.cache import CachedDataset, cache_folder
from packnet_sfm.utils.depth import compute_depth_metrics

REPO = Path(__file__).resolve().parents[1]
FLOAT16_RELATIVE = 2 ** -11          # float16 rounding: half a unit in the last place


def assert_same_samples(cached, uncached):
    assert len(cached) == len(uncached)
    for index in range(len(uncached)):
        got, expected = cached[index], uncached[index]
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            if not torch.is_tensor(value):
                assert got[key] == value
            elif value.dtype == torch.bool or (key == 'audio' and value.dim() == 2):
                assert torch.equal(got[key], value), key          # stored exactly
            else:
                assert got[key].dtype == value.dtype
                assert (got[key] - value).abs().max() <= FLOAT16_RELATIVE * value.abs().max(), key


V2_OPTIONS = [dict(audio_format='spectrogram'), dict(audio_format='mel_spectrogram'),
              dict(audio_format='waveform'), dict(audio_format='mel_spectrogram',
                                                  features_on='device'),
              dict(audio_format='spectrogram', preprocessing='improved', load_rgb=True,
                   depth_norm=False)]


@pytest.mark.parametrize('options', V2_OPTIONS)
def test_v2_cache_equals_the_loader(tiny_bv2, tmp_path, options):
    uncached = BatvisionV2Dataset(str(tiny_bv2), 'train', image_size=64, **options)
    assert_same_samples(CachedDataset(uncached, tmp_path, workers=2), uncached)


@pytest.mark.parametrize('options', [dict(audio_format='spectrogram'),
                                     dict(audio_format='waveform', load_rgb=True)])
def test_v1_cache_equals_the_loader(tiny_bv1, tmp_path, options):
    uncached = BatvisionV1Dataset(str(tiny_bv1), 'train', image_size=64, **options)
    assert_same_samples(CachedDataset(uncached, tmp_path), uncached)


def test_float16_depth_leaves_the_metrics_unchanged_to_1e3(tiny_bv2, tmp_path):
    uncached = BatvisionV2Dataset(str(tiny_bv2), 'train', image_size=64, depth_norm=False)
    cached = CachedDataset(uncached, tmp_path)
    exact = torch.stack([uncached[i]['depth'] for i in range(len(uncached))])
    stored = torch.stack([cached[i]['depth'] for i in range(len(cached))])
    prediction = exact.mean() + 0.5 * (exact - exact.mean())     # a plausible, imperfect map
    a, b = (compute_depth_metrics(depth, prediction) for depth in (exact, stored))
    assert all(abs(a[m] - b[m]) < 1e-3 for m in ('abs_rel', 'rmse', 'mae', 'a1', 'a2'))


def test_a_changed_option_or_touched_file_is_never_served_from_the_old_cache(tiny_bv2,
                                                                              tmp_path):
    root = tmp_path / 'bv2'
    shutil.copytree(tiny_bv2, root)
    dataset = BatvisionV2Dataset(str(root), 'train', image_size=64)
    first = CachedDataset(dataset, tmp_path / 'cache').folder
    assert CachedDataset(dataset, tmp_path / 'cache').folder == first          # reused
    other = BatvisionV2Dataset(str(root), 'train', image_size=64, max_depth=10.0)
    assert cache_folder(tmp_path / 'cache', other) != first
    path = root / 'Room000' / 'depth' / os.path.basename(dataset.recordings[0].depth)
    np.save(path, np.full((720, 1280), 2000, np.uint16))
    touched = CachedDataset(BatvisionV2Dataset(str(root), 'train', image_size=64),
                            tmp_path / 'cache')
    assert touched.folder != first
    index = [r.depth for r in dataset.recordings].index(str(path))
    assert torch.allclose(touched[index]['depth'], torch.full((1, 64, 64), 2.0 / 30.0),
                          rtol=1e-3)


def test_a_killed_build_is_resumed_not_read(tiny_bv2, tmp_path, monkeypatch):
    """The build crashes at sample 4 (as a bug or a kill would: not an InputError, which the
    cache records as a bad sample); the next use resumes it."""
    monkeypatch.setattr(cache, 'FLUSH_EVERY', 2)
    dataset = BatvisionV2Dataset(str(tiny_bv2), 'train', image_size=64)
    real_getitem = BatvisionV2Dataset.__getitem__

    def dies_at_four(self, index):
        if index >= 4:
            raise RuntimeError('killed')
        return real_getitem(self, index)

    monkeypatch.setattr(BatvisionV2Dataset, '__getitem__', dies_at_four)
    with pytest.raises(RuntimeError, match='killed'):
        cache.build_cache(dataset, tmp_path, workers=1)
    monkeypatch.setattr(BatvisionV2Dataset, '__getitem__', real_getitem)
    folder = cache_folder(tmp_path, dataset)
    assert not os.path.isdir(folder)                       # nothing a run could read
    done = np.load(folder + '.partial/done.npy')
    assert done[:4].all() and not done[4:].any()
    assert_same_samples(CachedDataset(dataset, tmp_path), dataset)
    assert not os.path.isdir(folder + '.partial')


def test_a_bad_sample_raises_its_error_again_from_the_cache(tiny_bv2, tmp_path):
    root = tmp_path / 'bv2'
    shutil.copytree(tiny_bv2, root)
    dataset = BatvisionV2Dataset(str(root), 'train', image_size=64)
    Path(dataset.recordings[1].audio[0]).write_bytes(b'not a wav')
    cached = CachedDataset(dataset, tmp_path / 'cache')
    with pytest.raises(ValueError, match='Cannot read WAV .*row '):
        cached[1]
    assert cached[0]['audio'].shape == (2, 64, 64)


def test_prepare_cache_on_a_cache_dir_that_is_a_file_is_one_line(tiny_config, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    command = [sys.executable, str(REPO / 'scripts' / 'prepare_cache.py'), str(tiny_config),
               'datasets.cache_dir', str(blocker)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: datasets.cache_dir '{blocker}' is a file; give a "
                                     'folder')


def test_prepare_cache_builds_every_split_and_training_reuses_it(tiny_config, tmp_path):
    command = [sys.executable, str(REPO / 'scripts' / 'prepare_cache.py'), str(tiny_config),
               '--workers', '2', 'datasets.cache_dir', str(tmp_path / 'cache')]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    folders = sorted(p.name for p in (tmp_path / 'cache').iterdir() if p.is_dir())
    assert [name.split('-')[1] for name in folders] == ['test', 'train', 'val']
    from packnet_sfm.datasets.builder import build_datasets
    from packnet_sfm.utils.config import load_config
    cfg = load_config(tiny_config, ['datasets.cache_dir', str(tmp_path / 'cache')])
    (train,) = build_datasets(cfg, 'train').values()
    assert os.path.basename(train.folder) in folders
