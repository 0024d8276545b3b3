"""Synthetic KITTI raw: ray-cast street scenes written in the real KITTI raw on-disk layout.

A drive is a camera rig moving forward along a street (ground plane, building blocks on both
sides, parked cars, poles) whose surfaces carry a fixed 3D value-noise texture, so the same
world point has the same colour in every frame and photometric matching works. Per frame it
writes the rectified colour images of cameras 2 and 3, their dense rendered depth as
`proj_depth/groundtruth` PNGs (uint16, metres * 256), and a LiDAR scan at the angular
resolution of KITTI's HDL-64E as `velodyne_points/data/*.bin` (float32 x, y, z, reflectance
in the velodyne frame; about 4% of a 375x1242 image's pixels, as a real scan), with
`calib_cam_to_cam.txt` / `calib_velo_to_cam.txt` in the KITTI text format and eigen-style
split files. Frames (world = camera-0 axes at frame 0: x right, y down, z forward)."""
import itertools
import os

import cv2
import numpy as np

DATE = '2011_09_26'
CAM_HEIGHT = 1.65                     # metres above the ground
CAMERA_OFFSETS = {0: 0.0, 1: -0.54, 2: 0.06, 3: -0.48}   # P_rect[0,3] / fx per camera
VELO_TO_CAM_R = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])
VELO_TO_CAM_T = np.array([0.0, -0.08, -0.27])   # velodyne origin in camera-0 coordinates
# The Velodyne HDL-64E of KITTI: an upper block of 32 lasers from +2 deg down in 1/3 deg steps
# and a lower block of 32 down to -24.8 deg in ~1/2 deg steps; at 10 Hz about 1.3 M points/s,
# i.e. 2083 firings per laser and turn (0.17 deg apart).
LIDAR_ELEVATIONS = np.deg2rad(np.concatenate([np.linspace(2.0, -8.33, 32),
                                              np.linspace(-8.83, -24.8, 32)]))
LIDAR_AZIMUTH_STEP = 2 * np.pi / 2083
LIDAR_SECTOR = np.deg2rad(60.0)       # scanned +-60 deg around the heading (cameras: +-41 deg)
LIDAR_RANGE = 120.0
SKY = np.array([0.62, 0.74, 0.90])
NOISE_OCTAVES = ((1.5, 0.5), (0.45, 0.3), (0.15, 0.2))   # (cell size in metres, weight)


def intrinsics(height, width):
    """KITTI-like pinhole intrinsics for an image of the given size (monodepth2 ratios)."""
    return np.array([[0.58 * width, 0.0, (width - 1) / 2],
                     [0.0, 1.92 * height, (height - 1) / 2],
                     [0.0, 0.0, 1.0]])


def rotation_y(angle):
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


