"""BatVision V2 (Brunetto et al., IROS 2023) as stored on disk.

`<root>/<Location>/{train,val,test}.csv`, one set of CSVs per location, with columns
`audio path`, `audio file name`, `depth path`, `depth file name`, `camera path`,
`camera file name`; the paths are relative to the root and include the location
(`Attic/audio`). Audio: stereo WAV, PCM 32-bit, 44.1 kHz, 20000 frames. Depth: uint16 .npy
(720, 1280) in millimetres, 0 = no measurement. Camera: JPEG 1280x720 aligned with depth.
"""
import os

import numpy as np
import soundfile as sf
import torch

from packnet_sfm.datasets.audio import SAMPLE_RATE
from packnet_sfm.datasets.batvision import (
    SPLITS,
    BatvisionDataError,
    BatvisionDataset,
    Recording,
    load_npy,
    read_split_csv,
    require_file,
    split_csv_name,
)

AUDIO_COLUMNS = ('audio path', 'audio file name', 'depth path', 'depth file name')
CAMERA_COLUMNS = ('camera path', 'camera file name')
WAV_SUBTYPES = ('PCM_16', 'PCM_24', 'PCM_32', 'FLOAT', 'DOUBLE')
DEPTH_SHAPE = (720, 1280)


def check_wav(wav, path, frames, source):
    """An error unless the WAV header `wav` (soundfile info or SoundFile) is 2-channel PCM or
    float audio at 44.1 kHz with at least `frames` frames (the echo window; nothing is
    padded)."""
    if wav.samplerate != SAMPLE_RATE or wav.channels != 2 or wav.subtype not in WAV_SUBTYPES:
        raise BatvisionDataError(
            f"{path} (listed in {source}) has {wav.channels} channel(s) of {wav.subtype} at "
            f"{wav.samplerate} Hz; BatVision needs binaural (2-channel) PCM or float audio at "
            f"{SAMPLE_RATE} Hz: re-record or convert it", kind='audio format')
    if wav.frames < frames:
        raise BatvisionDataError(
            f"{path} (listed in {source}) holds {wav.frames} frames, fewer than the {frames} the "
            f"echoes of max_depth need; re-download it or lower datasets.batvision.max_depth",
            kind='short audio')


def wav_header(path, source):
    """soundfile's header of a WAV, or an error naming the file."""
    try:
        return sf.info(require_file(path, 'audio', source))
    except RuntimeError as error:
        raise BatvisionDataError(f"Cannot read WAV {path} (listed in {source}): {error}; the "
                                 f"file is corrupt, re-download it", kind='corrupt file') from error


def read_stereo_wav(path, frames, source):
    """First `frames` frames of a 44.1 kHz stereo WAV as float32 [2, T], normalised like
    torchaudio.load (integer samples / 2**31); an error when the file is shorter."""
    check_wav(wav_header(path, source), path, frames, source)
    try:
        samples, _ = sf.read(path, frames=frames, dtype='int32', always_2d=True)
    except RuntimeError as error:
        raise BatvisionDataError(f"Cannot read WAV {path} (listed in {source}): {error}; the "
                                 f"file is corrupt, re-download it", kind='corrupt file') from error
    if len(samples) < frames:
        raise BatvisionDataError(
            f"{path} (listed in {source}) ends after {len(samples)} of the {frames} frames its "
            f"header promises: the file is truncated, re-download it", kind='short audio')
    return torch.from_numpy(samples.T.copy()).float() / 2 ** 31


