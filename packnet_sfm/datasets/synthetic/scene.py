"""Procedural shoebox rooms with box furniture, robot poses, and a vectorised ray caster.

World frame: x east, y north, z up, metres; the room spans [0, size] on each axis. Room
surfaces are numbered like pyroomacoustics' ShoeBox walls (``ROOM_SURFACES``); box ``k`` is
surface ``len(ROOM_SURFACES) + k``.
"""
from dataclasses import dataclass, field

import numpy as np

ROOM_SURFACES = ('west', 'east', 'south', 'north', 'floor', 'ceiling')  # -x +x -y +y -z +z
NUM_ROOM_SURFACES = len(ROOM_SURFACES)
ROBOT_RADIUS = 0.35  # metres of free floor kept around the robot
BAND_ROWS = 32       # image rows processed together, so that temporaries stay in the CPU cache


@dataclass(frozen=True)
class Box:
    """An axis-aligned box: a piece of furniture or an obstacle."""

    lo: np.ndarray
    hi: np.ndarray
    color: np.ndarray     # RGB in [0, 1]
    absorption: float     # energy absorption coefficient
    scattering: float     # fraction of reflected energy scattered diffusely


@dataclass(frozen=True)
class Window:
    """A glass pane on a wall: the depth camera sees through it (far values)."""

    wall: int             # index into ROOM_SURFACES (0-3)
    lo: np.ndarray        # (along-wall, height) lower corner, metres
    hi: np.ndarray
    outside_depth: float  # metres behind the glass seen by the camera


@dataclass(frozen=True)
class Room:
    """A shoebox room with per-surface acoustics and appearance, furniture and windows."""

    size: np.ndarray                 # (3,) metres
    absorption: np.ndarray           # (6,) energy absorption per room surface
    scattering: np.ndarray           # (6,)
    colors: np.ndarray               # (6, 3) RGB in [0, 1]
    boxes: tuple = field(default_factory=tuple)
    windows: tuple = field(default_factory=tuple)

    @property
    def surface_absorption(self):
        return np.concatenate([self.absorption, [b.absorption for b in self.boxes]])

    @property
    def surface_scattering(self):
        return np.concatenate([self.scattering, [b.scattering for b in self.boxes]])

    @property
    def surface_colors(self):
        return np.concatenate([self.colors, np.array([b.color for b in self.boxes]).reshape(-1, 3)])


@dataclass(frozen=True)
class Pose:
    """Robot pose: floor position, heading (radians from +x, counter-clockwise), camera height."""

    xy: np.ndarray
    yaw: float
    height: float

    @property
    def forward(self):
        return np.array([np.cos(self.yaw), np.sin(self.yaw), 0.0])

    @property
    def left(self):
        return np.array([-np.sin(self.yaw), np.cos(self.yaw), 0.0])

    @property
    def camera(self):
        return np.array([self.xy[0], self.xy[1], self.height])


@dataclass(frozen=True)
class Hits:
    """Ray-cast result on a (rows, columns) grid of rays."""

    t: np.ndarray         # ray parameter of the first hit (float32)
    surface: np.ndarray   # int16 surface index
    axis: np.ndarray      # int8 axis (0 x, 1 y, 2 z) of the hit face's normal

    def __getitem__(self, index):
        """The hits of a sub-grid, e.g. ``hits[::2, ::2]`` or a band of rows ``hits[a:b]``."""
        return Hits(t=self.t[index], surface=self.surface[index], axis=self.axis[index])


def row_bands(rows, size=BAND_ROWS):
    """Slices covering ``range(rows)`` in consecutive bands of ``size`` rows."""
    return [slice(start, min(start + size, rows)) for start in range(0, rows, size)]


def _safe(d):
    """Direction components with exact zeros nudged, so slab divisions never give NaN."""
    return np.where(d == 0, 1e-12, d)


def _slab(lo, hi, origin, direction):
    """Entry and exit parameters of rays through the slab lo <= origin + t*direction <= hi."""
    t0 = (lo - origin) / direction
    t1 = (hi - origin) / direction
    return np.minimum(t0, t1), np.maximum(t0, t1)


def _box_interval_horizontal(lo, hi, origin, dir_h):
    """Per column: (near, far, axis of near face) of the x-y slabs of a box."""
    nx, fx = _slab(lo[0], hi[0], origin[0], dir_h[:, 0])
    ny, fy = _slab(lo[1], hi[1], origin[1], dir_h[:, 1])
    return np.maximum(nx, ny), np.minimum(fx, fy), np.where(nx > ny, 0, 1).astype(np.int8)