class StreetScene:
    """Axis-aligned boxes on a ground plane (y = CAM_HEIGHT), textured by 3D value noise."""

    def __init__(self, rng, length):
        self.noise = rng.random((32, 32, 32))
        boxes, colours = [], []
        for side in (-1.0, 1.0):
            z = -15.0
            while z < length:
                depth, setback = rng.uniform(6, 14), rng.uniform(5.5, 8.5)
                size, height = rng.uniform(6, 14), rng.uniform(5, 15)
                x_near, x_far = side * setback, side * (setback + depth)
                boxes.append([min(x_near, x_far), CAM_HEIGHT - height, z,
                              max(x_near, x_far), CAM_HEIGHT, z + size])
                colours.append(rng.uniform(0.35, 1.0, 3))
                z += size + (rng.uniform(1, 5) if rng.random() < 0.4 else 0.0)
            for z in np.arange(-5.0, length, 9.0) + rng.uniform(0, 9, 1):
                if rng.random() < 0.6:   # parked car
                    x = side * rng.uniform(2.6, 3.6)
                    boxes.append([x - 0.9, CAM_HEIGHT - 1.5, z, x + 0.9, CAM_HEIGHT, z + 4.2])
                    colours.append(rng.uniform(0.1, 1.0, 3))
                else:                    # pole
                    x = side * rng.uniform(4.6, 5.2)
                    boxes.append([x - 0.15, CAM_HEIGHT - 5, z, x + 0.15, CAM_HEIGHT, z + 0.3])
                    colours.append(np.full(3, 0.3))
        self.boxes, self.colours = np.array(boxes), np.array(colours)

    def texture(self, points, footprint=None):
        """Value noise in [0, 1] at world points [N,3]. Octaves whose cells are not at least
        2x the pixel footprint (metres, per point) fade to their mean 0.5 (anti-aliasing)."""
        total = 0.0
        for i, (cell, weight) in enumerate(NOISE_OCTAVES):
            noise = value_noise(self.noise, points / cell + 7.3 * i)
            if footprint is not None:
                noise = 0.5 + (noise - 0.5) * np.clip(2 - 4 * footprint / cell, 0, 1)
            total = total + weight * noise
        return total

    def raycast(self, origins, dirs, pixel_angle=None, chunk=16384):
        """First hits of rays: (t, colour [N,3], reflectance [N]); t = inf and sky colour for
        misses. `dirs` need not be unit vectors: t is in units of their length. With
        `pixel_angle` (radians per pixel) the colour texture is filtered to the pixel size."""
        t, index, normal = np.full(len(dirs), np.inf), np.full(len(dirs), -1), np.zeros(len(dirs))
        for start in range(0, len(dirs), chunk):
            part = slice(start, start + chunk)
            t[part], index[part], normal[part] = self._hit_boxes(origins[part], dirs[part])
        ground = np.where(dirs[:, 1] > 1e-9, (CAM_HEIGHT - origins[:, 1]) / dirs[:, 1], np.inf)
        on_ground = ground < t
        t, index = np.where(on_ground, ground, t), np.where(on_ground, -2, index)
        hit = np.isfinite(t)
        points = origins[hit] + t[hit, None] * dirs[hit]
        footprint = None if pixel_angle is None else \
            t[hit] * np.linalg.norm(dirs[hit], axis=1) * pixel_angle
        texture = self.texture(points, footprint)
        base = np.where((index[hit] == -2)[:, None], ground_colour(points),
                        self.colours[np.maximum(index[hit], 0)])
        shade = np.choose(np.where(index[hit] == -2, 1, normal[hit]).astype(int),
                          [0.75, 1.0, 0.88])   # faces facing x, y (ground, roofs), z
        colour = np.tile(SKY, (len(dirs), 1))
        colour[hit] = np.clip(base * (0.35 + 0.9 * texture)[:, None] * shade[:, None], 0, 1)
        reflectance = np.zeros(len(dirs))
        reflectance[hit] = texture
        return t, colour, reflectance

    def _hit_boxes(self, origins, dirs):
        inverse = (1.0 / np.where(np.abs(dirs) < 1e-12, 1e-12, dirs)).astype(np.float32)
        t1 = (self.boxes[None, :, :3] - origins[:, None]).astype(np.float32) * inverse[:, None]
        t2 = (self.boxes[None, :, 3:] - origins[:, None]).astype(np.float32) * inverse[:, None]
        t_min, t_max = np.minimum(t1, t2), np.maximum(t1, t2)
        near, far = t_min.max(-1), t_max.min(-1)
        near = np.where((near <= far) & (near > 1e-6), near, np.inf)
        index = near.argmin(1)
        rows = np.arange(len(dirs))
        return near[rows, index], np.where(np.isfinite(near[rows, index]), index, -1), \
            t_min[rows, index].argmax(-1)


def ground_colour(points):
    """Dark asphalt on the road (|x| < 4.5 m), lighter pavement beyond."""
    road = np.abs(points[:, 0:1]) < 4.5
    return np.where(road, [0.42, 0.42, 0.45], [0.70, 0.66, 0.60])


def value_noise(table, p):
    """Trilinear, smoothstep-weighted interpolation of a periodic random lattice at p [N,3]."""
    base = np.floor(p)
    f = p - base
    f = f * f * (3 - 2 * f)
    i0, n = base.astype(int) % table.shape[0], table.shape[0]
    total = np.zeros(len(p))
    for corner in itertools.product((0, 1), repeat=3):
        idx = [(i0[:, k] + c) % n for k, c in enumerate(corner)]
        weight = np.prod([f[:, k] if c else 1 - f[:, k] for k, c in enumerate(corner)], axis=0)
        total += weight * table[idx[0], idx[1], idx[2]]
    return total