class BatvisionV2Dataset(BatvisionDataset):
    """BatVision V2 recordings of one split, from every location folder of `root` that holds
    the split's CSV (other entries of the root are ignored), optionally restricted to
    `locations` and without `exclude_locations`. Audio is cut to the echoes of max_depth."""

    def __init__(self, root, split='train', audio_format='spectrogram', max_depth=30.0,
                 depth_norm=True, image_size=256, preprocessing='official', load_rgb=False,
                 locations=None, exclude_locations=None, features_on='loader'):
        super().__init__(audio_format=audio_format, max_depth=max_depth, depth_norm=depth_norm,
                         image_size=image_size, preprocessing=preprocessing, load_rgb=load_rgb,
                         features_on=features_on)
        self.root = root
        self.split = split
        self.csv_name = split_csv_name(split)
        self.locations = self.select_locations(locations or [], exclude_locations or [])
        columns = AUDIO_COLUMNS + (CAMERA_COLUMNS if load_rgb else ())
        for location in self.locations:
            csv_path = os.path.join(root, location, self.csv_name)
            self.recordings += [self.recording(row, f'row {number} of {csv_path}', location)
                                for number, row in read_split_csv(csv_path, columns)]
        self.require_recordings(f"The {self.csv_name} files of {self.locations} under {root}")

    def select_locations(self, locations, exclude_locations):
        """Sorted location folders holding the split's CSV, after include/exclude lists."""
        if not os.path.isdir(self.root):
            raise BatvisionDataError(f"BatVision V2 root {self.root} is not a folder; set the "
                                     f"dataset path to the folder holding the location folders")
        found = sorted(name for name in os.listdir(self.root)
                       if os.path.isfile(os.path.join(self.root, name, self.csv_name)))
        unknown = sorted((set(locations) | set(exclude_locations)) - set(found))
        if unknown:
            raise BatvisionDataError(
                f"Location(s) {unknown} in locations/exclude_locations have no {self.csv_name} "
                f"under {self.root}; available: {found}")
        selected = [name for name in found
                    if (not locations or name in locations) and name not in exclude_locations]
        if not selected:
            raise BatvisionDataError(
                f"No location under {self.root} holds {self.csv_name} (after locations="
                f"{list(locations)}, exclude_locations={list(exclude_locations)}); point the "
                f"dataset path at a BatVision V2 root")
        return selected

    def split_problems(self):
        """Location folders holding another split's CSV but not this one's (every V2
        location has all three)."""
        others = [split_csv_name(split) for split in SPLITS if split != self.split]
        return [(os.path.join(self.root, name, self.csv_name),
                 f"Location {name} under {self.root} has no {self.csv_name}; restore it (an "
                 f"empty one, with the header, holds the location out of the split)")
                for name in sorted(os.listdir(self.root))
                if name not in self.locations and not os.path.isfile(
                    os.path.join(self.root, name, self.csv_name))
                and any(os.path.isfile(os.path.join(self.root, name, o)) for o in others)]

    def recording(self, row, source, location):
        """A Recording from one CSV row."""
        audio = os.path.join(row['audio path'], row['audio file name'])
        camera = os.path.join(row.get('camera path', ''), row.get('camera file name', ''))
        return Recording(audio=(os.path.join(self.root, audio),),
                         depth=os.path.join(self.root, row['depth path'], row['depth file name']),
                         camera=os.path.join(self.root, camera),
                         filename=os.path.splitext(audio)[0], location=location, source=source)

    def read_waveform(self, recording):
        return read_stereo_wav(recording.audio[0], self.echo_samples, recording.source)

    def check_audio(self, recording):
        path = recording.audio[0]
        check_wav(wav_header(path, recording.source), path, self.echo_samples, recording.source)

    def read_depth_mm(self, recording, header_only=False):
        """uint16 (720, 1280) millimetres (0 = no measurement)."""
        depth = load_npy(recording.depth, 'depth', recording.source, header_only)
        if depth.dtype != np.uint16 or depth.shape != DEPTH_SHAPE:
            raise BatvisionDataError(
                f"Depth file {recording.depth} (listed in {recording.source}) holds {depth.dtype} "
                f"{depth.shape}; BatVision V2 depth is uint16 {DEPTH_SHAPE} millimetres: "
                f"re-download it", kind='depth format')
        return depth
