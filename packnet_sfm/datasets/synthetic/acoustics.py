"""Binaural echoes of a chirp, heard through the robot's rig.

Sound paths from the speaker (a cardioid-family source) to the head:
- specular room paths: pyroomacoustics' image-source model of the shoebox (walls, floor,
  ceiling; amplitude sqrt((1 - absorption)(1 - scattering)) per bounce);
- furniture: a first-order specular echo from every box face that the speaker sees, one
  image source per face, valid when the reflection point towards the head lies on the face;
- diffuse (Lambert) scattering: first-order returns from every surface the speaker sees, on
  a latitude-longitude grid of rays cast through the room, furniture included; a cell
  returns energy s (1 - a) D^2 dOmega cos(out) / (pi r2^2) with a random sign.
A path of length r has amplitude gain / r. The ears sit on a rigid sphere (the head): a path
to an ear in the sphere's shadow wraps around it (interaural time difference), and the
spherical-head filter of Brown and Duda (1998), (1 + alpha(theta) s / 2w0) / (1 + s / 2w0)
with w0 = c / radius, brightens the near ear and dulls the far one (interaural level
difference, frequency dependent). After the time the image sources fully cover, diffuse
reverberation continues each ear's envelope as independent, exponentially decaying noise
(Eyring reverberation time). The responses are convolved with the chirp as the speaker
plays it (high-pass, resonance, low-pass), pass each ear's microphone and pinna (resonance,
notch, gain), are scaled so the direct sound peaks at the rig's level and delayed by the
playback latency, and room noise is added: a low-frequency rumble mostly common to both ears
and independent microphone hiss. Every rig parameter is drawn per location (``random_rig``),
so that no single transfer function runs through the data.
Not modelled: furniture shadowing the room's paths, diffraction around furniture.
"""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyroomacoustics as pra
from scipy import signal

from .scene import FACE_NORMALS, ROOM_SURFACES, cast_rays, face_codes, hit_coordinates

SPEED_OF_SOUND = 340.0   # m/s, the value the BatVision loaders use
SAMPLE_RATE = 44100
FADE_SECONDS = 0.01      # crossfade from the image sources to the late tail
DIRECT_SECONDS = 0.005   # the direct sound's peak is looked for in this window
SHADOW_ALPHA, SHADOW_ANGLE = 0.1, np.radians(150.0)   # Brown and Duda's alpha_min, theta_min


@dataclass(frozen=True)
class Rig:
    """The robot's binaural rig at one location: a speaker in front of a spherical head with
    an ear on each side (metres), the transducers' responses (Hz, dB), the level and the
    room noise (full scale). The defaults are the middle of ``random_rig``'s ranges."""

    ear_spacing: float = 0.18             # the head's diameter
    height_above_camera: float = 0.12
    speaker_forward: float = 0.115        # from the head's centre
    speaker_lateral: float = 0.0          # to the left of the midline
    speaker_pattern: float = 0.55         # cardioid family p: 1 omni, 0.5 cardioid
    speaker_highpass: float = 300.0       # second order
    speaker_resonance: tuple = (3400.0, 9.0, 0.8)         # frequency, gain, Q
    speaker_lowpass: float = 16500.0      # first order
    ear_resonance: tuple = ((4200.0, 3.0, 2.0), (4200.0, 3.0, 2.0))   # left, right
    ear_notch: tuple = ((8500.0, -10.0, 2.25), (8500.0, -10.0, 2.25))
    ear_gain: tuple = (0.0, 0.0)          # dB
    direct_peak: float = 0.55
    rumble_rms: float = 0.0045
    rumble_cutoff: float = 200.0          # Hz, second-order low-pass
    rumble_coherence: float = 0.85        # fraction of the rumble's power common to both ears
    hiss_rms: float = 0.0003

    @property
    def head_radius(self):
        return self.ear_spacing / 2


def random_rig(rng):
    """A rig with every parameter drawn uniformly from a plausible range, centred on values
    fitted to the real V2 recording (band energies, noise floor, left/right correlation;
    ``realism.py``)."""
    u = rng.uniform

    def ears(low, high):
        return tuple(tuple(float(v) for v in u(low, high)) for _ in range(2))

    return Rig(ear_spacing=u(0.17, 0.19), speaker_forward=u(0.10, 0.13),
               speaker_lateral=u(-0.015, 0.015), speaker_pattern=u(0.5, 0.6),
               speaker_highpass=u(200.0, 400.0),
               speaker_resonance=tuple(float(v) for v in u([2900, 7, 0.6], [3900, 11, 1.0])),
               speaker_lowpass=u(13000.0, 20000.0),
               ear_resonance=ears([3200, 0, 1], [5200, 6, 3]),
               ear_notch=ears([7500, -14, 1.5], [9500, -6, 3]),
               ear_gain=tuple(float(v) for v in u(-1.5, 1.5, 2)), direct_peak=u(0.4, 0.7),
               rumble_rms=u(0.003, 0.006), rumble_cutoff=u(120.0, 280.0),
               rumble_coherence=u(0.7, 1.0), hiss_rms=u(0.00015, 0.00045))


