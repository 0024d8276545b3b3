"""KITTI raw (real or synthetic, same layout) with LiDAR or annotated ground-truth depth.

Layout under `root`:
    <date>/calib_cam_to_cam.txt, <date>/calib_velo_to_cam.txt
    <date>/<drive>/image_02/data/0000000005.png          (image_03 for the right camera)
    <date>/<drive>/velodyne_points/data/0000000005.bin   (float32 x, y, z, reflectance)
    <date>/<drive>/proj_depth/groundtruth/image_02/0000000005.png   (uint16, metres * 256)
Split files list one frame per line, either `<date>/<drive> <frame> <l|r>` (monodepth2) or
`<date>/<drive>/image_02/data/<frame>.png` (packnet-sfm). LiDAR points are projected with
P_rect_0c @ R_rect_00 @ [R|T]; a pixel (column u, row v) has its centre at integer (u, v)."""
import os

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from packnet_sfm.geometry.camera import scale_intrinsics

CAMERAS = {'l': 2, 'r': 3}
DEPTH_TYPES = ('velodyne', 'groundtruth')


def read_calib_file(path):
    """{key: float array} of a KITTI calibration text file (non-numeric entries skipped)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"KITTI calibration file {path} is missing; every date folder "
                                "needs calib_cam_to_cam.txt and calib_velo_to_cam.txt")
    values = {}
    with open(path) as f:
        for line in f:
            key, _, text = line.partition(':')
            try:
                values[key.strip()] = np.array([float(v) for v in text.split()])
            except ValueError:
                continue
    return values


def velo_to_image(date_dir, camera):
    """3x4 matrix projecting homogeneous velodyne points to (u*z, v*z, z) of `camera`."""
    cam = read_calib_file(os.path.join(date_dir, 'calib_cam_to_cam.txt'))
    velo = read_calib_file(os.path.join(date_dir, 'calib_velo_to_cam.txt'))
    velo_to_cam = np.eye(4)
    velo_to_cam[:3, :3], velo_to_cam[:3, 3] = velo['R'].reshape(3, 3), velo['T']
    rect = np.eye(4)
    rect[:3, :3] = cam['R_rect_00'].reshape(3, 3)
    return cam[f'P_rect_{camera:02d}'].reshape(3, 4) @ rect @ velo_to_cam


def project_lidar(points, projection, shape):
    """Sparse depth map [H,W] (0 = no return) of velodyne points [N,>=3] through a 3x4
    projection; the nearest point wins where several land on one pixel."""
    points = points[points[:, 0] >= 0, :3]
    proj = np.concatenate([points, np.ones((len(points), 1))], 1) @ projection.T
    z = proj[:, 2]
    front = z > 0
    u = np.round(proj[front, 0] / z[front]).astype(int)
    v = np.round(proj[front, 1] / z[front]).astype(int)
    z = z[front]
    inside = (u >= 0) & (u < shape[1]) & (v >= 0) & (v < shape[0])
    order = np.argsort(-z[inside])
    depth = np.zeros(shape, dtype=np.float32)
    depth[v[inside][order], u[inside][order]] = z[inside][order]
    return depth


def parse_split_line(line, split_path):
    """(drive folder, frame number, camera) from a split line."""
    parts = line.split()
    if len(parts) == 3 and parts[2] in CAMERAS:
        return parts[0], int(parts[1]), CAMERAS[parts[2]]
    if parts and parts[0].endswith('.png') and '/data/' in parts[0]:
        folder, _, name = parts[0].partition('/image_0')
        return folder, int(os.path.splitext(os.path.basename(name))[0]), int(name[0])
    raise ValueError(f"Cannot parse line '{line}' of {split_path}: expected "
                     "'<date>/<drive> <frame> <l|r>' or '<date>/<drive>/image_02/data/<frame>.png'")


class KITTIDataset(Dataset):
    """KITTI raw samples: `rgb`, `depth` (metres), `valid`, `intrinsics`, optional
    `input_depth` (sparse LiDAR) and `rgb_context` (neighbouring frames), `idx`, `filename`.

    Parameters
    ----------
    root : str
        KITTI raw folder (date folders inside).
    split : str
        Split file, absolute or relative to `root` (e.g. data_splits/eigen_zhou_files.txt).
    depth_type : str
        Ground truth: 'velodyne' (projected LiDAR) or 'groundtruth' (proj_depth PNGs).
    input_depth_type : str
        '' (none) or 'velodyne': sparse LiDAR given to the network as `input_depth`.
    back_context, forward_context : int
        Neighbouring frames before / after the target returned in `rgb_context`.
    image_shape : (int, int)
        (height, width) every image and depth map is resized to.
    max_depth : float
        Ground truth beyond it (metres) is not `valid`.

    Frames whose image, context frames or depth files are missing are left out.
    """
    config_node = 'kitti'
    depth_norm = False

    def __init__(self, root, split, depth_type='groundtruth', input_depth_type='', back_context=0,
                 forward_context=0, image_shape=(192, 640), max_depth=80.0):
        if depth_type not in DEPTH_TYPES:
            raise ValueError(f"datasets.kitti.depth_type '{depth_type}' must be one of "
                             f"{DEPTH_TYPES}")
        if input_depth_type not in ('', 'velodyne'):
            raise ValueError(f"datasets.kitti.input_depth_type '{input_depth_type}' must be '' "
                             "or 'velodyne'")
        self.root, self.depth_type, self.input_depth_type = root, depth_type, input_depth_type
        self.context_offsets = [*range(-back_context, 0), *range(1, forward_context + 1)]
        self.image_shape, self.max_depth = tuple(image_shape), max_depth
        self.split_path = split if os.path.isfile(split) else os.path.join(root, split)
        if not os.path.isfile(self.split_path):
            raise FileNotFoundError(f"KITTI split file not found: '{split}' (also tried "
                                    f"{self.split_path}); set datasets.<split>.split")
        with open(self.split_path) as f:
            entries = [parse_split_line(line, self.split_path) for line in f if line.strip()]
        self.samples = [entry for entry in entries if self._complete(*entry)]
        if not self.samples:
            raise ValueError(f"None of the {len(entries)} frames of {self.split_path} has all "
                             f"its files under {root} (image, {len(self.context_offsets)} "
                             f"context frames, {depth_type} depth, input depth)")
        self._projections, self._intrinsics = {}, {}

    def image_path(self, folder, frame, camera):
        return os.path.join(self.root, folder, f'image_{camera:02d}', 'data', f'{frame:010d}.png')

    def velodyne_path(self, folder, frame):
        return os.path.join(self.root, folder, 'velodyne_points', 'data', f'{frame:010d}.bin')

    def groundtruth_path(self, folder, frame, camera):
        return os.path.join(self.root, folder, 'proj_depth', 'groundtruth',
                            f'image_{camera:02d}', f'{frame:010d}.png')

    def _complete(self, folder, frame, camera):
        paths = [self.image_path(folder, frame + k, camera) for k in [0, *self.context_offsets]]
        if self.depth_type == 'groundtruth':
            paths.append(self.groundtruth_path(folder, frame, camera))
        if 'velodyne' in (self.depth_type, self.input_depth_type):
            paths.append(self.velodyne_path(folder, frame))
        return all(os.path.isfile(p) for p in paths)

    def __len__(self):
        return len(self.samples)

    def load_image(self, path):
        """[3,H,W] float32 RGB in [0, 1] at image_shape, and the original (height, width)."""
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise OSError(f"Cannot read image {path}")
        original = image.shape[:2]
        if original != self.image_shape:
            height, width = self.image_shape
            shrink = height < original[0]
            image = cv2.resize(image, (width, height),
                               interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return torch.from_numpy(rgb).permute(2, 0, 1), original

    def resize_matrix(self, original):
        """3x3 map from original pixel coordinates to image_shape pixel coordinates."""
        matrix = torch.eye(3, dtype=torch.float64)
        return scale_intrinsics(matrix, self.image_shape[1] / original[1],
                                self.image_shape[0] / original[0])

    def lidar_depth(self, folder, frame, camera, original):
        """Projected LiDAR depth [H,W] at image_shape."""
        key = (folder.split('/')[0], camera, original)
        if key not in self._projections:
            date_dir = os.path.join(self.root, key[0])
            self._projections[key] = (self.resize_matrix(original).numpy()
                                      @ velo_to_image(date_dir, camera))
        points = np.fromfile(self.velodyne_path(folder, frame), dtype=np.float32).reshape(-1, 4)
        return project_lidar(points, self._projections[key], self.image_shape)

    def groundtruth_depth(self, folder, frame, camera):
        """Annotated depth [H,W] (uint16 PNG / 256) at image_shape, nearest-neighbour resized."""
        path = self.groundtruth_path(folder, frame, camera)
        depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if depth is None or depth.dtype != np.uint16:
            raise OSError(f"{path} is not a uint16 KITTI depth PNG")
        if depth.shape != self.image_shape:
            depth = cv2.resize(depth, self.image_shape[::-1], interpolation=cv2.INTER_NEAREST)
        return depth.astype(np.float32) / 256.0

    def intrinsics(self, folder, camera, original):
        """Intrinsics [3,3] of `camera` at image_shape (read once per date and camera)."""
        key = (folder.split('/')[0], camera, original)
        if key not in self._intrinsics:
            cam = read_calib_file(os.path.join(self.root, key[0], 'calib_cam_to_cam.txt'))
            K = torch.from_numpy(cam[f'P_rect_{camera:02d}'].reshape(3, 4)[:, :3].copy())
            self._intrinsics[key] = scale_intrinsics(K, self.image_shape[1] / original[1],
                                                     self.image_shape[0] / original[0]).float()
        return self._intrinsics[key].clone()

    def __getitem__(self, idx):
        folder, frame, camera = self.samples[idx]
        rgb, original = self.load_image(self.image_path(folder, frame, camera))
        if self.depth_type == 'velodyne':
            depth = self.lidar_depth(folder, frame, camera, original)
        else:
            depth = self.groundtruth_depth(folder, frame, camera)
        depth = torch.from_numpy(depth).unsqueeze(0)
        sample = {'idx': idx, 'rgb': rgb, 'depth': depth,
                  'valid': (depth > 0) & (depth <= self.max_depth),
                  'intrinsics': self.intrinsics(folder, camera, original),
                  'filename': f'{folder}/image_{camera:02d}/data/{frame:010d}'}
        if self.input_depth_type == 'velodyne':
            lidar = depth if self.depth_type == 'velodyne' else torch.from_numpy(
                self.lidar_depth(folder, frame, camera, original)).unsqueeze(0)
            sample['input_depth'] = lidar.clone()
        if self.context_offsets:
            sample['rgb_context'] = [self.load_image(self.image_path(folder, frame + k, camera))[0]
                                     for k in self.context_offsets]
        return sample
