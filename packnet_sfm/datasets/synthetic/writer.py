"""The BatVision V1 and V2 on-disk formats: file layout, encodings, split CSVs, atomic writes.

V2 (``<root>/<Location>/``): ``audio/audio_<i>.wav`` (stereo PCM_32 holding 24-bit samples,
44.1 kHz, 20000 frames), ``depth/depth_<i>.npy`` (uint16 (720, 1280) millimetres, 0 =
invalid), ``camera/camera_<i>.jpeg`` (1280x720) and ``train.csv``, ``val.csv``, ``test.csv``
in every location, paths relative to the root (``Room000/audio``) as in the real dataset.

V1 (``<root>/<YYYY.MM.DD>/``): ``audio/raw_long/<stamp>_left.npy`` and ``_right.npy``
(float32 1-D, ``V1_AUDIO_SAMPLES`` samples at 44.1 kHz, first arrival near sample 975),
``depth/<stamp>.npy`` (float32 (480, 640) millimetres: NaN = no value, +inf = too far or
zero disparity, -inf = too close), ``camera/left/<stamp>.png`` (640x480 RGB); one
``train.csv``/``val.csv``/``test.csv`` at the root with root-relative file paths.
"""
import csv
import datetime
import io
import os
from dataclasses import dataclass

import cv2
import numpy as np
import soundfile as sf

from .acoustics import SAMPLE_RATE
from .render import PinholeCamera

SPLITS = ('train', 'val', 'test')
V2_COLUMNS = ('audio path', 'audio file name', 'depth path', 'depth file name', 'camera path',
              'camera file name')
V1_COLUMNS = ('depth path', 'audio path left', 'audio path right', 'camera path left')
V2_AUDIO_SAMPLES = 20000
V1_AUDIO_SAMPLES = 4410          # 0.1 s
V1_MAX_RANGE_MM = 20000.0        # the ZED reports +inf beyond its range
V2_MAX_RANGE_MM = 15711           # the real V2 sensor's largest reading; farther: no value
V2_FAR_RANGE_MM = (12000, V2_MAX_RANGE_MM)  # spurious far values of zero-disparity matches
TEMP_SUFFIX = '.tmp'