@dataclass(frozen=True)
class AcousticSettings:
    """Simulation parameters: cost knobs (ism_order, scatter_grid), the chirp, and switches
    for the furniture echoes and the diffuse scattering."""

    ism_order: int = 8
    scatter_grid: tuple = (72, 36)        # azimuths, elevations
    chirp_seconds: float = 0.003
    chirp_band: tuple = (20.0, 20000.0)   # Hz, swept linearly
    chirp_taper: float = 0.05             # Tukey window fraction
    furniture_echoes: bool = True
    diffuse_scattering: bool = True


@dataclass(frozen=True)
class HeadPlacement:
    speaker: np.ndarray          # (3,)
    forward: np.ndarray          # (3,) speaker axis
    centre: np.ndarray           # (3,) of the head
    ear_normals: np.ndarray      # (2, 3) outward at the left and right ear
    radius: float

    @property
    def ears(self):
        return self.centre + self.radius * self.ear_normals


def place_head(pose, rig=Rig()):
    """World positions of the speaker and the head for a robot pose."""
    centre = pose.camera + np.array([0.0, 0.0, rig.height_above_camera])
    speaker = centre + rig.speaker_forward * pose.forward + rig.speaker_lateral * pose.left
    return HeadPlacement(speaker=speaker, forward=pose.forward, centre=centre,
                         ear_normals=np.stack([pose.left, -pose.left]), radius=rig.head_radius)


def cardioid_gain(pattern, axis, directions):
    """Amplitude gain p + (1 - p) cos(angle) of a cardioid-family pattern; directions (..., 3)."""
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    return pattern + (1.0 - pattern) * (unit @ axis)


def _peaking(frequency, gain_db, q, fs):
    """Second-order peaking filter (gain at ``frequency``, unity far from it) as (b, a)."""
    b, a = signal.iirpeak(frequency, q, fs=fs)
    return a + (10 ** (gain_db / 20) - 1) * b, a


def _sos(*filters):
    """Second-order sections of a cascade of (b, a) filters."""
    return np.concatenate([signal.tf2sos(b, a) for b, a in filters])


@lru_cache(maxsize=64)
def emitted_signal(settings=AcousticSettings(), rig=Rig(), fs=SAMPLE_RATE):
    """The chirp as the speaker plays it: linear sweep, tapered, through the speaker's
    high-pass, resonance and low-pass (their ringing included)."""
    t = np.arange(int(round(settings.chirp_seconds * fs))) / fs
    sweep = signal.chirp(t, f0=settings.chirp_band[0], t1=t[-1], f1=settings.chirp_band[1])
    sweep *= signal.windows.tukey(len(t), alpha=settings.chirp_taper)
    sos = _sos(signal.butter(2, rig.speaker_highpass, 'highpass', fs=fs),
               _peaking(*rig.speaker_resonance, fs),
               signal.butter(1, rig.speaker_lowpass, fs=fs))
    return signal.sosfilt(sos, np.concatenate([sweep, np.zeros(int(0.005 * fs))]))


@lru_cache(maxsize=64)
def ear_filters(rig=Rig(), fs=SAMPLE_RATE):
    """Second-order sections of the left and right microphone and pinna responses."""
    filters = []
    for resonance, notch, gain in zip(rig.ear_resonance, rig.ear_notch, rig.ear_gain,
                                      strict=True):
        sos = _sos(_peaking(*resonance, fs), _peaking(*notch, fs))
        sos[0, :3] *= 10 ** (gain / 20)
        filters.append(sos)
    return filters


@lru_cache(maxsize=64)
def head_shadow_filters(radius, fs=SAMPLE_RATE):
    """(b, a) of the two parts of the spherical-head filter, H = dull + alpha * bright:
    1 / (1 + s / 2w0) and (s / 2w0) / (1 + s / 2w0), w0 = c / radius (bilinear transform)."""
    tau = radius / (2 * SPEED_OF_SOUND)
    return (signal.bilinear([0.0, 1.0], [tau, 1.0], fs=fs),
            signal.bilinear([tau, 0.0], [tau, 1.0], fs=fs))