def cast_rays(room, origin, dir_h, dir_z):
    """First hits of the separable ray grid ``origin + t * (dir_h[col], dir_z[row])``.

    A level camera (or a latitude-longitude grid) has a horizontal direction per column and
    a vertical slope per row, so every slab test splits into a per-column and a per-row part
    and only the rows x columns combination is done on the full grid (for a box: on the block
    of rows and columns that can see it).
    dir_h: (W, 2), dir_z: (H,). Returns ``Hits`` of shape (H, W).
    """
    origin = np.asarray(origin, dtype=np.float64)
    dir_h, dir_z = _safe(np.asarray(dir_h, np.float64)), _safe(np.asarray(dir_z, np.float64))
    # Room interior: the first hit is the exit of the room box.
    _, exit_x = _slab(0.0, room.size[0], origin[0], dir_h[:, 0])
    _, exit_y = _slab(0.0, room.size[1], origin[1], dir_h[:, 1])
    _, exit_z = _slab(0.0, room.size[2], origin[2], dir_z)
    exit_h = np.minimum(exit_x, exit_y)
    axis_h = np.where(exit_x < exit_y, 0, 1).astype(np.int8)
    side_h = np.where(axis_h == 0, dir_h[:, 0] > 0, dir_h[:, 1] > 0)
    surface_h = (2 * axis_h + side_h).astype(np.int16)
    surface_z = (4 + (dir_z > 0)).astype(np.int16)
    vertical = exit_z[:, None] < exit_h[None, :]
    t = np.minimum(exit_z.astype(np.float32)[:, None], exit_h.astype(np.float32)[None, :])
    surface = (surface_z[:, None] - surface_h[None, :]) * vertical   # np.where, 10x faster
    surface += surface_h
    axis = (surface >> 1).astype(np.int8)         # room surfaces come in pairs per axis
    for k, box in enumerate(room.boxes):
        _box_hits(box, NUM_ROOM_SURFACES + k, origin, dir_h, dir_z, t, surface, axis)
    return Hits(t=t, surface=surface, axis=axis)


def _box_hits(box, index, origin, dir_h, dir_z, t, surface, axis):
    """Write the hits of rays whose first hit is ``box`` (surface ``index``) into the grids."""
    near_h, far_h, axis_near_h = _box_interval_horizontal(box.lo, box.hi, origin, dir_h)
    column_sees = (far_h >= near_h) & (near_h > 0)
    cols = np.flatnonzero(column_sees)
    if cols.size == 0:
        return
    near_z, far_z = _slab(box.lo[2], box.hi[2], origin[2], dir_z)
    # Necessary for a hit: the row's z-slab interval overlaps some column's x-y interval.
    rows = np.flatnonzero((near_z <= far_h[cols].max()) & (far_z >= near_h[cols].min()))
    if rows.size == 0:
        return
    block = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    near_h, far_h = near_h[block[1]][None, :], far_h[block[1]][None, :]
    near_z, far_z = near_z[block[0]][:, None], far_z[block[0]][:, None]
    near = np.maximum(near_h, near_z)
    hit = ((near <= np.minimum(far_h, far_z)) & (near > 0) & (near < t[block])
           & column_sees[block[1]][None, :])
    np.copyto(t[block], near, where=hit)
    surface[block][hit] = index
    axis[block][hit] = np.where(near_z > near_h, np.int8(2), axis_near_h[block[1]][None, :])[hit]


FACE_NORMALS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]],
                        np.float32)  # indexed by face_codes()


def face_codes(hits, dir_h, dir_z):
    """Per hit: 2 * axis + (ray direction positive on that axis), an index into FACE_NORMALS
    (the normal of the hit face points back towards the ray origin)."""
    positive_x, positive_y = (dir_h[:, 0] > 0)[None, :], (dir_h[:, 1] > 0)[None, :]
    positive_z = (dir_z > 0)[:, None]
    return np.where(hits.axis == 0, positive_x,
                    np.where(hits.axis == 1, 2 + positive_y, 4 + positive_z)).astype(np.intp)


def hit_coordinates(hits, origin, dir_h, dir_z):
    """World x, y, z (each (H, W) float32) of the hit points."""
    return (np.float32(origin[0]) + hits.t * dir_h[None, :, 0].astype(np.float32),
            np.float32(origin[1]) + hits.t * dir_h[None, :, 1].astype(np.float32),
            np.float32(origin[2]) + hits.t * dir_z[:, None].astype(np.float32))


