"""BatVision V1/V2 loaders on the real V2 recording in tests/data and on tiny V1/V2 fixtures."""
import csv
import inspect
import os
import shutil

import cv2
import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets import audio
from packnet_sfm.datasets.audio import echo_samples
from packnet_sfm.datasets.batvision import BatvisionDataError
from packnet_sfm.datasets.BatvisionV1Dataset import BatvisionV1Dataset
from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset

REAL_ROOT = os.path.join(os.path.dirname(__file__), 'data', 'batvision_v2_real_sample')
REAL = os.path.join(REAL_ROOT, 'RealSample')
V2_COLUMNS = ['audio path', 'audio file name', 'depth path', 'depth file name', 'camera path',
              'camera file name']
V1_COLUMNS = ['depth path', 'audio path left', 'audio path right', 'camera path left']


def write_csv(path, columns, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(columns)
        writer.writerows(rows)


def real_wav():
    samples, rate = sf.read(os.path.join(REAL, 'audio', 'audio_47.wav'), dtype='int32')
    return samples, rate


# ---------------------------------------------------------------------------- real V2 sample

@pytest.mark.parametrize('split', ['train', 'val', 'test'])
def test_real_sample_waveform_is_the_wav_cut_and_scaled(split):
    dataset = BatvisionV2Dataset(REAL_ROOT, split=split, audio_format='waveform')
    sample = dataset[0]
    samples, rate = real_wav()
    assert rate == 44100 and samples.shape == (20000, 2)
    assert echo_samples(30.0) == 7782
    assert sample['audio'].dtype == torch.float32 and sample['audio'].shape == (2, 7782)
    expected = torch.from_numpy(samples[:7782].T.astype(np.float64) / 2 ** 31)
    assert torch.equal(sample['audio'].double(), expected)
    assert (len(dataset), sample['idx'], sample['location'], sample['filename']) == \
        (1, 0, 'RealSample', 'RealSample/audio/audio_47')


def test_real_sample_spectrogram_and_mel_are_the_features_of_the_wav():
    samples, _ = real_wav()
    waveform = torch.from_numpy(samples[:7782].T.copy()).float() / 2 ** 31
    for audio_format in ('spectrogram', 'mel_spectrogram'):
        sample = BatvisionV2Dataset(REAL_ROOT, audio_format=audio_format)[0]
        assert sample['audio'].shape == (2, 256, 256)
        assert torch.equal(sample['audio'], audio.audio_features(waveform, audio_format, 256))


def plain_bilinear(image, size):
    """[C, H, W] -> [C, size, size] by the bilinear rule with align_corners False and no
    antialiasing, written out: output pixel i samples the source at (i + 0.5) * H / size - 0.5
    (clamped at 0) between its two nearest source pixels."""
    def weights(length):
        position = np.maximum((np.arange(size) + 0.5) * length / size - 0.5, 0.0)
        low = np.floor(position).astype(int)
        high = np.minimum(low + 1, length - 1)
        matrix = np.zeros((size, length))
        matrix[np.arange(size), low] += 1 - (position - low)
        matrix[np.arange(size), high] += position - low
        return matrix
    rows, cols = weights(image.shape[1]), weights(image.shape[2])
    return np.stack([rows @ channel @ cols.T for channel in image.astype(np.float64)])


@pytest.mark.parametrize('audio_format', ['spectrogram', 'mel_spectrogram'])
def test_official_preprocessing_resizes_without_antialiasing(audio_format):
    samples, _ = real_wav()
    waveform = torch.from_numpy(samples[:7782].T.copy()).float() / 2 ** 31
    features = (audio.spectrogram if audio_format == 'spectrogram' else audio.mel_spectrogram)(
        waveform).numpy()
    sample = BatvisionV2Dataset(REAL_ROOT, audio_format=audio_format, depth_norm=False)[0]
    expected = plain_bilinear(features, 256)
    scale = np.abs(expected).max()
    assert np.abs(sample['audio'].numpy() - expected).max() < 1e-5 * scale
    smoothed = BatvisionV2Dataset(REAL_ROOT, audio_format=audio_format, depth_norm=False,
                                  preprocessing='official_antialias')[0]['audio'].numpy()
    if audio_format == 'spectrogram':   # 257 x 487 -> 256 x 256 shrinks the time axis
        assert np.abs(smoothed - expected).max() > 1e-2 * scale
    else:                               # 32 x 244 -> 256 x 256 only enlarges: no difference
        assert np.abs(smoothed - expected).max() < 1e-5 * scale


def test_official_preprocessing_resizes_depth_without_antialiasing():
    raw = np.load(os.path.join(REAL, 'depth', 'depth_47.npy')).astype(np.float32) / 1000
    expected = plain_bilinear(np.minimum(raw, 30.0)[None], 256)
    depth = BatvisionV2Dataset(REAL_ROOT, depth_norm=False)[0]['depth'].numpy()
    assert np.abs(depth - expected).max() < 1e-5
    smoothed = BatvisionV2Dataset(REAL_ROOT, depth_norm=False,
                                  preprocessing='official_antialias')[0]['depth'].numpy()
    assert np.abs(smoothed - expected).max() > 1.0
    # Hole blends below the sensor's 0.35 m minimum (SPEC 3: 357 pixels per 720x1280 image
    # without antialiasing, 3,341 with it; here at 256x256).
    blends = [int(((d > 0) & (d < 0.3)).sum()) for d in (depth, smoothed)]
    assert blends[0] < blends[1]


def test_real_sample_depth_holes_and_values():
    raw = np.load(os.path.join(REAL, 'depth', 'depth_47.npy'))
    assert raw.dtype == np.uint16 and raw.shape == (720, 1280)
    assert (raw == 0).mean() == pytest.approx(0.2167, abs=1e-3)      # measured in the file
    improved = BatvisionV2Dataset(REAL_ROOT, depth_norm=False, preprocessing='improved')[0]
    official = BatvisionV2Dataset(REAL_ROOT, depth_norm=False, preprocessing='official')[0]
    for sample in (improved, official):
        assert sample['depth'].shape == sample['valid'].shape == (1, 256, 256)
        assert sample['depth'].dtype == torch.float32 and sample['valid'].dtype == torch.bool
        assert 15.0 < sample['depth'].max().item() <= 15.711     # farthest pixel: 15711 mm
        assert not sample['depth'][~sample['valid']].any()
    assert 1 - improved['valid'].float().mean().item() == pytest.approx(0.2167, abs=0.01)
    # the official bilinear resize blends holes into neighbours, which then count as valid
    assert 1 - official['valid'].float().mean().item() == pytest.approx(0.209, abs=0.002)


def test_depth_norm_divides_by_max_depth():
    metres = BatvisionV2Dataset(REAL_ROOT, max_depth=10.0, depth_norm=False)
    normalised = BatvisionV2Dataset(REAL_ROOT, max_depth=10.0, depth_norm=True)
    assert (metres.max_depth, metres.depth_norm, normalised.depth_norm) == (10.0, False, True)
    assert metres[0]['depth'].max().item() == pytest.approx(10.0)      # clipped at 10 m
    assert torch.allclose(normalised[0]['depth'], metres[0]['depth'] / 10.0)
    assert normalised[0]['audio'].shape == (2, 256, 256)


def test_real_sample_rgb_is_rgb_in_unit_range():
    sample = BatvisionV2Dataset(REAL_ROOT, load_rgb=True, image_size=64)[0]
    bgr = cv2.imread(os.path.join(REAL, 'camera', 'camera_47.jpeg'))
    assert bgr.shape == (720, 1280, 3)
    rgb = sample['rgb']
    assert rgb.shape == (3, 64, 64) and rgb.dtype == torch.float32
    assert 0.0 <= rgb.min().item() and rgb.max().item() <= 1.0
    channel_means = bgr[:, :, ::-1].reshape(-1, 3).mean(axis=0) / 255.0
    assert rgb.mean(dim=(1, 2)).tolist() == pytest.approx(channel_means.tolist(), abs=0.01)
    assert 'rgb' not in BatvisionV2Dataset(REAL_ROOT)[0]


def test_constructors_name_the_config_keys():
    """The builder passes the keys of datasets.batvision that a constructor names."""
    keys = set(get_cfg_defaults().datasets.batvision)
    for cls in (BatvisionV1Dataset, BatvisionV2Dataset):
        assert cls.config_node == 'batvision'
        assert keys <= set(inspect.signature(cls.__init__).parameters)
    assert {'locations', 'exclude_locations'} <= set(
        inspect.signature(BatvisionV2Dataset.__init__).parameters)


# ---------------------------------------------------------------------- V2 roots from the sample

def add_location(root, name, rows=None):
    """A location folder whose CSVs list the real recording (copied under `name`)."""
    for kind in ('audio', 'depth', 'camera'):
        shutil.copytree(os.path.join(REAL, kind), os.path.join(root, name, kind))
    row = [f'{name}/audio', 'audio_47.wav', f'{name}/depth', 'depth_47.npy', f'{name}/camera',
           'camera_47.jpeg']
    for split in ('train', 'val', 'test'):
        write_csv(os.path.join(root, name, f'{split}.csv'), V2_COLUMNS,
                  [row] if rows is None else rows)
    return os.path.join(root, name)


@pytest.fixture
def v2_root(tmp_path):
    """Two locations plus stray entries the loader must ignore."""
    add_location(tmp_path, 'Attic')
    add_location(tmp_path, 'Office')
    (tmp_path / 'README.md').write_text('BatVision V2')
    (tmp_path / 'BatvisionV2.zip').write_bytes(b'PK\x03\x04')
    (tmp_path / 'notes').mkdir()
    return str(tmp_path)


def test_v2_scan_ignores_stray_entries_and_filters_locations(v2_root):
    assert BatvisionV2Dataset(v2_root).locations == ['Attic', 'Office']
    only = BatvisionV2Dataset(v2_root, locations=['Office'], audio_format='waveform')
    assert len(only) == 1 and only[0]['location'] == 'Office'
    assert only[0]['filename'] == 'Office/audio/audio_47'
    without = BatvisionV2Dataset(v2_root, exclude_locations=['Office'])
    assert [r.location for r in without.recordings] == ['Attic']


def test_v2_unknown_or_empty_location_selection_is_an_error(v2_root):
    with pytest.raises(BatvisionDataError, match=r"\['Atic'\].*available: \['Attic', 'Office'\]"):
        BatvisionV2Dataset(v2_root, locations=['Atic'])
    with pytest.raises(BatvisionDataError, match='No location .* holds train.csv'):
        BatvisionV2Dataset(v2_root, exclude_locations=['Attic', 'Office'])


def test_v2_batches_collate(v2_root):
    loader = DataLoader(BatvisionV2Dataset(v2_root, image_size=32, load_rgb=True), batch_size=2)
    batch = next(iter(loader))
    assert batch['audio'].shape == (2, 2, 32, 32) and batch['rgb'].shape == (2, 3, 32, 32)
    assert batch['depth'].shape == batch['valid'].shape == (2, 1, 32, 32)
    assert batch['idx'].tolist() == [0, 1] and batch['location'] == ['Attic', 'Office']


def test_v2_root_without_split_csv_is_an_error(tmp_path):
    (tmp_path / 'README.md').write_text('not a dataset')
    (tmp_path / 'Attic').mkdir()
    with pytest.raises(BatvisionDataError, match=f'No location under {tmp_path} holds val.csv'):
        BatvisionV2Dataset(str(tmp_path), split='val')
    with pytest.raises(BatvisionDataError, match='is not a folder'):
        BatvisionV2Dataset(str(tmp_path / 'missing'))


def test_v2_location_held_out_of_a_split_has_an_empty_csv(tmp_path):
    add_location(tmp_path, 'Attic')
    add_location(tmp_path, 'Office', rows=[])
    dataset = BatvisionV2Dataset(str(tmp_path), audio_format='waveform')
    assert dataset.locations == ['Attic', 'Office']
    assert [dataset[i]['location'] for i in range(len(dataset))] == ['Attic']


def test_v2_csv_without_rows_or_with_missing_columns_is_an_error(tmp_path):
    location = add_location(tmp_path, 'Attic', rows=[])
    with pytest.raises(BatvisionDataError, match=r"train.csv files of \['Attic'\].*no recordings"):
        BatvisionV2Dataset(str(tmp_path))
    write_csv(os.path.join(location, 'train.csv'), ['audio path', 'depth path'], [['a', 'b']])
    with pytest.raises(BatvisionDataError,
                       match=r"lacks the column\(s\) \['audio file name', 'depth file name'\]"):
        BatvisionV2Dataset(str(tmp_path))


@pytest.fixture
def one_location(tmp_path):
    return add_location(tmp_path, 'Attic')


def wav_path(location):
    return os.path.join(location, 'audio', 'audio_47.wav')


def test_v2_missing_files_are_named(one_location):
    root = os.path.dirname(one_location)
    os.remove(wav_path(one_location))
    os.remove(os.path.join(one_location, 'depth', 'depth_47.npy'))
    os.remove(os.path.join(one_location, 'camera', 'camera_47.jpeg'))
    dataset = BatvisionV2Dataset(root, load_rgb=True)
    with pytest.raises(BatvisionDataError, match=r'Missing depth file .*depth_47\.npy .*row 2 of'):
        dataset[0]
    np.save(os.path.join(one_location, 'depth', 'depth_47.npy'),
            np.full((720, 1280), 1000, np.uint16))
    with pytest.raises(BatvisionDataError, match=r'Missing audio file .*audio_47\.wav'):
        dataset[0]
    sf.write(wav_path(one_location), np.zeros((8000, 2)), 44100, subtype='PCM_32')
    with pytest.raises(BatvisionDataError, match=r'Missing camera file .*camera_47\.jpeg'):
        dataset[0]


@pytest.mark.parametrize('channels, rate, message', [
    (1, 44100, r'has 1 channel\(s\) of PCM_32 at 44100 Hz.*binaural'),
    (2, 16000, r'has 2 channel\(s\) of PCM_32 at 16000 Hz.*44100 Hz'),
])
def test_v2_wrong_wav_layout_is_an_error(one_location, channels, rate, message):
    sf.write(wav_path(one_location), np.zeros((rate // 10, channels)), rate, subtype='PCM_32')
    with pytest.raises(BatvisionDataError, match=message):
        BatvisionV2Dataset(os.path.dirname(one_location))[0]


def test_v2_corrupt_files_are_errors(one_location):
    dataset = BatvisionV2Dataset(os.path.dirname(one_location), load_rgb=True)
    with open(wav_path(one_location), 'wb') as file:
        file.write(b'RIFF\x00\x00garbage' * 10)
    with pytest.raises(BatvisionDataError, match=r'Cannot read WAV .*audio_47\.wav.*corrupt'):
        dataset[0]
    shutil.copy(os.path.join(REAL, 'audio', 'audio_47.wav'), wav_path(one_location))
    with open(os.path.join(one_location, 'camera', 'camera_47.jpeg'), 'wb') as file:
        file.write(b'not a jpeg')
    with pytest.raises(BatvisionDataError, match=r'Cannot decode camera image .*camera_47\.jpeg'):
        dataset[0]
    with open(os.path.join(one_location, 'depth', 'depth_47.npy'), 'wb') as file:
        file.write(b'\x93NUMPY broken')
    with pytest.raises(BatvisionDataError, match=r'Cannot read depth file .*depth_47\.npy'):
        dataset[0]
    np.save(os.path.join(one_location, 'depth', 'depth_47.npy'), np.zeros((720, 1280), np.uint16))
    with pytest.raises(BatvisionDataError, match=r'depth_47\.npy .* has no valid pixel'):
        dataset[0]


@pytest.mark.parametrize('options, message', [
    ({'audio_format': 'stft'}, r"audio_format 'stft' is not available for BatvisionV2Dataset"),
    ({'preprocessing': 'fancy'}, r"Unknown preprocessing 'fancy'.*'official_antialias'"),
    ({'split': 'validation'}, r"Unknown split 'validation'.*'train', 'val', 'test'"),
])
def test_v2_bad_options_are_errors(options, message):
    with pytest.raises(BatvisionDataError, match=message):
        BatvisionV2Dataset(REAL_ROOT, **options)


# ----------------------------------------------------------------------------- V1 fixtures

def make_v1_root(root, depth_mm, audio_length=4410, rows=1):
    """A V1 root with `rows` recordings of the date 2019.08.26 sharing one depth map."""
    day = os.path.join(root, '2019.08.26')
    for kind in ('audio/raw_long', 'depth', 'camera'):
        os.makedirs(os.path.join(day, kind), exist_ok=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(rows):
        stem = f'2019.08.26/audio/raw_long/1803{i}.5'
        np.save(os.path.join(root, f'{stem}_left.npy'), rng.standard_normal(audio_length))
        np.save(os.path.join(root, f'{stem}_right.npy'), rng.standard_normal(audio_length))
        np.save(os.path.join(day, 'depth', f'{i}.npy'), depth_mm)
        image = np.zeros((*depth_mm.shape, 3), np.uint8)
        image[:, :, 2] = 255                                          # red in BGR order
        cv2.imwrite(os.path.join(day, 'camera', f'{i}.png'), image)
        lines.append([f'2019.08.26/depth/{i}.npy', f'{stem}_left.npy', f'{stem}_right.npy',
                      f'2019.08.26/camera/{i}.png'])
    for split in ('train', 'val', 'test'):
        write_csv(os.path.join(root, f'{split}.csv'), V1_COLUMNS, lines)
    return str(root)


SPECIAL_DEPTH_MM = np.array([[np.nan, np.inf, -np.inf, -500.0],
                             [0.0, 5000.0, 20000.0, 1500.0]], np.float32)


@pytest.mark.parametrize('preprocessing', ['official', 'improved'])
def test_v1_depth_semantics_without_resampling(tmp_path, preprocessing):
    # 2x4 map resized to 4x4: only rows are duplicated, so every value is visible as is.
    root = make_v1_root(tmp_path, SPECIAL_DEPTH_MM)
    sample = BatvisionV1Dataset(root, image_size=4, depth_norm=False,
                                preprocessing=preprocessing)[0]
    if preprocessing == 'improved':
        # nearest-exact 2 -> 4 rows: 0, 0, 1, 1
        assert sample['depth'][0, :, 1].tolist() == [12.0, 12.0, 5.0, 5.0]
        assert sample['valid'][0, 0].tolist() == [False, True, False, False]
        assert sample['valid'][0, 3].tolist() == [False, True, True, True]
        assert sample['depth'][0, 3].tolist() == pytest.approx([0.0, 5.0, 12.0, 1.5])
    else:
        # bilinear 2 -> 4 rows: weights (1, 0), (.75, .25), (.25, .75), (0, 1)
        top = np.array([0.0, 12.0, 0.0, 0.0])          # NaN, -inf, negative -> 0; +inf -> 12
        bottom = np.array([0.0, 5.0, 12.0, 1.5])
        expected = [top, 0.75 * top + 0.25 * bottom, 0.25 * top + 0.75 * bottom, bottom]
        assert sample['depth'][0].numpy() == pytest.approx(np.array(expected), abs=1e-5)
        assert sample['valid'][0, 0].tolist() == [False, True, False, False]
        assert sample['valid'][0, 1].tolist() == [False, True, True, True]   # blended holes


def test_v1_official_resize_blends_a_hole_into_its_neighbour(tmp_path):
    # Along the width 4 -> 2, output pixel 0 samples x = 0.5: (a + b) / 2 without
    # antialiasing, (0.75 a + 0.75 b + 0.25 c) / 1.75 with it.
    depth_mm = np.tile(np.array([6000.0, np.nan, 6000.0, 6000.0]), (4, 1))
    root = make_v1_root(tmp_path, depth_mm)
    official = BatvisionV1Dataset(root, image_size=2, depth_norm=False)[0]
    assert official['depth'][0, :, 0].tolist() == pytest.approx([3.0] * 2)
    assert official['valid'].all()
    smoothed = BatvisionV1Dataset(root, image_size=2, depth_norm=False,
                                  preprocessing='official_antialias')[0]
    assert smoothed['depth'][0, :, 0].tolist() == pytest.approx([6.0 * 1.0 / 1.75] * 2)
    improved = BatvisionV1Dataset(root, image_size=2, depth_norm=False,
                                  preprocessing='improved')[0]
    assert improved['depth'][0].tolist() == [[0.0, 6.0], [0.0, 6.0]]
    assert improved['valid'][0].tolist() == [[False, True], [False, True]]


def test_v1_depth_norm_and_sample_fields(tmp_path):
    root = make_v1_root(tmp_path, SPECIAL_DEPTH_MM, rows=2)
    dataset = BatvisionV1Dataset(root, split='val', image_size=4, load_rgb=True)
    assert (dataset.max_depth, dataset.depth_norm, len(dataset)) == (12.0, True, 2)
    sample = dataset[1]
    assert sample['depth'][0, 3].tolist() == pytest.approx([0.0, 5 / 12, 1.0, 1.5 / 12])
    assert (sample['idx'], sample['location'], sample['filename']) == \
        (1, '2019.08.26', '2019.08.26/audio/raw_long/18031.5_left')
    assert sample['rgb'].shape == (3, 4, 4)
    assert sample['rgb'].mean(dim=(1, 2)).tolist() == pytest.approx([1.0, 0.0, 0.0])


def test_v1_audio_formats(tmp_path):
    root = make_v1_root(tmp_path, SPECIAL_DEPTH_MM)
    left = np.load(os.path.join(root, '2019.08.26/audio/raw_long/18030.5_left.npy'))
    waveform = BatvisionV1Dataset(root, audio_format='waveform')[0]['audio']
    assert waveform.shape == (2, 4410) and waveform.dtype == torch.float32    # not cut
    assert torch.equal(waveform[0], torch.from_numpy(left.astype(np.float32)))
    assert audio.spectrogram(waveform).shape == (2, 257, 276)
    assert BatvisionV1Dataset(root)[0]['audio'].shape == (2, 256, 256)
    with pytest.raises(BatvisionDataError,
                       match=r"'mel_spectrogram' is not available for BatvisionV1Dataset.*"
                             r"\('spectrogram', 'waveform'\)"):
        BatvisionV1Dataset(root, audio_format='mel_spectrogram')


def test_v1_bad_files_are_errors(tmp_path):
    root = make_v1_root(tmp_path, np.full((3, 3), np.nan))
    with pytest.raises(BatvisionDataError, match=r'depth/0\.npy .* has no valid pixel'):
        BatvisionV1Dataset(root)[0]
    np.save(os.path.join(root, '2019.08.26/depth/0.npy'), SPECIAL_DEPTH_MM)
    np.save(os.path.join(root, '2019.08.26/audio/raw_long/18030.5_right.npy'), np.zeros(10))
    with pytest.raises(BatvisionDataError, match=r'must be 1-D float arrays of equal length'):
        BatvisionV1Dataset(root)[0]
    os.remove(os.path.join(root, '2019.08.26/audio/raw_long/18030.5_right.npy'))
    with pytest.raises(BatvisionDataError, match=r'Missing audio file .*18030\.5_right\.npy'):
        BatvisionV1Dataset(root)[0]
    os.remove(os.path.join(root, 'test.csv'))
    with pytest.raises(BatvisionDataError, match=r'Missing split file .*test\.csv'):
        BatvisionV1Dataset(root, split='test')


def test_v1_camera_column_is_needed_only_with_rgb(tmp_path):
    root = make_v1_root(tmp_path, SPECIAL_DEPTH_MM)
    write_csv(os.path.join(root, 'train.csv'), V1_COLUMNS[:3],
              [['2019.08.26/depth/0.npy', '2019.08.26/audio/raw_long/18030.5_left.npy',
                '2019.08.26/audio/raw_long/18030.5_right.npy']])
    assert BatvisionV1Dataset(root, image_size=4)[0]['depth'].shape == (1, 4, 4)
    with pytest.raises(BatvisionDataError, match=r"lacks the column\(s\) \['camera path left'\]"):
        BatvisionV1Dataset(root, load_rgb=True)
