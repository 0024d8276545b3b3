"""What the BatVision V1 and V2 loaders share: split CSVs, depth maps, camera images, options
and the sample dict (docs/architecture.md). The on-disk formats are described in the two
loader modules; the audio features in `audio.py`."""
import csv
import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from packnet_sfm.datasets.audio import (
    AUDIO_FORMATS,
    PREPROCESSINGS,
    antialiased,
    audio_features,
    resize_bilinear,
)
from packnet_sfm.utils.errors import InputError

SPLITS = ('train', 'val', 'test')


class BatvisionDataError(InputError):
    """Bad BatVision data or loader options; the message names the file or key and the fix."""


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
                                 f"BatVision root that holds it")
    with open(path, newline='') as file:
        reader = csv.DictReader(file)
        missing = [name for name in columns if name not in (reader.fieldnames or [])]
        if missing:
            raise BatvisionDataError(
                f"{path} lacks the column(s) {missing}; found {reader.fieldnames}. Use the "
                f"dataset's original CSV files")
        return list(enumerate(reader, start=2))


def require_file(path, what, source):
    """`path`, or an error naming it, what it is and the CSV row that lists it."""
    if not os.path.isfile(path):
        raise BatvisionDataError(f"Missing {what} file {path} (listed in {source}); "
                                 f"re-download the recording or remove it from the CSV")
    return path


def load_npy(path, what, source):
    """A numeric array from a .npy file, or an error naming the file."""
    try:
        array = np.load(require_file(path, what, source), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise BatvisionDataError(f"Cannot read {what} file {path} (listed in {source}): {error}; "
                                 f"the file is corrupt, re-download it") from error
    if array.dtype.kind not in 'iuf':
        raise BatvisionDataError(f"{what} file {path} holds {array.dtype} values, not numbers; "
                                 f"re-download it")
    return array


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


def nearest_indices(size_in, size_out):
    """Source index of each output pixel of a nearest-neighbour resize (pixel centres)."""
    return np.minimum(((np.arange(size_out) + 0.5) * size_in / size_out).astype(int), size_in - 1)


def process_depth(depth_mm, max_depth, image_size, preprocessing, depth_norm):
    """Depth [1,S,S] float32 (metres, or / max_depth) and valid [1,S,S] bool from millimetres.

    'official' / 'official_antialias': clip then bilinear resize (without / with antialiasing),
    valid = resized depth > 0.
    'improved': nearest-neighbour resize, then depth and the explicit measurement mask.
    """
    if preprocessing != 'improved':
        depth = resize_bilinear(torch.from_numpy(official_depth(depth_mm, max_depth))[None],
                                image_size, antialiased(preprocessing))
        valid = depth > 0
    else:
        rows, cols = (nearest_indices(size, image_size) for size in depth_mm.shape)
        depth_m, mask = improved_depth(depth_mm[np.ix_(rows, cols)], max_depth)
        depth, valid = torch.from_numpy(depth_m)[None], torch.from_numpy(mask)[None]
    if depth_norm:
        depth = depth / max_depth
    return depth.float(), valid


def read_rgb(path, image_size, preprocessing, source):
    """Camera image as float32 [3, S, S] RGB in [0, 1] (read with OpenCV, resized like the
    spectrograms of `preprocessing`)."""
    image = cv2.imread(require_file(path, 'camera', source), cv2.IMREAD_COLOR)
    if image is None:
        raise BatvisionDataError(f"Cannot decode camera image {path} (listed in {source}); "
                                 f"the file is corrupt, re-download it")
    rgb = torch.from_numpy(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).permute(2, 0, 1)
    resized = resize_bilinear(rgb.float() / 255.0, image_size, antialiased(preprocessing))
    return resized.clamp(0.0, 1.0)


class BatvisionDataset(Dataset):
    """The part of the BatVision loaders that does not depend on the version.

    Subclasses fill `self.recordings` and implement `read_waveform(recording)` ([2, T] float32
    tensor) and `read_depth_mm(recording)` (2-D array in millimetres, official dtype).
    """
    config_node = 'batvision'
    audio_formats = AUDIO_FORMATS

    def __init__(self, audio_format, max_depth, depth_norm, image_size, preprocessing,
                 load_rgb):
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
        self.recordings = []

    def __len__(self):
        return len(self.recordings)

    def require_recordings(self, where):
        """An error naming `where` (the CSVs read) when the split lists no recording."""
        if not self.recordings:
            raise BatvisionDataError(f"{where} list(s) no recordings for split '{self.split}'; "
                                     f"restore the dataset's CSV files or choose other locations")

    def depth(self, recording):
        """`depth` and `valid` of a recording; an error when it has no usable pixel."""
        depth_mm = self.read_depth_mm(recording)
        if depth_mm.ndim != 2 or not np.any(depth_mm > 0):
            raise BatvisionDataError(
                f"Depth file {recording.depth} (listed in {recording.source}) has no valid pixel "
                f"or is not a 2-D map (shape {depth_mm.shape}); re-download it or remove the row")
        return process_depth(depth_mm, self.max_depth, self.image_size, self.preprocessing,
                             self.depth_norm)

    def __getitem__(self, idx):
        recording = self.recordings[idx]
        depth, valid = self.depth(recording)
        sample = {
            'audio': audio_features(self.read_waveform(recording), self.audio_format,
                                    self.image_size, self.preprocessing),
            'depth': depth,
            'valid': valid,
            'idx': idx,
            'filename': recording.filename,
            'location': recording.location,
        }
        if self.load_rgb:
            sample['rgb'] = read_rgb(recording.camera, self.image_size, self.preprocessing,
                                     recording.source)
        return sample