def window_mask(room, hits, origin, dir_h, dir_z):
    """Hits that lie on a window pane, and the depth map (metres) with the outside seen
    through the glass there; only the pixels on a window's wall are tested."""
    inside = np.zeros(hits.t.shape, bool)
    depth = hits.t.copy() if room.windows else hits.t
    for window in room.windows:
        rows, cols = np.nonzero(hits.surface == window.wall)
        t = hits.t[rows, cols]
        along_axis = 1 if window.wall < 2 else 0
        along = np.float32(origin[along_axis]) + t * dir_h[cols, along_axis].astype(np.float32)
        z = np.float32(origin[2]) + t * dir_z[rows].astype(np.float32)
        on_pane = ((along >= window.lo[0]) & (along <= window.hi[0])
                   & (z >= window.lo[1]) & (z <= window.hi[1]))
        rows, cols = rows[on_pane], cols[on_pane]
        inside[rows, cols] = True
        depth[rows, cols] = window.outside_depth
    return inside, depth


def is_plain_surface(surface):
    """Mask of pixels on the plain (textureless) walls and ceiling of the room."""
    return (surface < 4) | (surface == 5)


# ----------------------------------------------------------------------------- generation

def _furniture_color(rng):
    palettes = np.array([[0.55, 0.35, 0.2], [0.75, 0.1, 0.12], [0.2, 0.3, 0.55], [0.6, 0.6, 0.6],
                         [0.15, 0.15, 0.15], [0.85, 0.8, 0.7], [0.3, 0.5, 0.3]])
    return np.clip(palettes[rng.integers(len(palettes))] + rng.normal(0, 0.05, 3), 0, 1)


def _box(rng, lo, hi, color, hard):
    """A box; ``hard`` surfaces (wood, metal) absorb less sound than soft ones (upholstery)."""
    absorption = rng.uniform(0.03, 0.15) if hard else rng.uniform(0.2, 0.5)
    return Box(lo=np.asarray(lo, float), hi=np.asarray(hi, float), color=color,
               absorption=float(absorption), scattering=float(rng.uniform(0.2, 0.7)))


def _table(rng, xy, size):
    height, leg = rng.uniform(0.7, 0.78), rng.uniform(0.035, 0.06)
    color = _furniture_color(rng)
    lo, hi = np.asarray(xy), np.asarray(xy) + size
    parts = [_box(rng, [*lo, height - 0.035], [*hi, height], color, hard=True)]
    for cx, cy in ((lo[0], lo[1]), (hi[0] - leg, lo[1]), (lo[0], hi[1] - leg),
                   (hi[0] - leg, hi[1] - leg)):
        parts.append(_box(rng, [cx, cy, 0.0], [cx + leg, cy + leg, height - 0.035],
                          np.array([0.35, 0.35, 0.38]), hard=True))
    return parts


def _chair(rng, xy):
    side, seat, leg = rng.uniform(0.42, 0.5), rng.uniform(0.42, 0.48), 0.03
    color = _furniture_color(rng)
    x, y = xy
    back_on_x = rng.random() < 0.5
    back_hi = [x + 0.05, y + side, seat + 0.45] if back_on_x else [x + side, y + 0.05, seat + 0.45]
    parts = [_box(rng, [x, y, seat - 0.06], [x + side, y + side, seat], color, hard=False),
             _box(rng, [x, y, seat], back_hi, color, hard=False)]
    for cx, cy in ((x, y), (x + side - leg, y + side - leg)):
        parts.append(_box(rng, [cx, cy, 0.0], [cx + leg, cy + leg, seat - 0.06],
                          np.array([0.6, 0.6, 0.62]), hard=True))
    return parts


def _against_wall(rng, size, footprint):
    """Lower corner of a footprint pushed against a random wall of the room."""
    wall = rng.integers(4)
    x = rng.uniform(0, max(size[0] - footprint[0], 1e-3))
    y = rng.uniform(0, max(size[1] - footprint[1], 1e-3))
    if wall == 0:
        x = 0.0
    elif wall == 1:
        x = size[0] - footprint[0]
    elif wall == 2:
        y = 0.0
    else:
        y = size[1] - footprint[1]
    return np.array([x, y])


