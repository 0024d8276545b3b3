"""Generate a synthetic BatVision dataset: deterministic, parallel, resumable.

Every location (one procedural room) is drawn from ``(seed, location)`` and every sample
(one robot pose in it) from ``(seed, location, index)``, so the bytes do not depend on the
number of workers or the order they run in. A sample whose files all exist is skipped; files
are written atomically, so a killed run resumes where it stopped.
"""
import ctypes
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing import get_context

import numpy as np

from packnet_sfm.utils.errors import InputError
from packnet_sfm.utils.progress import progress as progress_bar

from .acoustics import AcousticSettings, random_rig, simulate_binaural
from .render import render_view
from .scene import is_plain_surface, random_pose, random_room
from .sensor import StereoSensor, simulate_stereo_depth
from .writer import FORMATS, Sample, atomic_write, remove_stale_temporaries, write_csvs

ROOM_STREAM, SAMPLE_STREAM, SPLIT_STREAM, RIG_STREAM = 0, 1, 2, 3
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3   # glibc mallopt parameters
SPLIT_FRACTIONS = {'val': 0.15, 'test': 0.15}


@dataclass(frozen=True)
class SimulationSettings:
    """Physics knobs; the defaults make the dataset, tests may lower the acoustic cost."""

    acoustics: AcousticSettings = field(default_factory=AcousticSettings)
    sensor: StereoSensor = field(default_factory=StereoSensor)


@dataclass(frozen=True)
class GenerationReport:
    written: int        # samples (re)written
    skipped: int        # samples already complete
    seconds: float

    @property
    def samples_per_second(self):
        return self.written / self.seconds if self.seconds > 0 else float('inf')


def _rng(*key):
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


@lru_cache(maxsize=4)
def location_room(seed, location):
    """The room of a location (cached: a worker renders many samples of the same room)."""
    return random_room(_rng(seed, ROOM_STREAM, location))


@lru_cache(maxsize=4)
def location_rig(seed, location):
    """The binaural rig (transducers, head, level, room noise) recorded with at a location."""
    return random_rig(_rng(seed, RIG_STREAM, location))


def simulate_sample(version, seed, location, index, settings=SimulationSettings()):
    """One recording: a robot pose in the location's room, its echoes, depth and image."""
    spec = FORMATS[version]
    room = location_room(seed, location)
    rng = _rng(seed, SAMPLE_STREAM, location, index)
    pose = random_pose(room, rng)
    view = render_view(room, pose, spec.camera, rng)
    sensor_depth = simulate_stereo_depth(view.depth, spec.camera.focal, rng,
                                         textureless=is_plain_surface(view.surface),
                                         unmatchable=view.window, sensor=settings.sensor)
    audio = simulate_binaural(room, pose, spec.audio_samples, spec.onset, rng, settings.acoustics,
                              location_rig(seed, location))
    return Sample(audio=audio, rgb=view.rgb, sensor_depth=sensor_depth), rng


def _keep_freed_memory():
    """Make glibc keep freed blocks of up to 32 MB in the process: by default it returns the
    large arrays of every sample to the system, and the next sample faults them in afresh
    (measured: about 5000 page faults and 10 ms of system time per V2 sample). A no-op where
    the C library has no ``mallopt``."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, TypeError):
        return
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)


def _missing_files(root, version, location, index):
    files = FORMATS[version].files(location, index)
    return {role: path for role, path in files.items()
            if not os.path.exists(os.path.join(root, path))}


def _write_sample(task):
    """Worker: simulate one sample and write the files it lacks. Returns files written."""
    root, version, seed, location, index, settings = task
    missing = _missing_files(root, version, location, index)
    if not missing:
        return 0
    sample, rng = simulate_sample(version, seed, location, index, settings)
    encoded = FORMATS[version].encode(sample, rng)
    for role, path in missing.items():
        atomic_write(os.path.join(root, path), encoded[role])
    return len(missing)


def _location_labels(count, held_out, any_held_out):
    """Split labels of one location's samples, before shuffling."""
    if held_out:
        return ['val'] * (count // 2) + ['test'] * (count - count // 2)
    if any_held_out:
        return ['train'] * count
    val, test = (max(1, round(SPLIT_FRACTIONS[name] * count)) for name in ('val', 'test'))
    return ['val'] * val + ['test'] * test + ['train'] * (count - val - test)


def assign_splits(locations, samples_per_location, seed, held_out_locations=0):
    """{(location, index): split}.

    Default: each location's samples are shuffled and split ~70/15/15 with at least one
    sample in every split. With ``held_out_locations`` K > 0, the last K locations are used
    only for evaluation (their samples halved between val and test) and the others only
    for training.
    """
    if not 0 <= held_out_locations < locations:
        raise InputError(f'held_out_locations must be in [0, {locations - 1}] for {locations} '
                         f'locations, got {held_out_locations}')
    minimum = 2 if held_out_locations else 3
    if samples_per_location < minimum:
        raise InputError(f'samples_per_location must be >= {minimum} so that every split of a '
                         f'location is non-empty, got {samples_per_location}')
    split_of = {}
    for location in range(locations):
        labels = _location_labels(samples_per_location,
                                  held_out=location >= locations - held_out_locations,
                                  any_held_out=held_out_locations > 0)
        order = _rng(seed, SPLIT_STREAM, location).permutation(samples_per_location)
        split_of.update({(location, int(index)): label for index, label in zip(order, labels)})
    return split_of


def generate_batvision(version, output, locations, samples_per_location, seed, workers=None,
                       held_out_locations=0, settings=SimulationSettings(), progress=True):
    """Write a synthetic BatVision ``version`` ('v1' or 'v2') dataset under ``output``."""
    if version not in FORMATS:
        raise InputError(f"version must be one of {sorted(FORMATS)}, got '{version}'")
    if locations < 1:
        raise InputError(f'locations must be >= 1, got {locations}')
    split_of = assign_splits(locations, samples_per_location, seed, held_out_locations)
    workers = workers or min(os.cpu_count() or 1, 4)
    os.makedirs(output, exist_ok=True)
    remove_stale_temporaries(output)
    todo = [(output, version, seed, loc, index, settings) for loc, index in sorted(split_of)
            if _missing_files(output, version, loc, index)]
    start = time.perf_counter()
    with progress_bar(total=len(todo), desc=f'BatVision {version} synthetic', unit='sample',
              disable=not progress) as bar:
        if workers == 1 or len(todo) <= 1:
            _keep_freed_memory()
            for task in todo:
                _write_sample(task)
                bar.update()
        else:
            with get_context('spawn').Pool(workers, initializer=_keep_freed_memory) as pool:
                for _ in pool.imap_unordered(_write_sample, todo, chunksize=2):
                    bar.update()
    write_csvs(output, FORMATS[version].csv_tables(split_of))
    return GenerationReport(written=len(todo), skipped=len(split_of) - len(todo),
                            seconds=time.perf_counter() - start)

