"""A stereo depth camera (ZED-like) turning exact planar depth into a realistic depth map.

Invalid pixels come from the stereo geometry itself, as in the real BatVision depth maps:
pixels of the left image that the right camera cannot see (a left band as wide as the
disparity, and shadows left of near objects), unreliable matches at depth edges, a cropped
top border and a ragged right border, blobs where matching fails on textureless surfaces
(a few isolated pixels of which report zero disparity, i.e. a far value, and some blobs the
maximum disparity, i.e. too close), glass it cannot match through, and anything nearer than
the minimum range. Valid depth carries disparity noise, correlated over 2 x 2 pixels as block
matching makes it.
"""
from dataclasses import dataclass

import cv2
import numpy as np

from .scene import row_bands


@dataclass(frozen=True)
class StereoSensor:
    """Stereo depth camera parameters (lengths in metres, disparities in pixels)."""

    baseline: float = 0.07           # effective: the real sample's left band is ~38 px at ~1.2 m
    min_depth: float = 0.3
    disparity_noise: float = 0.08     # standard deviation, constant over 2 x 2 pixels
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


def occluded_mask(disparity):
    """Left-image pixels hidden from the right camera (including the left band), from the
    left image's disparity (pixels).

    Pixel u of a row lands at u - d(u) in the right image; it is hidden when it falls off the
    image or when a pixel to its right lands at or left of it (a nearer surface covers it).
    Only rows where the landing positions ever decrease can hide a pixel that way.
    """
    landing = np.arange(disparity.shape[1], dtype=np.float32)[None, :] - disparity
    hidden = landing < 0
    rows = np.flatnonzero((landing[:, 1:] < landing[:, :-1]).any(axis=1))
    if rows.size:
        landing = landing[rows]
        right_min = np.minimum.accumulate(landing[:, ::-1], axis=1)[:, ::-1]
        right_min += 0.5
        hidden[rows, :-1] |= landing[:, :-1] > right_min[:, 1:]
    return hidden


def edge_mask(depth, threshold, width):
    """Pixels within ``width`` of a relative depth jump larger than ``threshold``."""
    edges = np.zeros(depth.shape, np.uint8)
    edges[:, 1:] = cv2.absdiff(depth[:, 1:], depth[:, :-1]) > threshold * depth[:, 1:]
    edges[1:, :] |= cv2.absdiff(depth[1:, :], depth[:-1, :]) > threshold * depth[1:, :]
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    return cv2.dilate(edges, kernel).view(bool)


def _smooth_field(rng, shape, cells):
    """A smooth random field (H, W): unit-variance noise on grids of ``cells`` pixels, upsampled
    and summed with amplitudes halving from the coarsest grid."""
    field = None
    for level, cell in enumerate(cells):
        grid = (shape[0] // cell + 2, shape[1] // cell + 2)
        coarse = rng.standard_normal(grid).astype(np.float32)
        layer = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
        layer *= 0.5 ** level
        field = layer if field is None else np.add(field, layer, out=field)
    return field


def _top_fraction(field, fraction):
    """Mask of the ``fraction`` largest values of ``field`` (threshold from a subsample)."""
    return field > np.quantile(field[::8, ::8], 1 - fraction)


def _smallest_float32_above(threshold, offset):
    """The smallest float32 x with float64(x) + offset > threshold (x -> float64(x) + offset
    rounds monotonically, so for any float32 x the test equals x >= this value)."""
    x = np.float32(threshold - offset)
    while np.float64(x) + offset > threshold:
        x = np.nextafter(x, np.float32(-np.inf))
    while not np.float64(x) + offset > threshold:
        x = np.nextafter(x, np.float32(np.inf))
    return x


def _top_fraction_biased(field, biased, bias, fraction):
    """``_top_fraction`` of float64(field) + bias * biased for a float32 ``field``, without
    building that float64 sum: each class of pixels is compared with its exact float32
    threshold."""
    sample = field[::8, ::8].astype(np.float64)
    np.add(sample, bias, out=sample, where=biased[::8, ::8])
    threshold = np.quantile(sample, 1 - fraction)
    top = biased & (field >= _smallest_float32_above(threshold, bias))
    top |= ~biased & (field >= _smallest_float32_above(threshold, 0.0))
    return top


def _block_noise(rng, shape, sigma, block=2):
    """Gaussian noise constant over ``block`` x ``block`` pixels: block matching correlates
    the disparity errors of neighbouring pixels."""
    coarse = rng.normal(0.0, sigma, (-(-shape[0] // block), -(-shape[1] // block)))
    return coarse.repeat(block, axis=0).repeat(block, axis=1)[:shape[0], :shape[1]]


def border_mask(rng, shape, top_rows, right_band):
    """A ragged invalid band at the top and at the right of the image."""
    height, width = shape
    columns, rows = np.arange(width), np.arange(height)
    top = rng.uniform(*top_rows) + 6 * np.abs(np.sin(columns / rng.uniform(15, 60)))
    right = rng.uniform(*right_band) * (1 + 0.3 * np.sin(rows / rng.uniform(10, 40)))
    mask = np.zeros(shape, bool)
    top_band = slice(0, int(np.ceil(top.max())))       # only these rows can be in the band
    mask[top_band] = rows[top_band, None] < top[None, :]
    right_columns = slice(width - int(np.ceil(right.max())), width)
    mask[:, right_columns] |= columns[None, right_columns] >= width - right[:, None]
    return mask


def simulate_stereo_depth(depth, focal, rng, textureless, unmatchable, sensor=StereoSensor()):
    """Sensor depth map from exact planar depth (metres) seen by the left camera.

    ``textureless`` marks plain surfaces where matching fails more often, ``unmatchable``
    pixels where it always fails (glass); both (H, W) bool.
    """
    shape = depth.shape
    failed = _top_fraction_biased(_smooth_field(rng, shape, sensor.blob_cells), textureless,
                                  sensor.textureless_bias, rng.uniform(*sensor.failure_fraction))
    failed |= unmatchable
    far = np.zeros(shape, bool)
    failures = np.flatnonzero(failed)
    far.flat[failures[rng.random(failures.size) < sensor.far_fraction]] = True
    blob_near = _top_fraction(_smooth_field(rng, shape, sensor.blob_cells[:1]),
                              sensor.near_fraction)
    blob_near &= failed
    too_close = depth < sensor.min_depth
    too_close |= blob_near
    missing = edge_mask(depth, sensor.edge_threshold, sensor.edge_width)
    missing |= border_mask(rng, shape, sensor.top_rows, sensor.right_band)
    missing |= failed & ~far & ~blob_near
    noisy = np.empty(shape, np.float32)
    focal_baseline = focal * sensor.baseline
    for rows in row_bands(shape[0]):
        disparity = focal_baseline / np.maximum(depth[rows], 1e-3)
        missing[rows] |= occluded_mask(disparity)
        disparity += _block_noise(rng, disparity.shape, sensor.disparity_noise)
        np.maximum(disparity, 1e-3, out=disparity)
        np.divide(focal_baseline, disparity, out=noisy[rows], casting='same_kind')
    far &= ~missing
    too_close &= ~missing
    too_close &= ~far
    return SensorDepth(depth=noisy, missing=missing, far=far, too_close=too_close)