class Trajectory:
    """Camera-0 poses of a drive: forward at `speed` metres per frame, gentle weaving."""

    def __init__(self, rng, speed=1.0):
        self.speed, self.phase = speed, rng.uniform(0, 2 * np.pi)

    def cam0_to_world(self, frame):
        """4x4 transform taking camera-0 coordinates of `frame` to world coordinates."""
        pose = np.eye(4)
        pose[:3, :3] = rotation_y(0.04 * np.sin(frame / 6 + self.phase))
        pose[:3, 3] = [0.3 * np.sin(frame / 9 + self.phase), 0.0, frame * self.speed]
        return pose

    def camera_to_world(self, frame, camera):
        """4x4 transform for rectified camera `camera` (0..3), offset along camera-0 x."""
        offset = np.eye(4)
        offset[0, 3] = -CAMERA_OFFSETS[camera]
        return self.cam0_to_world(frame) @ offset

    def velo_to_world(self, frame):
        velo_to_cam = np.eye(4)
        velo_to_cam[:3, :3], velo_to_cam[:3, 3] = VELO_TO_CAM_R, VELO_TO_CAM_T
        return self.cam0_to_world(frame) @ velo_to_cam


def render_camera(scene, camera_to_world, K, height, width):
    """(rgb [H,W,3] float in [0,1], depth [H,W] metres along z, 0 for sky) seen by a pinhole
    camera, one ray through each pixel centre; texture finer than a pixel is filtered out."""
    v, u = np.meshgrid(np.arange(height, dtype=float), np.arange(width, dtype=float),
                       indexing='ij')
    pixels = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], 1)
    dirs = pixels @ np.linalg.inv(K).T @ camera_to_world[:3, :3].T   # unit z in the camera
    origins = np.tile(camera_to_world[:3, 3], (len(dirs), 1))
    t, colour, _ = scene.raycast(origins, dirs, pixel_angle=1.0 / K[0, 0])
    depth = np.where(np.isfinite(t), t, 0.0).reshape(height, width)
    return colour.reshape(height, width, 3), depth


def scan_lidar(scene, velo_to_world):
    """An HDL-64E scan at KITTI's angular resolution: [N,4] float32 (x, y, z, reflectance) in
    the velodyne frame (x forward, y left, z up) for returns within LIDAR_RANGE. Only the
    LIDAR_SECTOR in front is cast (a real scan holds 360 deg; the cameras see the front)."""
    azimuth = np.arange(-LIDAR_SECTOR, LIDAR_SECTOR, LIDAR_AZIMUTH_STEP)
    elevation, azimuth = np.meshgrid(LIDAR_ELEVATIONS, azimuth, indexing='ij')
    dirs = np.stack([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                     np.sin(elevation)], -1).reshape(-1, 3)
    origins = np.tile(velo_to_world[:3, 3], (len(dirs), 1))
    t, _, reflectance = scene.raycast(origins, dirs @ velo_to_world[:3, :3].T)
    keep = t < LIDAR_RANGE
    points = np.concatenate([dirs[keep] * t[keep, None], reflectance[keep, None]], 1)
    return points.astype(np.float32)


def format_values(values):
    return ' '.join(f'{v:.6e}' for v in np.ravel(values))


