"""What the BatVision V1 and V2 loaders share: split CSVs, depth maps, camera images, options
and the sample dict (docs/architecture.md). The on-disk formats are described in the two
loader modules; the audio features in `audio.py`."""
import csv
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from packnet_sfm.datasets.audio import (
    AUDIO_FORMATS,
    PREPROCESSINGS,
    antialiased,
    audio_features,
    echo_samples,
    resize_bilinear,
)
from packnet_sfm.utils.errors import InputError

SPLITS = ('train', 'val', 'test')


class BatvisionDataError(InputError):
    """Bad BatVision data or loader options; the message names the file or key and the fix,
    `kind` names the problem for dataset reports (scripts/check_dataset.py)."""

    def __init__(self, message, kind='bad option'):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Recording:
    """Absolute paths of one recording and where it was listed."""
    audio: tuple
    depth: str
    camera: str
    filename: str
    location: str
    source: str         # 'row N of <csv>', for error messages


def split_csv_name(split):
    """`<split>.csv`, after checking that `split` is a BatVision split name."""
    if split not in SPLITS:
        raise BatvisionDataError(f"Unknown split '{split}' for BatVision; use one of {SPLITS}")
    return f'{split}.csv'


def read_split_csv(path, columns):
    """(row number, row dict) of a split CSV, after checking its columns. A CSV may list no
    rows (a V2 location held out of training); the dataset checks its whole split."""
    if not os.path.isfile(path):
        raise BatvisionDataError(f"Missing split file {path}; point the dataset path at a "
                                 f"BatVision root that holds it", kind='split file')
    with open(path, newline='') as file:
        reader = csv.DictReader(file)
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise BatvisionDataError(
                f"{path} lacks the column(s) {missing}; found {reader.fieldnames}. Use the "
                f"dataset's original CSV files", kind='split file')
        rows = list(enumerate(reader, start=2))
    for number, row in rows:
        empty = [name for name in columns if not row[name]]
        if empty:
            raise BatvisionDataError(f"{path} row {number} has no {empty}; fix or remove that "
                                     "row, or use the dataset's original CSV files",
                                     kind='split file')
    return rows


def require_file(path, what, source):
    """`path`, or an error naming it, what it is and the CSV row that lists it."""
    if not os.path.isfile(path):
        raise BatvisionDataError(f"Missing {what} file {path} (listed in {source}); "
                                 f"re-download the recording or remove it from the CSV",
                                 kind='missing file')
    return path


def load_npy(path, what, source, header_only=False):
    """A numeric array from a .npy file (memory-mapped, so only its header is read, with
    `header_only`), or an error naming the file."""
    try:
        array = np.load(require_file(path, what, source), allow_pickle=False,
                        mmap_mode='r' if header_only else None)
    except (ValueError, OSError, EOFError) as error:
        raise BatvisionDataError(f"Cannot read {what} file {path} (listed in {source}): {error}; "
                                 f"the file is corrupt, re-download it",
                                 kind='corrupt file') from error
    if array.dtype.kind not in 'iuf':
        raise BatvisionDataError(f"{what} file {path} holds {array.dtype} values, not numbers; "
                                 f"re-download it", kind='corrupt file')
    return array


def camera_size_error(size, depth_shape, path, source):
    """The error for a camera image of (height, width) `size` not aligned with its depth map,
    or None."""
    if tuple(size) == tuple(depth_shape):
        return None
    return BatvisionDataError(
        f"Camera image {path} (listed in {source}) is {size[1]}x{size[0]} but its depth map is "
        f"{depth_shape[1]}x{depth_shape[0]}; they must be aligned: re-download the recording",
        kind='camera')


def official_depth(depth_mm, max_depth):
    """Depth in metres exactly as the official loaders compute it, before resizing.

    V1: `np.nan_to_num` turns NaN into 0 and +/-inf into the largest +/- finite float (the
    official `depth[depth == +/-inf] = 0` lines that follow never match). After mm -> m, values
    above max_depth are clipped to it and negatives set to 0. So +inf becomes max_depth and
    stays valid, while NaN, -inf and negative pixels become 0. The bilinear resize then blends
    those zeros into their valid neighbours (a pixel next to a hole becomes a smaller, wrong
    depth, still counted as valid), and only resized pixels that stay exactly 0 are ignored,
    since the official L1 and metrics use gt != 0 (gt > 0). V2 depth (uint16) only has 0 holes.
    """
    depth = depth_mm / 1000
    if not np.isfinite(depth).all():        # np.nan_to_num is slow; most maps need none
        depth = np.nan_to_num(depth)
    depth[depth > max_depth] = max_depth
    depth[depth < 0.0] = 0.0
    return depth


