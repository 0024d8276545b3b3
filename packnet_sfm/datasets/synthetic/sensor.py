"""A stereo depth camera (ZED-like) turning exact planar depth into a realistic depth map.

Invalid pixels come from the stereo geometry itself, as in the real BatVision depth maps:
pixels of the left image that the right camera cannot see (a left band as wide as the
disparity, and shadows left of near objects), unreliable matches at depth edges, a cropped
top border and a ragged right border, blobs where matching fails on textureless surfaces
(a few isolated pixels of which report zero disparity, i.e. a far value, and some blobs the
maximum disparity, i.e. too close), glass it cannot match through, and anything nearer than
the minimum range. Valid depth carries disparity noise.
"""
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class StereoSensor:
    """Stereo depth camera parameters (lengths in metres, disparities in pixels)."""

    baseline: float = 0.07           # effective: the real sample's left band is ~38 px at ~1.2 m
    min_depth: float = 0.3
    disparity_noise: float = 0.08
    edge_threshold: float = 0.04      # relative depth jump that makes a pixel an edge
    edge_width: int = 3
    top_rows: tuple = (6, 24)
    right_band: tuple = (0, 70)
    failure_fraction: tuple = (0.06, 0.18)
    far_fraction: float = 0.002       # of failed pixels: zero disparity (reported far)
    near_fraction: float = 0.1        # of failure blobs: maximum disparity (reported too close)
    blob_cells: tuple = (64, 16)      # pixels per cell of the random fields shaping blobs
    textureless_bias: float = 0.6     # how much likelier blobs are on plain walls and ceilings


@dataclass(frozen=True)
class SensorDepth:
    """Noisy depth (metres) and the invalid-pixel masks, each (H, W)."""

    depth: np.ndarray
    missing: np.ndarray     # occluded, edge, border or failed match: no value
    far: np.ndarray         # zero disparity: a spurious far value
    too_close: np.ndarray   # nearer than the minimum range or maximum disparity


def occluded_mask(depth, focal, baseline):
    """Left-image pixels hidden from the right camera (including the left band).

    Pixel u of a row lands at u - d(u) in the right image; it is hidden when it falls off the
    image or when a pixel to its right lands at or left of it (a nearer surface covers it).
    """
    disparity = focal * baseline / np.maximum(depth, 1e-3)
    landing = np.arange(depth.shape[1], dtype=np.float32)[None, :] - disparity
    right_min = np.minimum.accumulate(landing[:, ::-1], axis=1)[:, ::-1]
    next_min = np.concatenate([right_min[:, 1:], np.full((depth.shape[0], 1), np.inf)], axis=1)
    return (landing < 0) | (landing > next_min + 0.5)


def edge_mask(depth, threshold, width):
    """Pixels within ``width`` of a relative depth jump larger than ``threshold``."""
    jump_x = np.abs(np.diff(depth, axis=1)) > threshold * depth[:, 1:]
    jump_y = np.abs(np.diff(depth, axis=0)) > threshold * depth[1:, :]
    edges = np.zeros(depth.shape, np.uint8)
    edges[:, 1:] |= jump_x
    edges[1:, :] |= jump_y
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.dilate(edges, kernel).astype(bool)


def _smooth_field(rng, shape, cells):
    """A smooth random field (H, W): unit-variance noise on grids of ``cells`` pixels, upsampled
    and summed with amplitudes halving from the coarsest grid."""
    field = np.zeros(shape, np.float32)
    for level, cell in enumerate(cells):
        grid = (shape[0] // cell + 2, shape[1] // cell + 2)
        coarse = rng.standard_normal(grid).astype(np.float32)
        field += 0.5 ** level * cv2.resize(coarse, (shape[1], shape[0]),
                                           interpolation=cv2.INTER_CUBIC)
    return field


def _top_fraction(field, fraction):
    """Mask of the ``fraction`` largest values of ``field`` (threshold from a subsample)."""
    return field > np.quantile(field[::8, ::8], 1 - fraction)


def border_mask(rng, shape, top_rows, right_band):
    """A ragged invalid band at the top and at the right of the image."""
    height, width = shape
    columns, rows = np.arange(width), np.arange(height)
    top = rng.uniform(*top_rows) + 6 * np.abs(np.sin(columns / rng.uniform(15, 60)))
    right = rng.uniform(*right_band) * (1 + 0.3 * np.sin(rows / rng.uniform(10, 40)))
    return (rows[:, None] < top[None, :]) | (columns[None, :] >= width - right[:, None])


def simulate_stereo_depth(depth, focal, rng, textureless, unmatchable, sensor=StereoSensor()):
    """Sensor depth map from exact planar depth (metres) seen by the left camera.

    ``textureless`` marks plain surfaces where matching fails more often, ``unmatchable``
    pixels where it always fails (glass); both (H, W) bool.
    """
    shape = depth.shape
    failure = _smooth_field(rng, shape, sensor.blob_cells) + sensor.textureless_bias * textureless
    failed = _top_fraction(failure, rng.uniform(*sensor.failure_fraction)) | unmatchable
    far = failed & (rng.random(shape) < sensor.far_fraction)
    blob_near = failed & _top_fraction(_smooth_field(rng, shape, sensor.blob_cells[:1]),
                                       sensor.near_fraction)
    too_close = (depth < sensor.min_depth) | blob_near
    missing = (occluded_mask(depth, focal, sensor.baseline)
               | edge_mask(depth, sensor.edge_threshold, sensor.edge_width)
               | border_mask(rng, shape, sensor.top_rows, sensor.right_band)
               | (failed & ~far & ~blob_near))
    disparity = focal * sensor.baseline / np.maximum(depth, 1e-3)
    noise = rng.normal(0.0, sensor.disparity_noise, shape).astype(np.float32)
    noisy = (focal * sensor.baseline / np.maximum(disparity + noise, 1e-3)).astype(np.float32)
    far &= ~missing
    return SensorDepth(depth=noisy, missing=missing, far=far, too_close=too_close & ~missing & ~far)
