"""Ray-cast depth and a Lambertian-shaded RGB image from a level pinhole camera."""
from dataclasses import dataclass

import cv2
import numpy as np

from .scene import Hits, cast_rays, face_codes, hit_coordinates, window_mask

SKY_COLOR = np.array([0.88, 0.93, 1.0], np.float32)
AMBIENT, DIFFUSE = 0.35, 0.8


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
    """Brightness modulation: wooden floor planks, baseboards, faint wall and furniture grain."""
    grain = 1.0 + 0.04 * np.sin(7.1 * x + 5.3 * y + 9.7 * z) * np.sin(3.3 * x - 4.1 * y + 2.9 * z)
    plank = np.floor(x / np.float32(0.14))
    floor = (0.8 + 0.35 * _hash01(plank)) * (1.0 + 0.06 * np.sin(40.0 * y + 9.0 * plank))
    texture = np.where(surface == 4, floor, grain)
    return np.where((surface < 4) & (z < 0.1), 0.75 * texture, texture).astype(np.float32)


def _shade(room, coordinates, codes, surface):
    """Lambertian shading under a ceiling light plus ambient light; RGB float in [0, 1]."""
    x, y, z = coordinates
    lx, ly, lz = room.size[0] / 2 - x, room.size[1] / 2 - y, room.size[2] - 0.05 - z
    distance = np.sqrt(lx * lx + ly * ly + lz * lz)
    facing = np.choose(codes, [lx, -lx, ly, -ly, lz, -lz])    # normal . (light - point)
    cosine = np.maximum(facing / np.maximum(distance, 1e-6), 0.0)
    irradiance = AMBIENT + DIFFUSE * cosine / (1.0 + 0.03 * distance * distance)
    albedo = room.surface_colors.astype(np.float32)[surface]
    return albedo * (_texture(x, y, z, surface) * irradiance)[..., None]


def render_view(room, pose, camera, rng, shading_stride=2):
    """Ray-cast the room from the robot's camera: depth (metres), surfaces and RGB.

    Depth is exact at every pixel; the RGB image is shaded on every ``shading_stride``-th
    pixel and resized to full resolution (a camera image is blurred by its optics anyway).
    """
    dir_h, dir_z = camera_rays(camera, pose)
    hits = cast_rays(room, pose.camera, dir_h, dir_z)
    window, outside = window_mask(room, hits, hit_coordinates(hits, pose.camera, dir_h, dir_z))
    step = slice(None, None, shading_stride)
    coarse = Hits(t=hits.t[step, step], surface=hits.surface[step, step],
                  axis=hits.axis[step, step])
    coarse_dirs = dir_h[step], dir_z[step]
    coordinates = hit_coordinates(coarse, pose.camera, *coarse_dirs)
    color = _shade(room, coordinates, face_codes(coarse, *coarse_dirs), coarse.surface)
    color[window[step, step]] = SKY_COLOR
    color += rng.normal(0.0, 0.006, color.shape).astype(np.float32)
    color = cv2.resize(color, (camera.width, camera.height), interpolation=cv2.INTER_LINEAR)
    rgb = (np.clip(color, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    depth = np.where(window, outside, hits.t)
    return View(depth=depth, surface=hits.surface, window=window, rgb=rgb)
