"""BatVision V2 (Brunetto et al., IROS 2023) as stored on disk.

`<root>/<Location>/{train,val,test}.csv`, one set of CSVs per location, with columns
`audio path`, `audio file name`, `depth path`, `depth file name`, `camera path`,
`camera file name`; the paths are relative to the root and include the location
(`Attic/audio`). Audio: stereo WAV, PCM 32-bit, 44.1 kHz, 20000 frames. Depth: uint16 .npy
(720, 1280) in millimetres, 0 = no measurement. Camera: JPEG 1280x720 aligned with depth.
"""
import os

import soundfile as sf
import torch

from packnet_sfm.datasets.audio import SAMPLE_RATE
from packnet_sfm.datasets.batvision import (
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
SPEED_OF_SOUND = 340.0      # m/s, as in the official loader


def echo_samples(max_depth, sample_rate=SAMPLE_RATE):
    """Samples an echo needs to travel to max_depth and back (official cut: 7782 at 30 m)."""
    return int((2 * max_depth / SPEED_OF_SOUND) * sample_rate)


def read_stereo_wav(path, frames, source):
    """First `frames` frames of a 44.1 kHz stereo WAV as float32 [2, T], normalised like
    torchaudio.load (integer samples / 2**31)."""
    require_file(path, 'audio', source)
    try:
        with sf.SoundFile(path) as wav:
            if wav.samplerate != SAMPLE_RATE or wav.channels != 2:
                raise BatvisionDataError(
                    f"{path} (listed in {source}) has {wav.channels} channel(s) at "
                    f"{wav.samplerate} Hz; BatVision needs binaural (2-channel) audio at "
                    f"{SAMPLE_RATE} Hz: re-record or resample it")
            samples = wav.read(frames, dtype='int32', always_2d=True)
    except RuntimeError as error:
        raise BatvisionDataError(f"Cannot read WAV {path} (listed in {source}): {error}; the file "
                                 f"is corrupt, re-download it") from error
    return torch.from_numpy(samples.T.copy()).float() / 2 ** 31


class BatvisionV2Dataset(BatvisionDataset):
    """BatVision V2 recordings of one split, from every location folder of `root` that holds
    the split's CSV (other entries of the root are ignored), optionally restricted to
    `locations` and without `exclude_locations`. Audio is cut to the echoes of max_depth."""

    def __init__(self, root, split='train', audio_format='spectrogram', max_depth=30.0,
                 depth_norm=True, image_size=256, preprocessing='official', load_rgb=False,
                 locations=None, exclude_locations=None):
        super().__init__(audio_format=audio_format, max_depth=max_depth, depth_norm=depth_norm,
                         image_size=image_size, preprocessing=preprocessing, load_rgb=load_rgb)
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

    def recording(self, row, source, location):
        """A Recording from one CSV row."""
        audio = os.path.join(row['audio path'], row['audio file name'])
        camera = os.path.join(row.get('camera path', ''), row.get('camera file name', ''))
        return Recording(audio=(os.path.join(self.root, audio),),
                         depth=os.path.join(self.root, row['depth path'], row['depth file name']),
                         camera=os.path.join(self.root, camera),
                         filename=os.path.splitext(audio)[0], location=location, source=source)

    def read_waveform(self, recording):
        return read_stereo_wav(recording.audio[0], echo_samples(self.max_depth),
                               recording.source)

    def read_depth_mm(self, recording):
        return load_npy(recording.depth, 'depth', recording.source).astype('float32')