def atomic_write(path, data):
    """Write bytes to ``path`` through a temporary file and a rename: never a partial file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temp = os.path.join(os.path.dirname(path),
                        f'.{os.path.basename(path)}.{os.getpid()}{TEMP_SUFFIX}')
    with open(temp, 'wb') as handle:
        handle.write(data)
    os.replace(temp, path)


def remove_stale_temporaries(directory):
    """Delete temporary files a killed run left under ``directory``."""
    for folder, _, names in os.walk(directory):
        for name in names:
            if name.startswith('.') and name.endswith(TEMP_SUFFIX):
                os.remove(os.path.join(folder, name))


def wav_bytes(audio):
    """Stereo (2, n) float audio in [-1, 1] as a PCM_32 WAV whose samples have 24-bit content."""
    samples = np.clip(np.round(audio.T * 2 ** 23), -2 ** 23, 2 ** 23 - 1).astype(np.int32) << 8
    buffer = io.BytesIO()
    sf.write(buffer, samples, SAMPLE_RATE, subtype='PCM_32', format='WAV')
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def image_bytes(rgb, extension):
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if extension == '.jpeg' else []
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f'OpenCV could not encode a {extension} image')
    return encoded.tobytes()


def v2_depth(sensor_depth, rng):
    """uint16 millimetres, 0 = invalid (also beyond the sensor's range); zero-disparity pixels
    read as spurious far values within the range."""
    millimetres = np.clip(np.round(sensor_depth.depth * 1000.0), 1, 65535).astype(np.uint16)
    millimetres *= ~(sensor_depth.missing | sensor_depth.too_close)
    millimetres *= millimetres <= V2_MAX_RANGE_MM
    far = np.flatnonzero(sensor_depth.far)
    millimetres.flat[far] = rng.integers(*V2_FAR_RANGE_MM, size=far.size, dtype=np.uint16)
    return millimetres


def v1_depth(sensor_depth):
    """float32 millimetres with the ZED's markers: NaN no value, +inf too far, -inf too close."""
    millimetres = (sensor_depth.depth * 1000.0).astype(np.float32)
    millimetres[sensor_depth.far | (millimetres > V1_MAX_RANGE_MM)] = np.inf
    millimetres[sensor_depth.too_close] = -np.inf
    millimetres[sensor_depth.missing] = np.nan
    return millimetres


@dataclass(frozen=True)
class Sample:
    """One simulated recording before encoding."""

    audio: np.ndarray           # (2, n) float in [-1, 1]
    rgb: np.ndarray             # (H, W, 3) uint8
    sensor_depth: object        # sensor.SensorDepth


class V2Format:
    """BatVision V2 layout (see the module docstring)."""

    name = 'v2'
    camera = PinholeCamera(width=1280, height=720, hfov_deg=86.0)
    audio_samples = V2_AUDIO_SAMPLES
    onset = 258                  # first arrival near sample 275, as in the real recordings

    @staticmethod
    def location_name(location):
        return f'Room{location:03d}'

    def files(self, location, index):
        """Root-relative paths of a sample's files, by role."""
        room = self.location_name(location)
        return {'audio': f'{room}/audio/audio_{index}.wav',
                'depth': f'{room}/depth/depth_{index}.npy',
                'camera': f'{room}/camera/camera_{index}.jpeg'}

    def encode(self, sample, rng):
        return {'audio': wav_bytes(sample.audio),
                'depth': npy_bytes(v2_depth(sample.sensor_depth, rng)),
                'camera': image_bytes(sample.rgb, '.jpeg')}

    def csv_tables(self, split_of):
        """{root-relative csv path: rows}; ``split_of`` maps (location, index) to a split."""
        tables = {}
        for location in sorted({loc for loc, _ in split_of}):
            for split in SPLITS:
                rows = []
                for (loc, index), assigned in sorted(split_of.items()):
                    if loc == location and assigned == split:
                        rows.append([part for role in ('audio', 'depth', 'camera')
                                     for part in self.files(loc, index)[role].rsplit('/', 1)])
                tables[f'{self.location_name(location)}/{split}.csv'] = (V2_COLUMNS, rows)
        return tables


class V1Format:
    """BatVision V1 layout (see the module docstring)."""

    name = 'v1'
    camera = PinholeCamera(width=640, height=480, hfov_deg=90.0)
    audio_samples = V1_AUDIO_SAMPLES
    onset = 958                  # first arrival near sample 975

    @staticmethod
    def location_name(location):
        return (datetime.date(2019, 8, 26) + datetime.timedelta(days=location)).strftime('%Y.%m.%d')

    @staticmethod
    def stamp(index):
        """A recording time like the real file names: HHMMSS.micro, 1.5 s apart from 10:00."""
        micros = 36000 * 10 ** 6 + index * 1_500_000 + (index * 7919) % 10 ** 5
        seconds, micro = divmod(micros, 10 ** 6)
        return f'{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}.{micro:06d}'

    def files(self, location, index):
        day, stamp = self.location_name(location), self.stamp(index)
        return {'audio_left': f'{day}/audio/raw_long/{stamp}_left.npy',
                'audio_right': f'{day}/audio/raw_long/{stamp}_right.npy',
                'depth': f'{day}/depth/{stamp}.npy',
                'camera': f'{day}/camera/left/{stamp}.png'}

    def encode(self, sample, rng):
        del rng  # V1 depth markers are fully determined by the sensor masks
        audio = sample.audio.astype(np.float32)
        return {'audio_left': npy_bytes(audio[0]), 'audio_right': npy_bytes(audio[1]),
                'depth': npy_bytes(v1_depth(sample.sensor_depth)),
                'camera': image_bytes(sample.rgb, '.png')}

    def csv_tables(self, split_of):
        tables = {}
        for split in SPLITS:
            rows = [[self.files(loc, index)[role]
                     for role in ('depth', 'audio_left', 'audio_right', 'camera')]
                    for (loc, index), assigned in sorted(split_of.items()) if assigned == split]
            tables[f'{split}.csv'] = (V1_COLUMNS, rows)
        return tables


FORMATS = {'v1': V1Format(), 'v2': V2Format()}


def csv_bytes(columns, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def write_csvs(root, tables):
    """Write the split CSVs (only those whose content changed, so reruns touch nothing)."""
    for relative, (columns, rows) in tables.items():
        path = os.path.join(root, relative)
        data = csv_bytes(columns, rows)
        if os.path.exists(path):
            with open(path, 'rb') as handle:
                if handle.read() == data:
                    continue
        atomic_write(path, data)