def write_calibration(date_dir, K, height, width):
    """calib_cam_to_cam.txt, calib_velo_to_cam.txt and calib_imu_to_velo.txt (KITTI text)."""
    lines = ['calib_time: 01-Jan-2020 00:00:00', 'corner_dist: 9.950000e-02']
    for cam, offset in CAMERA_OFFSETS.items():
        P = np.concatenate([K, [[K[0, 0] * offset], [0.0], [0.0]]], 1)
        lines += [f'S_{cam:02d}: {format_values([width, height])}',
                  f'K_{cam:02d}: {format_values(K)}', f'D_{cam:02d}: {format_values(np.zeros(5))}',
                  f'R_{cam:02d}: {format_values(np.eye(3))}',
                  f'T_{cam:02d}: {format_values([offset, 0.0, 0.0])}',
                  f'S_rect_{cam:02d}: {format_values([width, height])}',
                  f'R_rect_{cam:02d}: {format_values(np.eye(3))}',
                  f'P_rect_{cam:02d}: {format_values(P)}']
    rigid = [f'R: {format_values(VELO_TO_CAM_R)}', f'T: {format_values(VELO_TO_CAM_T)}']
    files = {'calib_cam_to_cam.txt': lines,
             'calib_velo_to_cam.txt': ['calib_time: 01-Jan-2020 00:00:00', *rigid,
                                       'delta_f: 1.000000e-10 1.000000e-10',
                                       'delta_c: 1.000000e-10 1.000000e-10'],
             'calib_imu_to_velo.txt': ['calib_time: 01-Jan-2020 00:00:00',
                                       f'R: {format_values(np.eye(3))}',
                                       f'T: {format_values([-0.81, 0.32, -0.8])}']}
    for name, content in files.items():
        with open(os.path.join(date_dir, name), 'w') as f:
            f.write('\n'.join(content) + '\n')


def write_frame(drive_dir, frame, scene, trajectory, K, height, width):
    """Images and ground-truth depth of cameras 2 and 3, and the LiDAR scan, of one frame."""
    name = f'{frame:010d}'
    for camera in (2, 3):
        rgb, depth = render_camera(scene, trajectory.camera_to_world(frame, camera), K,
                                   height, width)
        image_path = os.path.join(drive_dir, f'image_{camera:02d}', 'data', f'{name}.png')
        depth_path = os.path.join(drive_dir, 'proj_depth', 'groundtruth', f'image_{camera:02d}',
                                  f'{name}.png')
        for path in (image_path, depth_path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
        cv2.imwrite(image_path, cv2.cvtColor(np.round(rgb * 255).astype(np.uint8),
                                             cv2.COLOR_RGB2BGR))
        cv2.imwrite(depth_path, np.round(np.clip(depth, 0, 255) * 256).astype(np.uint16))
    velo_path = os.path.join(drive_dir, 'velodyne_points', 'data', f'{name}.bin')
    os.makedirs(os.path.dirname(velo_path), exist_ok=True)
    scan_lidar(scene, trajectory.velo_to_world(frame)).tofile(velo_path)


def write_synthetic_kitti(root, num_drives=2, num_frames=20, height=96, width=320, seed=0):
    """Write `num_drives` drives of `num_frames` frames under `root` in the KITTI raw layout,
    plus data_splits/eigen_zhou_files.txt (every frame of every drive but the last) and
    data_splits/eigen_test_files.txt (the last drive; all drives when there is only one).
    Returns the split lines written, keyed by file name."""
    rng = np.random.default_rng(seed)
    date_dir = os.path.join(root, DATE)
    os.makedirs(date_dir, exist_ok=True)
    K = intrinsics(height, width)
    write_calibration(date_dir, K, height, width)
    lines = []
    for drive in range(1, num_drives + 1):
        folder = f'{DATE}/{DATE}_drive_{drive:04d}_sync'
        trajectory = Trajectory(rng, speed=rng.uniform(0.8, 1.2))
        scene = StreetScene(rng, length=num_frames * trajectory.speed + 90)
        for frame in range(num_frames):
            write_frame(os.path.join(root, folder), frame, scene, trajectory, K, height, width)
        lines.append([f'{folder} {frame:010d} l' for frame in range(num_frames)])
    splits = {'eigen_zhou_files.txt': sum(lines[:-1], []) or lines[-1],
              'eigen_test_files.txt': lines[-1]}
    os.makedirs(os.path.join(root, 'data_splits'), exist_ok=True)
    for name, split in splits.items():
        with open(os.path.join(root, 'data_splits', name), 'w') as f:
            f.write('\n'.join(split) + '\n')
    return splits