def head_paths(points, placement):
    """Per ear: the length of the shortest path from each point (N, 3) to the ear outside the
    head sphere (straight where the ear sees the point, else along a tangent and around the
    sphere), and the angle between the direction of the point and the ear's normal."""
    to_point = points - placement.centre
    distance = np.linalg.norm(to_point, axis=1)
    radius = placement.radius
    limb = np.arccos(np.minimum(radius / distance, 1.0))     # the ear sees the point within it
    lengths, angles = [], []
    for ear, normal in zip(placement.ears, placement.ear_normals, strict=True):
        angle = np.arccos(np.clip(to_point @ normal / distance, -1.0, 1.0))
        straight = np.linalg.norm(points - ear, axis=1)
        around = np.sqrt(np.maximum(distance ** 2 - radius ** 2, 0.0)) + radius * (angle - limb)
        lengths.append(np.where(angle <= limb, straight, around))
        angles.append(angle)
    return np.array(lengths), np.array(angles)


def shadow_alpha(angle):
    """Brown and Duda's high-frequency gain of the spherical head at incidence ``angle``
    from the ear's normal: 2 facing the ear, 0.1 at 150 degrees (a bright spot behind)."""
    return (1 + SHADOW_ALPHA / 2) + (1 - SHADOW_ALPHA / 2) * np.cos(angle / SHADOW_ANGLE * np.pi)


def _impulses(delays, amplitudes, length, fs):
    """Impulse train (length,) with each impulse split linearly over two samples."""
    position = np.asarray(delays) * fs
    index = np.floor(position).astype(np.int64)
    frac = position - index
    keep = (index >= 0) & (index + 1 < length)
    index, frac, amplitudes = index[keep], frac[keep], np.asarray(amplitudes)[keep]
    return (np.bincount(index, amplitudes * (1 - frac), minlength=length)
            + np.bincount(index + 1, amplitudes * frac, minlength=length))[:length]


@dataclass(frozen=True)
class Paths:
    """Sound paths that reach the head from ``sources`` (N, 3): a path has length
    ``before`` (N,) up to its source plus the way from the source to an ear around the head,
    and amplitude ``gain`` ((N,), or (2, N) per ear) divided by that last part's length."""

    sources: np.ndarray
    before: np.ndarray
    gain: np.ndarray


def _ear_trains(paths, placement, length, fs):
    """(2 ears, 2, length): impulse trains of the dull part and of the alpha-weighted bright
    part of the head filter."""
    lengths, angles = head_paths(paths.sources, placement)
    gains = np.broadcast_to(paths.gain, lengths.shape)
    trains = np.zeros((2, 2, length))
    for ear in range(2):
        delays = (paths.before + lengths[ear]) / SPEED_OF_SOUND
        amplitude = gains[ear] / lengths[ear]
        trains[ear] = [_impulses(delays, amplitude, length, fs),
                       _impulses(delays, amplitude * shadow_alpha(angles[ear]), length, fs)]
    return trains


def specular_room_paths(room, placement, rig, settings):
    """The shoebox's image sources (pyroomacoustics), the direct sound included."""
    reflection = (1 - room.absorption) * (1 - room.scattering)
    materials = {name: pra.Material(energy_absorption=float(1 - r))
                 for name, r in zip(ROOM_SURFACES, reflection, strict=True)}
    shoebox = pra.ShoeBox(room.size, fs=SAMPLE_RATE, materials=materials,
                          max_order=settings.ism_order)
    shoebox.add_source(placement.speaker)
    shoebox.add_microphone(placement.centre)
    shoebox.image_source_model()
    source = shoebox.sources[0]
    images = source.images.T
    # A path leaves the speaker towards the ear's image: mirrored on odd reflection axes.
    mirror = np.where(source.orders_xyz.T % 2 == 1, -1.0, 1.0)
    gain = [source.damping[0] * cardioid_gain(rig.speaker_pattern, placement.forward,
                                              (ear - images) * mirror)
            for ear in placement.ears]
    return Paths(sources=images, before=np.zeros(len(images)), gain=np.array(gain))


def _box_faces(room):
    """Every box face as (axis, plane coordinate, outward sign, lo, hi, reflection)."""
    for box in room.boxes:
        reflection = np.sqrt((1 - box.absorption) * (1 - box.scattering))
        for axis in range(3):
            yield axis, box.lo[axis], -1.0, box.lo, box.hi, reflection
            yield axis, box.hi[axis], 1.0, box.lo, box.hi, reflection


def furniture_paths(room, placement, rig):
    """First-order specular echoes from the box faces (one image source per face)."""
    speaker, centre = placement.speaker, placement.centre
    images, gains = [], []
    for axis, plane, sign, lo, hi, reflection in _box_faces(room):
        if sign * (speaker[axis] - plane) <= 0 or sign * (centre[axis] - plane) <= 0:
            continue                                  # the face looks away from speaker or head
        image = speaker.copy()
        image[axis] = 2 * plane - speaker[axis]
        point = image + (plane - image[axis]) / (centre[axis] - image[axis]) * (centre - image)
        others = [a for a in range(3) if a != axis]
        if np.any(point[others] < lo[others]) or np.any(point[others] > hi[others]):
            continue
        images.append(image)
        gains.append(reflection * cardioid_gain(rig.speaker_pattern, placement.forward,
                                                point - speaker))
    return Paths(sources=np.array(images).reshape(-1, 3), before=np.zeros(len(images)),
                 gain=np.array(gains))