def improved_depth(depth_mm, max_depth):
    """Depth in metres clipped to max_depth, and the mask of pixels with a measurement
    (positive millimetres or +inf = 'too far', which becomes max_depth)."""
    valid = depth_mm > 0
    return np.where(valid, np.minimum(depth_mm / 1000, max_depth), 0.0), valid


def bilinear_taps(size_in, size_out):
    """(lower source index, upper source index, upper weight) of each output pixel of a
    bilinear resize without antialiasing and with align_corners False (torch's rule, and
    torchvision's Resize before 0.17)."""
    position = np.maximum((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0.0)
    low = np.minimum(np.floor(position).astype(int), size_in - 1)
    return low, np.minimum(low + 1, size_in - 1), (position - low).astype(np.float32)


def official_depth_resized(depth_mm, max_depth, size):
    """`official_depth` then the plain bilinear resize to size x size, computed on the source
    pixels the resize reads (at most two per output row and column): the same values as
    converting the whole map, a fraction of the work."""
    (r0, r1, wr), (c0, c1, wc) = (bilinear_taps(n, size) for n in depth_mm.shape)
    rows, row_of = np.unique(np.concatenate([r0, r1]), return_inverse=True)
    cols, col_of = np.unique(np.concatenate([c0, c1]), return_inverse=True)
    depth = depth_mm.take(rows, axis=0).take(cols, axis=1).astype(np.float32)
    depth = official_depth(depth, max_depth)
    top, bottom = depth.take(row_of[:size], axis=0), depth.take(row_of[size:], axis=0)
    left, right = col_of[:size], col_of[size:]
    upper = top.take(left, axis=1) * (1 - wc) + top.take(right, axis=1) * wc
    lower = bottom.take(left, axis=1) * (1 - wc) + bottom.take(right, axis=1) * wc
    return torch.from_numpy(upper * (1 - wr)[:, None] + lower * wr[:, None])[None]


def nearest_indices(size_in, size_out):
    """Source index of each output pixel of a nearest-neighbour resize (pixel centres)."""
    return np.minimum(((np.arange(size_out) + 0.5) * size_in / size_out).astype(int), size_in - 1)


def process_depth(depth_mm, max_depth, image_size, preprocessing, depth_norm):
    """Depth [1,S,S] float32 (metres, or / max_depth) and valid [1,S,S] bool from millimetres.

    'official' / 'official_antialias': clip then bilinear resize (without / with antialiasing),
    valid = resized depth > 0.
    'improved': nearest-neighbour resize, then depth and the explicit measurement mask.
    """
    if preprocessing == 'official':
        depth = official_depth_resized(depth_mm, max_depth, image_size)
        valid = depth > 0
    elif preprocessing == 'official_antialias':
        depth = resize_bilinear(torch.from_numpy(official_depth(
            depth_mm.astype(np.float32), max_depth))[None], image_size, antialias=True)
        valid = depth > 0
    else:
        rows, cols = (nearest_indices(size, image_size) for size in depth_mm.shape)
        depth_m, mask = improved_depth(depth_mm[np.ix_(rows, cols)], max_depth)
        depth, valid = torch.from_numpy(depth_m)[None], torch.from_numpy(mask)[None]
    if depth_norm:
        depth = depth / max_depth
    return depth.float(), valid


def read_rgb(path, image_size, preprocessing, source, depth_shape):
    """Camera image as float32 [3, S, S] RGB in [0, 1] (read with OpenCV, resized like the
    spectrograms of `preprocessing`); it must be aligned with its depth map of `depth_shape`."""
    image = cv2.imread(require_file(path, 'camera', source), cv2.IMREAD_COLOR)
    if image is None:
        raise BatvisionDataError(f"Cannot decode camera image {path} (listed in {source}); "
                                 f"the file is corrupt, re-download it", kind='camera')
    error = camera_size_error(image.shape[:2], depth_shape, path, source)
    if error:
        raise error
    rgb = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
    resized = resize_bilinear(rgb.float() / 255.0, image_size, antialiased(preprocessing))
    return resized.clamp(0.0, 1.0)


class BatvisionDataset(Dataset):
    """The part of the BatVision loaders that does not depend on the version.

    Subclasses fill `self.recordings` and implement `read_waveform(recording)` ([2, T] float32
    tensor, at least `echo_samples(max_depth)` long), `check_audio(recording)` (the same checks
    from the file headers) and `read_depth_mm(recording, header_only=False)` (the 2-D array in
    millimetres of the version's dtype and shape; memory-mapped with `header_only`).
    """
    config_node = 'batvision'
    audio_formats = AUDIO_FORMATS

    def __init__(self, audio_format, max_depth, depth_norm, image_size, preprocessing,
                 load_rgb, features_on='loader'):
        if audio_format not in self.audio_formats:
            raise BatvisionDataError(
                f"audio_format '{audio_format}' is not available for {type(self).__name__}; "
                f"set datasets.batvision.audio_format to one of {self.audio_formats}")
        if preprocessing not in PREPROCESSINGS:
            raise BatvisionDataError(
                f"Unknown preprocessing '{preprocessing}'; set datasets.batvision.preprocessing "
                f"to one of {PREPROCESSINGS}")
        if not max_depth > 0 or not image_size > 0:
            raise BatvisionDataError(
                f"max_depth ({max_depth}) and image_size ({image_size}) must be positive; fix "
                f"datasets.batvision")
        self.audio_format = audio_format
        self.max_depth = float(max_depth)
        self.depth_norm = bool(depth_norm)
        self.image_size = int(image_size)
        self.preprocessing = preprocessing
        self.load_rgb = bool(load_rgb)
        self.features_on = features_on
        self.recordings = []

    def __len__(self):
        return len(self.recordings)

    def require_recordings(self, where):
        """An error naming `where` (the CSVs read) when the split lists no recording."""
        if not self.recordings:
            raise BatvisionDataError(f"{where} list(s) no recordings for split '{self.split}'; "
                                     f"restore the dataset's CSV files or choose other locations")

    @property
    def echo_samples(self):
        """Audio samples the echoes of max_depth need (`audio.echo_samples`)."""
        return echo_samples(self.max_depth)

    def valid_fraction(self, recording, depth_mm):
        """Fraction of the map's pixels with a measurement (> 0 mm, or +inf for V1's 'too
        far'); an error when there is none."""
        fraction = np.count_nonzero(depth_mm > 0) / depth_mm.size
        if fraction == 0:
            raise BatvisionDataError(
                f"Depth file {recording.depth} (listed in {recording.source}) has no valid "
                f"pixel; re-download it or remove the row", kind='no valid depth')
        return fraction

    def depth(self, recording, depth_mm):
        """`depth` and `valid` of a recording from its map in millimetres."""
        self.valid_fraction(recording, depth_mm)
        return process_depth(depth_mm, self.max_depth, self.image_size, self.preprocessing,
                             self.depth_norm)

    def split_problems(self):
        """[(file, message)] of what is wrong with the split as a whole (none here)."""
        return []

    def check_recording(self, recording):
        """(files checked, valid depth fraction or None, [(file, kind, message)]) of one
        recording, from what the loader checks, cheaply: audio and camera headers, the depth
        map's dtype and shape, and its valid pixels (the one whole file read)."""
        problems, fraction = [], None

        def attempt(path, check):
            try:
                return check()
            except BatvisionDataError as error:
                problems.append((path, error.kind, str(error)))

        attempt(recording.audio[0], lambda: self.check_audio(recording))
        depth_mm = attempt(recording.depth,
                           lambda: self.read_depth_mm(recording, header_only=True))
        if depth_mm is not None:
            fraction = attempt(recording.depth, lambda: self.valid_fraction(recording, depth_mm))
            attempt(recording.camera, lambda: self.check_camera(recording, depth_mm.shape))
        return len(recording.audio) + 2, fraction, problems

    def check_camera(self, recording, depth_shape):
        """The camera image's header: readable and aligned with the depth map."""
        path = require_file(recording.camera, 'camera', recording.source)
        try:
            with Image.open(path) as image:
                size = image.height, image.width
        except OSError as error:
            raise BatvisionDataError(f"Cannot read camera image {path} (listed in "
                                     f"{recording.source}): {error}; re-download it",
                                     kind='camera') from error
        error = camera_size_error(size, depth_shape, path, recording.source)
        if error:
            raise error

    def cache_options(self):
        """Every option that changes a sample's content (datasets/cache.py hashes them)."""
        return {'audio_format': self.audio_format, 'max_depth': self.max_depth,
                'depth_norm': self.depth_norm, 'image_size': self.image_size,
                'preprocessing': self.preprocessing, 'load_rgb': self.load_rgb,
                'features_on': self.features_on}

    def source_files(self):
        """Every file the samples are read from, in order."""
        return [path for r in self.recordings
                for path in (*r.audio, r.depth, *([r.camera] if self.load_rgb else []))]

    def sample_info(self, idx):
        """The entries of a sample that are not read from its files."""
        recording = self.recordings[idx]
        return {'idx': idx, 'filename': recording.filename, 'location': recording.location}

    def __getitem__(self, idx):
        recording = self.recordings[idx]
        depth_mm = self.read_depth_mm(recording)
        depth, valid = self.depth(recording, depth_mm)
        waveform = self.read_waveform(recording)
        sample = {
            'audio': waveform if self.features_on == 'device' else audio_features(
                waveform, self.audio_format, self.image_size, self.preprocessing),
            'depth': depth,
            'valid': valid,
            **self.sample_info(idx),
        }
        if self.load_rgb:
            sample['rgb'] = read_rgb(recording.camera, self.image_size, self.preprocessing,
                                     recording.source, depth_mm.shape)
        return sample
