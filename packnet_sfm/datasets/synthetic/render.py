"""Ray-cast depth and a Lambertian-shaded RGB image from a level pinhole camera."""
from dataclasses import dataclass

import cv2
import numpy as np

from .scene import cast_rays, hit_coordinates, row_bands, window_mask

SKY_COLOR = np.array([0.88, 0.93, 1.0], np.float32)
AMBIENT, DIFFUSE = 0.35, 0.8
SHADING_STRIDE = 2      # the RGB image is shaded on every 2nd pixel and upsampled 2x
IMAGE_NOISE = 0.006     # standard deviation of the image noise


@dataclass(frozen=True)
class PinholeCamera:
    """A level pinhole camera with square pixels; the vertical field of view follows."""

    width: int
    height: int
    hfov_deg: float

    @property
    def focal(self):
        return (self.width / 2) / np.tan(np.radians(self.hfov_deg) / 2)

    @property
    def center(self):
        return (self.width - 1) / 2, (self.height - 1) / 2


@dataclass(frozen=True)
class View:
    """What the camera sees: planar depth in metres (through windows: the outside), the surface
    index per pixel, whether a pixel looks through a window, and an RGB image (uint8)."""

    depth: np.ndarray
    surface: np.ndarray
    window: np.ndarray
    rgb: np.ndarray


def camera_rays(camera, pose):
    """Per-column horizontal and per-row vertical ray directions with unit forward component,
    so the ray parameter of a hit is its planar (z) depth."""
    cx, cy = camera.center
    x_cam = (np.arange(camera.width) - cx) / camera.focal        # right
    y_cam = (np.arange(camera.height) - cy) / camera.focal       # down
    dir_h = pose.forward[None, :2] - x_cam[:, None] * pose.left[None, :2]
    return dir_h, -y_cam


def _hash01(values):
    """A deterministic pseudo-random number in [0, 1) per integer value."""
    return np.modf(np.abs(np.sin(values * np.float32(12.9898) + np.float32(78.233)))
                   * np.float32(43758.5453))[0]


def _texture(x, y, z, surface):
    """Brightness modulation (float32): wooden floor planks, baseboards, faint wall and
    furniture grain."""
    texture = np.sin(7.1 * x + 5.3 * y + 9.7 * z)
    texture *= 0.04
    texture *= np.sin(3.3 * x - 4.1 * y + 2.9 * z)
    texture += 1.0
    floor = surface == 4
    x, y = x[floor], y[floor]
    plank = np.floor(x / np.float32(0.14))
    texture[floor] = (0.8 + 0.35 * _hash01(plank)) * (1.0 + 0.06 * np.sin(40.0 * y + 9.0 * plank))
    texture[(surface < 4) & (z < 0.1)] *= 0.75
    return texture


def _facing(hits, dir_h, dir_z, lx, ly, lz):
    """Per hit: the hit face's normal . (light - point). The normal lies on the hit axis and
    points back towards the ray origin (``FACE_NORMALS[face_codes(...)]``)."""
    back_x, back_y, back_z = (np.where(d > 0, -1.0, 1.0) for d in (dir_h[:, 0], dir_h[:, 1], dir_z))
    return np.where(hits.axis == 0, lx * back_x,
                    np.where(hits.axis == 1, ly * back_y, lz * back_z[:, None]))


def _shade(room, origin, hits, dir_h, dir_z):
    """Lambertian shading under a ceiling light plus ambient light; RGB float in [0, 1]."""
    x, y, z = hit_coordinates(hits, origin, dir_h, dir_z)
    lx, ly, lz = room.size[0] / 2 - x, room.size[1] / 2 - y, room.size[2] - 0.05 - z
    distance = lx * lx
    distance += ly * ly
    distance += lz * lz
    np.sqrt(distance, out=distance)
    cosine = _facing(hits, dir_h, dir_z, lx, ly, lz)
    cosine /= np.maximum(distance, 1e-6)
    np.maximum(cosine, 0.0, out=cosine)
    irradiance = DIFFUSE * cosine
    distance *= 0.03 * distance
    distance += 1.0
    irradiance /= distance
    irradiance += AMBIENT
    irradiance *= _texture(x, y, z, hits.surface)
    color = np.take(room.surface_colors.astype(np.float32).astype(np.float64), hits.surface,
                    axis=0)
    color *= irradiance[..., None]
    return color


def _upsampled_uint8(color, width, height):
    """Bilinear 2x upsampling of float RGB in [0, 1] to (height, width) uint8, band by band:
    a band of output rows needs its source rows and one more on each side, and the stride-2
    upsampling of that sub-image gives exactly the rows of the whole image's upsampling."""
    if height != 2 * color.shape[0]:
        raise ValueError(f'an image of {height} rows is not 2x {color.shape[0]} shaded rows')
    rgb = np.empty((height, width, 3), np.uint8)
    for rows in row_bands(color.shape[0]):
        first, last = max(rows.start - 1, 0), min(rows.stop + 1, color.shape[0])
        band = cv2.resize(color[first:last], (width, 2 * (last - first)),
                          interpolation=cv2.INTER_LINEAR)
        band = band[2 * (rows.start - first):2 * (rows.stop - first)]
        np.clip(band, 0.0, 1.0, out=band)
        band *= 255.0
        band += 0.5
        rgb[2 * rows.start:2 * rows.stop] = band
    return rgb


def render_view(room, pose, camera, rng):
    """Ray-cast the room from the robot's camera: depth (metres), surfaces and RGB.

    Depth is exact at every pixel; the RGB image is shaded on every ``SHADING_STRIDE``-th
    pixel and upsampled to full resolution (a camera image is blurred by its optics anyway).
    """
    dir_h, dir_z = camera_rays(camera, pose)
    hits = cast_rays(room, pose.camera, dir_h, dir_z)
    window, depth = window_mask(room, hits, pose.camera, dir_h, dir_z)
    step = slice(None, None, SHADING_STRIDE)
    coarse, coarse_h, coarse_z, sky = hits[step, step], dir_h[step], dir_z[step], window[step, step]
    color = np.empty(coarse.t.shape + (3,))
    for rows in row_bands(len(color)):       # consecutive draws: the stream of one big draw
        band = _shade(room, pose.camera, coarse[rows], coarse_h, coarse_z[rows])
        band[sky[rows]] = SKY_COLOR
        band += np.multiply(rng.standard_normal(band.shape), IMAGE_NOISE,
                            out=np.empty(band.shape, np.float32), casting='same_kind')
        color[rows] = band
    return View(depth=depth, surface=hits.surface, window=window,
                rgb=_upsampled_uint8(color, camera.width, camera.height))