def scattering_paths(room, placement, rig, settings, rng):
    """First-order diffuse returns from every surface the speaker sees."""
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
    to_head = placement.centre - points
    cos_out = np.maximum(np.einsum('nc,nc->n', normals, to_head)
                         / np.linalg.norm(to_head, axis=1), 0.0)
    gain = (rng.choice([-1.0, 1.0], size=(2, len(points)))     # independent phase per ear
            * cardioid_gain(rig.speaker_pattern, placement.forward, points - placement.speaker)
            * np.sqrt(energy * solid_angle * cos_out / np.pi))
    return Paths(sources=points, before=out_distance, gain=gain)


def reverberation_time(room):
    """Eyring reverberation time RT60 (seconds) of the empty shoebox."""
    lx, ly, lz = room.size
    areas = np.array([ly * lz, ly * lz, lx * lz, lx * lz, lx * ly, lx * ly])
    mean_absorption = areas @ room.absorption / areas.sum()
    return 24 * np.log(10) / SPEED_OF_SOUND * lx * ly * lz / (-areas.sum()
                                                              * np.log(1 - mean_absorption))


def add_late_tail(rirs, room, settings, rng, fs=SAMPLE_RATE):
    """Replace the response after the image sources' complete-coverage time by exponentially
    decaying noise (independent per ear) that continues its energy envelope."""
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


def room_noise(num_samples, rig, rng, fs=SAMPLE_RATE):
    """(2, num_samples): a low-frequency rumble (a ``rumble_coherence`` share of its power
    common to both ears) plus independent white microphone hiss."""
    white = rng.standard_normal((5, num_samples))
    coherence = rig.rumble_coherence
    rumble = np.sqrt(coherence) * white[0] + np.sqrt(1 - coherence) * white[1:3]
    rumble = signal.sosfilt(_lowpass(rig.rumble_cutoff, fs), rumble, axis=-1)
    rumble *= rig.rumble_rms / rumble.std()
    return rumble + rig.hiss_rms * white[3:]


@lru_cache(maxsize=64)
def _lowpass(cutoff, fs):
    """Second-order Butterworth low-pass as second-order sections."""
    return signal.butter(2, cutoff, fs=fs, output='sos')


def ear_responses(room, pose, rng, settings=AcousticSettings(), rig=Rig(), length=20000,
                  fs=SAMPLE_RATE):
    """(2, length) impulse responses from the speaker to the left and right ear. The diffuse
    returns and the late tail draw from their own child generators of ``rng``, so switching
    a part off leaves the others' random draws unchanged."""
    scattering_rng, tail_rng = rng.spawn(2)
    placement = place_head(pose, rig)
    paths = [specular_room_paths(room, placement, rig, settings)]
    if settings.furniture_echoes:
        paths.append(furniture_paths(room, placement, rig))
    if settings.diffuse_scattering:
        paths.append(scattering_paths(room, placement, rig, settings, scattering_rng))
    trains = sum(_ear_trains(p, placement, length, fs) for p in paths)
    (dull_b, dull_a), (bright_b, bright_a) = head_shadow_filters(rig.head_radius, fs)
    rirs = (signal.lfilter(dull_b, dull_a, trains[:, 0], axis=-1)
            + signal.lfilter(bright_b, bright_a, trains[:, 1], axis=-1))
    return add_late_tail(rirs, room, settings, tail_rng, fs)


def simulate_binaural(room, pose, num_samples, onset, rng, settings=AcousticSettings(),
                      rig=Rig(), fs=SAMPLE_RATE):
    """Binaural recording (2, num_samples) float in [-1, 1]: the chirp leaves the speaker at
    sample ``onset`` (playback latency) and the ears record its echoes."""
    length = num_samples - onset
    responses_rng, noise_rng = rng.spawn(2)
    rirs = ear_responses(room, pose, responses_rng, settings, rig, length, fs)
    echoes = signal.oaconvolve(rirs, emitted_signal(settings, rig, fs)[None, :], axes=1)[:, :length]
    echoes = np.stack([signal.sosfilt(sos, ear) for sos, ear in zip(ear_filters(rig, fs), echoes,
                                                                    strict=True)])
    echoes *= rig.direct_peak / np.abs(echoes[:, :int(DIRECT_SECONDS * fs)]).max()
    recording = np.zeros((2, num_samples))
    recording[:, onset:] = echoes
    recording += room_noise(num_samples, rig, noise_rng, fs)
    return np.clip(recording, -1.0, 1.0)
