"""Binaural echoes of a chirp: pyroomacoustics image sources plus analytic obstacle echoes.

The impulse response from the speaker to each ear is the sum of
- the specular room response: the image-source method of pyroomacoustics on the shoebox
  (walls, floor, ceiling; specular energy (1 - absorption)(1 - scattering) per bounce),
  with a forward-facing cardioid-family speaker and outward-facing ears;
- first-order specular echoes from the faces of every box (furniture), computed with one
  image source per face that is valid when the reflection point lies on the face;
- first-order diffuse (Lambert) scattering from every surface the speaker sees, from a
  latitude-longitude grid of rays cast through the room, obstacles included: each cell
  returns energy s (1 - a) D^2 dOmega cos(out) / (pi r2^2) with a random sign;
- an exponentially decaying noise tail (Eyring reverberation time) after the time that
  the image sources of the chosen order fully cover.
Amplitudes follow pyroomacoustics' convention (a path of length r has amplitude gain / r).
The response is convolved with a band-limited chirp, delayed by the playback latency, scaled
so the direct sound peaks near the level of the real recordings, and noise is added.
Not modelled: obstacles shadowing the room's specular paths, diffraction, head shadow
beyond the ears' directivity.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyroomacoustics as pra
from pyroomacoustics.directivities import CardioidFamily
from scipy import signal

from .scene import FACE_NORMALS, ROOM_SURFACES, cast_rays, face_codes, hit_coordinates

SPEED_OF_SOUND = 340.0   # m/s, the value the BatVision loaders use
SAMPLE_RATE = 44100
FADE_SECONDS = 0.01  # crossfade from the image sources to the late tail


@dataclass(frozen=True)
class BinauralHead:
    """A speaker between two ears, mounted above the camera (metres, degrees)."""

    ear_spacing: float = 0.18
    height_above_camera: float = 0.12
    speaker_forward: float = 0.10
    speaker_pattern: float = 0.5     # cardioid family p: 1 omni, 0.5 cardioid
    ear_pattern: float = 0.75
    ear_angle_deg: float = 60.0      # ears point this far left / right of forward


@dataclass(frozen=True)
class AcousticSettings:
    """Simulation and signal parameters (cost knobs: ism_order, scatter_grid)."""

    ism_order: int = 8
    scatter_grid: tuple = (72, 36)        # azimuths, elevations
    chirp_seconds: float = 0.003
    chirp_band: tuple = (20.0, 20000.0)   # Hz, swept linearly
    transducer_band: tuple = (150.0, 6000.0)  # Hz, speaker and microphone response
    direct_peak: float = 0.5              # full-scale peak of the direct sound
    noise_rms: float = 0.0015             # full-scale noise: microphones and room hum
    hum_cutoff: float = 500.0             # Hz, the low-frequency part of the noise


@dataclass(frozen=True)
class HeadPlacement:
    speaker: np.ndarray          # (3,)
    ears: np.ndarray             # (2, 3) left, right
    forward: np.ndarray          # (3,) speaker axis
    ear_axes: np.ndarray         # (2, 3) directions of the ears' main lobes


def place_head(pose, head=BinauralHead()):
    """World positions of the speaker and the ears for a robot pose."""
    center = pose.camera + np.array([0.0, 0.0, head.height_above_camera])
    ears = np.stack([center + s * head.ear_spacing / 2 * pose.left for s in (1, -1)])
    angle = np.radians(head.ear_angle_deg)
    ear_axes = np.stack([np.cos(angle) * pose.forward + s * np.sin(angle) * pose.left
                         for s in (1, -1)])
    return HeadPlacement(speaker=center + head.speaker_forward * pose.forward, ears=ears,
                         forward=pose.forward, ear_axes=ear_axes)


def cardioid_gain(pattern, axis, directions):
    """Amplitude gain p + (1 - p) cos(angle) of a cardioid-family pattern; directions (..., 3)."""
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    return pattern + (1.0 - pattern) * (unit @ axis)


@lru_cache(maxsize=8)
def emitted_signal(settings=AcousticSettings(), fs=SAMPLE_RATE):
    """The chirp as played and recorded: linear sweep, tapered, band-limited by the
    transducers (their ringing included)."""
    t = np.arange(int(round(settings.chirp_seconds * fs))) / fs
    sweep = signal.chirp(t, f0=settings.chirp_band[0], t1=t[-1], f1=settings.chirp_band[1])
    sweep *= signal.windows.tukey(len(t), alpha=0.2)
    sos = signal.butter(2, settings.transducer_band, btype='bandpass', fs=fs, output='sos')
    return signal.sosfilt(sos, np.concatenate([sweep, np.zeros(int(0.005 * fs))]))


@lru_cache(maxsize=8)
def _lowpass(cutoff, fs):
    """Second-order Butterworth low-pass as second-order sections."""
    return signal.butter(2, cutoff, fs=fs, output='sos')


def recording_noise(shape, rng, settings=AcousticSettings(), fs=SAMPLE_RATE):
    """Background noise as the real recordings have it: band-limited by the microphones,
    with most of its energy in a low-frequency hum; RMS ``settings.noise_rms``."""
    white = rng.standard_normal((2,) + tuple(shape))
    mic, hum = _lowpass(settings.transducer_band[1] / 2, fs), _lowpass(settings.hum_cutoff, fs)
    noise = signal.sosfilt(mic, white[0], axis=-1) + 2 * signal.sosfilt(hum, white[1], axis=-1)
    return noise * (settings.noise_rms / noise.std())


def _impulses(delays, amplitudes, length, fs):
    """Impulse train (length,) with each impulse split linearly over two samples."""
    position = np.asarray(delays) * fs
    index = np.floor(position).astype(np.int64)
    frac = position - index
    keep = (index >= 0) & (index + 1 < length)
    index, frac, amplitudes = index[keep], frac[keep], np.asarray(amplitudes)[keep]
    return (np.bincount(index, amplitudes * (1 - frac), minlength=length)
            + np.bincount(index + 1, amplitudes * frac, minlength=length))[:length]


def specular_room_rirs(room, placement, head, settings, length, fs=SAMPLE_RATE):
    """(2, length) specular image-source responses of the shoebox from pyroomacoustics."""
    reflection = (1 - room.absorption) * (1 - room.scattering)
    materials = {name: pra.Material(energy_absorption=float(1 - r))
                 for name, r in zip(ROOM_SURFACES, reflection, strict=True)}
    shoebox = pra.ShoeBox(room.size, fs=fs, materials=materials, max_order=settings.ism_order)
    shoebox.set_sound_speed(SPEED_OF_SOUND)
    shoebox.add_source(placement.speaker,
                       directivity=CardioidFamily(orientation=placement.forward,
                                                  p=head.speaker_pattern))
    ear_directivities = [CardioidFamily(orientation=axis, p=head.ear_pattern)
                         for axis in placement.ear_axes]
    shoebox.add_microphone_array(pra.MicrophoneArray(placement.ears.T, fs,
                                                     directivity=ear_directivities))
    shoebox.compute_rir()
    offset = pra.constants.get('frac_delay_length') // 2   # pyroomacoustics' filter delay
    rirs = np.zeros((2, length))
    for ear in range(2):
        rir = shoebox.rir[ear][0][offset:offset + length]
        rirs[ear, :len(rir)] = rir
    return rirs


def _box_faces(room):
    """Every box face as (axis, plane coordinate, outward sign, lo, hi, reflection)."""
    for box in room.boxes:
        reflection = np.sqrt((1 - box.absorption) * (1 - box.scattering))
        for axis in range(3):
            yield axis, box.lo[axis], -1.0, box.lo, box.hi, reflection
            yield axis, box.hi[axis], 1.0, box.lo, box.hi, reflection


def obstacle_specular_rirs(room, placement, head, length, fs=SAMPLE_RATE):
    """(2, length) first-order specular echoes from box faces (one image source per face)."""
    rirs = np.zeros((2, length))
    speaker = placement.speaker
    for axis, plane, sign, lo, hi, reflection in _box_faces(room):
        if sign * (speaker[axis] - plane) <= 0:
            continue                                  # the face looks away from the speaker
        image = speaker.copy()
        image[axis] = 2 * plane - speaker[axis]
        for ear_index, ear in enumerate(placement.ears):
            if sign * (ear[axis] - plane) <= 0:
                continue
            point = image + (plane - image[axis]) / (ear[axis] - image[axis]) * (ear - image)
            others = [a for a in range(3) if a != axis]
            if np.any(point[others] < lo[others]) or np.any(point[others] > hi[others]):
                continue
            distance = np.linalg.norm(ear - image)
            gain = (cardioid_gain(head.speaker_pattern, placement.forward, point - speaker)
                    * cardioid_gain(head.ear_pattern, placement.ear_axes[ear_index], point - ear))
            rirs[ear_index] += _impulses([distance / SPEED_OF_SOUND],
                                         [reflection * gain / distance], length, fs)
    return rirs


def scattering_rirs(room, placement, head, settings, length, rng, fs=SAMPLE_RATE):
    """(2, length) first-order diffuse returns from every surface seen by the speaker."""
    n_azimuth, n_elevation = settings.scatter_grid
    azimuth = 2 * np.pi * (np.arange(n_azimuth) + 0.5) / n_azimuth
    elevation = np.pi * ((np.arange(n_elevation) + 0.5) / n_elevation - 0.5)
    dir_h = np.stack([np.cos(azimuth), np.sin(azimuth)], axis=1)
    dir_z = np.tan(elevation)
    hits = cast_rays(room, placement.speaker, dir_h, dir_z)
    points = np.stack(hit_coordinates(hits, placement.speaker, dir_h, dir_z), -1).reshape(-1, 3)
    normals = FACE_NORMALS[face_codes(hits, dir_h, dir_z)].reshape(-1, 3)
    out_distance = (hits.t / np.cos(elevation)[:, None]).reshape(-1)
    solid_angle = (np.cos(elevation)[:, None] * (2 * np.pi / n_azimuth) * (np.pi / n_elevation)
                   * np.ones(n_azimuth)).reshape(-1)
    surface = hits.surface.reshape(-1)
    energy = room.surface_scattering[surface] * (1 - room.surface_absorption[surface])
    source_gain = cardioid_gain(head.speaker_pattern, placement.forward,
                                points - placement.speaker)
    sign = rng.choice([-1.0, 1.0], size=len(points))
    rirs = np.zeros((2, length))
    for ear_index, ear in enumerate(placement.ears):
        to_ear = ear - points
        back_distance = np.linalg.norm(to_ear, axis=1)
        cos_out = np.maximum(np.einsum('nc,nc->n', normals, to_ear) / back_distance, 0.0)
        ear_gain = cardioid_gain(head.ear_pattern, placement.ear_axes[ear_index], -to_ear)
        amplitude = (sign * source_gain * ear_gain / back_distance
                     * np.sqrt(energy * solid_angle * cos_out / np.pi))
        rirs[ear_index] = _impulses((out_distance + back_distance) / SPEED_OF_SOUND,
                                    amplitude, length, fs)
    return rirs


def reverberation_time(room):
    """Eyring reverberation time RT60 (seconds) of the empty shoebox."""
    lx, ly, lz = room.size
    areas = np.array([ly * lz, ly * lz, lx * lz, lx * lz, lx * ly, lx * ly])
    mean_absorption = areas @ room.absorption / areas.sum()
    return 24 * np.log(10) / SPEED_OF_SOUND * lx * ly * lz / (-areas.sum()
                                                              * np.log(1 - mean_absorption))


def add_late_tail(rirs, room, settings, rng, fs=SAMPLE_RATE):
    """Replace the response after the image sources' complete-coverage time by exponentially
    decaying noise that continues its energy envelope."""
    # Images of order <= N fill the ellipsoid sum_i |x_i| / L_i <= N; its inscribed sphere:
    covered = settings.ism_order / np.sqrt(np.sum(1.0 / room.size ** 2))
    start = int(covered / SPEED_OF_SOUND * fs)
    length = rirs.shape[1]
    if start >= length:
        return rirs
    decay = 3 * np.log(10) / reverberation_time(room)           # amplitude decay, 1/s
    window = slice(start // 2, start)
    level = np.sqrt(np.mean(rirs[:, window] ** 2)) * np.exp(-decay * 0.25 * start / fs)
    t = np.arange(length) / fs - start / fs
    tail = level * np.exp(-decay * t) * rng.standard_normal((2, length))
    fade = np.clip(t / (FADE_SECONDS) + 0.5, 0.0, 1.0)          # crossfade around ``start``
    return rirs * (1 - fade) + tail * fade


def direct_amplitude(placement, head):
    """Amplitude of the direct path speaker -> ear (same for both ears by symmetry)."""
    to_ear = placement.ears[0] - placement.speaker
    return (cardioid_gain(head.speaker_pattern, placement.forward, to_ear)
            * cardioid_gain(head.ear_pattern, placement.ear_axes[0], -to_ear)
            / np.linalg.norm(to_ear))


def simulate_binaural(room, pose, num_samples, onset, rng, settings=AcousticSettings(),
                      head=BinauralHead(), fs=SAMPLE_RATE):
    """Binaural recording (2, num_samples) float in [-1, 1]: the chirp leaves the speaker at
    sample ``onset`` (playback latency) and the ears record its echoes."""
    placement = place_head(pose, head)
    length = num_samples - onset
    rirs = (specular_room_rirs(room, placement, head, settings, length, fs)
            + obstacle_specular_rirs(room, placement, head, length, fs)
            + scattering_rirs(room, placement, head, settings, length, rng, fs))
    rirs = add_late_tail(rirs, room, settings, rng, fs)
    emitted = emitted_signal(settings, fs)
    gain = settings.direct_peak / (direct_amplitude(placement, head) * np.abs(emitted).max())
    echoes = signal.oaconvolve(rirs, emitted[None, :], axes=1)[:, :length]
    recording = np.zeros((2, num_samples))
    recording[:, onset:] = gain * echoes
    recording += recording_noise(recording.shape[1:], rng, settings, fs)
    return np.clip(recording, -1.0, 1.0)
