"""BatVision V1 (Christensen et al., ICRA 2020) as stored on disk.

`<root>/{train,val,test}.csv`, one set for the whole dataset, with columns `depth path`,
`audio path left`, `audio path right`, `camera path left`; values are paths relative to the
root whose first folder is the recording date (`2019.08.26/audio/raw_long/..._left.npy`).
Audio: one 1-D float .npy per ear at 44.1 kHz (about 0.1 s, used whole). Depth: float .npy in
millimetres; NaN, -inf and negative values mean no measurement, +inf means beyond range
(see `batvision.official_depth` for what the official pipeline makes of each). Camera: PNG.
"""
import os

import numpy as np
import torch

from packnet_sfm.datasets.batvision import (
    BatvisionDataError,
    BatvisionDataset,
    Recording,
    load_npy,
    read_split_csv,
    split_csv_name,
)

AUDIO_COLUMNS = ('depth path', 'audio path left', 'audio path right')
CAMERA_COLUMNS = ('camera path left',)


def read_ears(paths, source, min_samples=0, header_only=False):
    """The left and right ear .npy files of a recording as float32 [2, T] (only checked, from
    the headers, with `header_only`): 1-D float arrays of one length, at least `min_samples`
    (the echo window; nothing is padded)."""
    channels = [load_npy(path, 'audio', source, header_only) for path in paths]
    if any(c.ndim != 1 or c.dtype.kind != 'f' for c in channels) or \
            channels[0].shape != channels[1].shape:
        raise BatvisionDataError(
            f"Audio files {list(paths)} (listed in {source}) must be 1-D float arrays of equal "
            f"length, got {[f'{c.dtype} {c.shape}' for c in channels]}; re-download",
            kind='audio format')
    if len(channels[0]) < min_samples:
        raise BatvisionDataError(
            f"Audio files {list(paths)} (listed in {source}) hold {len(channels[0])} samples, "
            f"fewer than the {min_samples} the echoes of max_depth need; re-download them or "
            f"lower datasets.batvision.max_depth", kind='short audio')
    return None if header_only else torch.from_numpy(np.stack(channels).astype(np.float32))


class BatvisionV1Dataset(BatvisionDataset):
    """BatVision V1 recordings of one split. Only linear spectrograms and waveforms: the
    official V1 recipe has no mel features."""
    audio_formats = ('spectrogram', 'waveform')

    def __init__(self, root, split='train', audio_format='spectrogram', max_depth=12.0,
                 depth_norm=True, image_size=256, preprocessing='official', load_rgb=False,
                 features_on='loader'):
        super().__init__(audio_format=audio_format, max_depth=max_depth, depth_norm=depth_norm,
                         image_size=image_size, preprocessing=preprocessing, load_rgb=load_rgb,
                         features_on=features_on)
        self.root = root
        self.split = split
        csv_path = os.path.join(root, split_csv_name(split))
        columns = AUDIO_COLUMNS + (CAMERA_COLUMNS if load_rgb else ())
        self.recordings = [self.recording(row, f'row {number} of {csv_path}')
                           for number, row in read_split_csv(csv_path, columns)]
        self.require_recordings(csv_path)

    def recording(self, row, source):
        """A Recording from one CSV row; the location is the date folder."""
        left = row['audio path left']
        return Recording(audio=(os.path.join(self.root, left),
                                os.path.join(self.root, row['audio path right'])),
                         depth=os.path.join(self.root, row['depth path']),
                         camera=os.path.join(self.root, row.get('camera path left', '')),
                         filename=os.path.splitext(left)[0],
                         location=left.replace('\\', '/').split('/')[0], source=source)

    def read_waveform(self, recording):
        return read_ears(recording.audio, recording.source, self.echo_samples)

    def check_audio(self, recording):
        read_ears(recording.audio, recording.source, self.echo_samples, header_only=True)

    def read_depth_mm(self, recording, header_only=False):
        """A 2-D float map in millimetres (NaN, -inf, negative: no value; +inf: too far)."""
        depth = load_npy(recording.depth, 'depth', recording.source, header_only)
        if depth.ndim != 2 or depth.dtype.kind != 'f':
            raise BatvisionDataError(
                f"Depth file {recording.depth} (listed in {recording.source}) holds {depth.dtype} "
                f"{depth.shape}; BatVision V1 depth is a 2-D float map in millimetres: "
                f"re-download it", kind='depth format')
        return depth