def _cabinet(rng, size):
    width, depth = rng.uniform(0.6, 2.0), rng.uniform(0.35, 0.6)
    height = rng.uniform(0.8, 2.1)
    footprint = np.array([width, depth]) if rng.random() < 0.5 else np.array([depth, width])
    footprint = np.minimum(footprint, size[:2] * 0.45)
    xy = _against_wall(rng, size, footprint)
    return [_box(rng, [*xy, 0.0], [*(xy + footprint), height], _furniture_color(rng), hard=True)]


def _block(rng, xy):
    side = rng.uniform(0.3, 1.0, 2)
    return [_box(rng, [*xy, 0.0], [*(xy + side), rng.uniform(0.3, 1.3)],
                 _furniture_color(rng), hard=rng.random() < 0.6)]


def _windows(rng, size):
    windows = []
    for _ in range(rng.integers(0, 3)):
        wall = int(rng.integers(4))
        length = size[1] if wall < 2 else size[0]
        width = rng.uniform(0.8, min(2.5, 0.6 * length))
        start = rng.uniform(0.1, length - width - 0.1)
        bottom = rng.uniform(0.8, 1.1)
        top = min(size[2] - 0.2, bottom + rng.uniform(1.0, 1.8))
        windows.append(Window(wall=wall, lo=np.array([start, bottom]),
                              hi=np.array([start + width, top]),
                              outside_depth=float(rng.uniform(31.0, 60.0))))
    return tuple(windows)


def random_room(rng):
    """A random office-like room or corridor with furniture (one BatVision 'location')."""
    if rng.random() < 0.25:  # corridor
        size = rng.uniform([1.8, 12.0, 2.5], [3.0, 26.0, 3.3])
        counts = dict(table=0, chair=rng.integers(0, 2), cabinet=rng.integers(0, 3),
                      block=rng.integers(0, 3))
    else:
        size = rng.uniform([3.0, 3.5, 2.4], [10.0, 12.0, 3.6])
        counts = dict(table=rng.integers(0, 3), chair=rng.integers(0, 4),
                      cabinet=rng.integers(0, 3), block=rng.integers(0, 4))
    if rng.random() < 0.5:
        size[:2] = size[1::-1].copy()
    boxes = []
    for _ in range(counts['cabinet']):
        boxes += _cabinet(rng, size)
    for kind in ('table', 'chair', 'block'):
        for _ in range(counts[kind]):
            xy = np.array([rng.uniform(0.1, size[0] - 1.0), rng.uniform(0.1, size[1] - 1.0)])
            if kind == 'table':
                table_size = np.minimum([rng.uniform(0.7, 1.8), rng.uniform(0.6, 1.0)],
                                        size[:2] - xy - 0.05)
                boxes += _table(rng, xy, table_size)
            elif kind == 'chair':
                boxes += _chair(rng, xy)
            else:
                boxes += _block(rng, xy)
    wall_color = np.clip(np.array([0.82, 0.8, 0.75]) + rng.normal(0, 0.06, 3), 0, 1)
    colors = np.stack([wall_color * rng.uniform(0.9, 1.05) for _ in range(4)]
                      + [np.array([0.55, 0.38, 0.22]) * rng.uniform(0.7, 1.2),
                         np.array([0.92, 0.92, 0.9])])
    return Room(size=size,
                absorption=rng.uniform([0.02] * 4 + [0.03, 0.05], [0.3] * 4 + [0.2, 0.5]),
                scattering=rng.uniform(0.1, 0.5, 6),
                colors=np.clip(colors, 0, 1), boxes=tuple(boxes), windows=_windows(rng, size))


def is_free(room, xy, radius=ROBOT_RADIUS):
    """True when a disc of ``radius`` at ``xy`` is inside the room and clear of every box."""
    if np.any(xy < radius) or np.any(xy > room.size[:2] - radius):
        return False
    return all(np.any(xy < b.lo[:2] - radius) or np.any(xy > b.hi[:2] + radius)
               for b in room.boxes)


def random_pose(room, rng, height_range=(0.35, 0.6), max_tries=500):
    """A collision-free robot pose with a random heading."""
    for _ in range(max_tries):
        xy = rng.uniform(ROBOT_RADIUS, room.size[:2] - ROBOT_RADIUS)
        if is_free(room, xy):
            return Pose(xy=xy, yaw=float(rng.uniform(-np.pi, np.pi)),
                        height=float(rng.uniform(*height_range)))
    raise RuntimeError(f'no free robot position found in a room of size {room.size}')
