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
from PIL import Image
from torch.utils.data import Dataset

from packnet_sfm.geometry.camera import scale_intrinsics
from packnet_sfm.utils.errors import InputError

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


def scatter_nearest(rows, cols, depth, shape):
    """Depth map [H,W] (0 = none) with `depth` at integer (rows, cols) inside `shape`; the
    nearest wins where several land on one pixel."""
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    pixel, depth = rows[inside] * shape[1] + cols[inside], depth[inside]
    order = np.lexsort((depth, pixel))          # by pixel, nearest first
    pixel, depth = pixel[order], depth[order]
    first = np.ones(len(pixel), dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    out = np.zeros(shape[0] * shape[1], dtype=np.float32)
    out[pixel[first]] = depth[first]
    return out.reshape(shape)


def project_lidar(points, projection, shape):
    """Sparse depth map [H,W] (0 = no return) of velodyne points [N,>=3] through a 3x4
    projection; the nearest point wins where several land on one pixel."""
    points = points[points[:, 0] >= 0, :3]
    proj = np.concatenate([points, np.ones((len(points), 1))], 1) @ projection.T
    z = proj[:, 2]
    front = z > 0
    u = np.round(proj[front, 0] / z[front]).astype(int)
    v = np.round(proj[front, 1] / z[front]).astype(int)
    return scatter_nearest(v, u, z[front], shape)


def resize_sparse_depth(depth, shape):
    """A sparse depth map [h,w] (0 = none) on a grid of `shape` that keeps every measurement:
    each measured pixel goes to the target pixel containing its centre (the mapping of
    `scale_intrinsics`), the nearest winning where several share one. A nearest-neighbour
    resize instead samples one source pixel per target pixel and loses the others."""
    if depth.shape == tuple(shape):
        return depth
    rows, cols = np.nonzero(depth)
    target_rows = np.floor((rows + 0.5) * shape[0] / depth.shape[0]).astype(int)
    target_cols = np.floor((cols + 0.5) * shape[1] / depth.shape[1]).astype(int)
    return scatter_nearest(target_rows, target_cols, depth[rows, cols], shape)


def read_png_depth(path):
    """Depth [H,W] in metres from a KITTI uint16 PNG (metres * 256, 0 = none)."""
    depth = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if depth is None or depth.dtype != np.uint16 or depth.ndim != 2:
        raise InputError(f"{path} is not a uint16 KITTI depth PNG; re-download it")
    return depth.astype(np.float32) / 256.0


def read_rgb(path, shape):
    """([3,H,W] float32 RGB in [0, 1] resized to `shape` (area when shrinking, bilinear when
    enlarging), the original (height, width))."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"Cannot read image {path}; the file is missing or corrupt: "
                         "re-download it")
    return rgb_tensor(image, shape), image.shape[:2]


def rgb_tensor(bgr, shape):
    """[3,H,W] float32 RGB in [0, 1] at `shape` from an 8-bit BGR image (OpenCV's order)."""
    if bgr.shape[:2] != tuple(shape):
        shrink = shape[0] < bgr.shape[0]
        bgr = cv2.resize(bgr, (shape[1], shape[0]),
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    return torch.from_numpy(rgb).permute(2, 0, 1)


def parse_split_line(line, split_path):
    """(drive folder, frame number, camera) from a split line."""
    parts = line.split()
    if len(parts) == 3 and parts[2] in CAMERAS:
        return parts[0], int(parts[1]), CAMERAS[parts[2]]
    if parts and parts[0].endswith('.png') and '/data/' in parts[0]:
        folder, _, name = parts[0].partition('/image_0')
        return folder, int(os.path.splitext(os.path.basename(name))[0]), int(name[0])
    raise InputError(f"Cannot parse line '{line}' of {split_path}: expected "
                     "'<date>/<drive> <frame> <l|r>' or '<date>/<drive>/image_02/data/<frame>.png'")


class KITTIDataset(Dataset):
    """KITTI raw samples: `rgb`, `depth` (metres), `valid`, `intrinsics`, optional
    `input_depth` (sparse LiDAR) and `rgb_context` (neighbouring frames), `idx`, `filename`;
    for evaluation also `depth_native`, the ground truth at the image's native size (0 where
    invalid), and `native_shape` (height, width).

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
        Neighbouring frames before / after the target returned in `rgb_context` (training
        only: evaluation never uses them, so it keeps the frames that lack them).
    image_shape : (int, int)
        (height, width) images and depth maps are resized to. LiDAR is projected at that size
        and annotated maps are resized keeping every measurement (`resize_sparse_depth`).
    max_depth : float
        Ground truth beyond it (metres) is not `valid`.
    training : bool
        Whether this is the training split (context frames) or an evaluation one (native
        ground truth).
    augmentation : callable or None
        Applied to each training sample (datasets/augmentation.py).

    Frames whose image, context frames or depth files are missing are left out.
    """
    config_node = 'kitti'
    depth_norm = False

    def __init__(self, root, split, depth_type='groundtruth', input_depth_type='', back_context=0,
                 forward_context=0, image_shape=(192, 640), max_depth=80.0, training=True,
                 augmentation=None):
        if depth_type not in DEPTH_TYPES:
            raise InputError(f"datasets.kitti.depth_type '{depth_type}' must be one of "
                             f"{DEPTH_TYPES}")
        if input_depth_type not in ('', 'velodyne'):
            raise InputError(f"datasets.kitti.input_depth_type '{input_depth_type}' must be '' "
                             "or 'velodyne'")
        self.root, self.depth_type, self.input_depth_type = root, depth_type, input_depth_type
        self.training, self.augmentation = training, augmentation
        self.context_offsets = ([*range(-back_context, 0), *range(1, forward_context + 1)]
                                if training else [])
        self.image_shape, self.max_depth = tuple(image_shape), max_depth
        self.split_path = split if os.path.isfile(split) else os.path.join(root, split)
        if not os.path.isfile(self.split_path):
            raise FileNotFoundError(f"KITTI split file not found: '{split}' (also tried "
                                    f"{self.split_path}); set datasets.<split>.split")
        with open(self.split_path) as f:
            entries = [parse_split_line(line, self.split_path) for line in f if line.strip()]
        complete = [self._complete(*entry) for entry in entries]
        self.samples = [entry for entry, ok in zip(entries, complete) if ok]
        self.incomplete = [entry for entry, ok in zip(entries, complete) if not ok]
        if not self.samples:
            raise InputError(f"None of the {len(entries)} frames of {self.split_path} has all "
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

    def frame_files(self, folder, frame, camera):
        """The files of a frame itself: image, ground truth, LiDAR (not its context)."""
        paths = [self.image_path(folder, frame, camera)]
        if self.depth_type == 'groundtruth':
            paths.append(self.groundtruth_path(folder, frame, camera))
        if 'velodyne' in (self.depth_type, self.input_depth_type):
            paths.append(self.velodyne_path(folder, frame))
        return paths

    def _complete(self, folder, frame, camera):
        context = [self.image_path(folder, frame + k, camera) for k in self.context_offsets]
        return all(os.path.isfile(p) for p in [*self.frame_files(folder, frame, camera),
                                                  *context])

    # scripts/check_dataset.py: the split's frames as `recordings`, their cheap checks
    @property
    def recordings(self):
        return self.samples

    def split_problems(self):
        """[(file, message)] of the split's frames left out for a missing file of their own
        (frames that only lack a context frame, as at a drive's ends, are not problems)."""
        return [(path, f"Missing {path} (frame {frame} of {folder} in {self.split_path}); "
                       f"re-download the drive or remove the line")
                for folder, frame, camera in self.incomplete
                for path in self.frame_files(folder, frame, camera) if not os.path.isfile(path)]

    def check_recording(self, sample):
        """(files checked, valid ground-truth fraction or None, [(file, kind, message)]) of
        one frame: image header, calibration, ground-truth PNG (uint16, the image's size) or
        LiDAR file (whole float32 x, y, z, reflectance records)."""
        folder, frame, camera = sample
        problems, fraction = [], None
        image = self.image_path(folder, frame, camera)
        try:
            with Image.open(image) as opened:
                size = opened.height, opened.width
        except OSError as error:
            return 1, None, [(image, 'image', f"Cannot read image {image}: {error}")]
        try:
            self.intrinsics(folder, camera, size)
        except (InputError, FileNotFoundError, KeyError) as error:
            problems.append((os.path.join(self.root, folder.split('/')[0]), 'calibration',
                             f"Calibration of {folder}: {error}"))
        if self.depth_type == 'groundtruth':
            path = self.groundtruth_path(folder, frame, camera)
            try:
                depth = read_png_depth(path)
                if depth.shape != size:
                    raise InputError(f"{path} is {depth.shape[1]}x{depth.shape[0]} but its "
                                     f"image is {size[1]}x{size[0]}; re-download it")
                fraction = np.count_nonzero(depth) / depth.size
            except InputError as error:
                problems.append((path, 'depth format', str(error)))
        if 'velodyne' in (self.depth_type, self.input_depth_type):
            path = self.velodyne_path(folder, frame)
            if os.path.getsize(path) == 0 or os.path.getsize(path) % 16:
                problems.append((path, 'lidar', f"{path} holds {os.path.getsize(path)} bytes, "
                                 "not whole float32 x, y, z, reflectance records; re-download"))
        return len(self.frame_files(folder, frame, camera)) + 1, fraction, problems

    def __len__(self):
        return len(self.samples)

    def lidar_depth(self, points, folder, camera, original, shape):
        """LiDAR depth [H,W] projected straight onto a `shape` grid of the camera image whose
        native size is `original` (no resampling of an already projected map)."""
        key = (folder.split('/')[0], camera, original, shape)
        if key not in self._projections:
            resize = scale_intrinsics(torch.eye(3, dtype=torch.float64), shape[1] / original[1],
                                      shape[0] / original[0]).numpy()
            self._projections[key] = resize @ velo_to_image(os.path.join(self.root, key[0]),
                                                            camera)
        return project_lidar(points, self._projections[key], shape)

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
        rgb, original = read_rgb(self.image_path(folder, frame, camera), self.image_shape)
        points = None
        if 'velodyne' in (self.depth_type, self.input_depth_type):
            points = np.fromfile(self.velodyne_path(folder, frame), np.float32).reshape(-1, 4)
        if self.depth_type == 'velodyne':
            def ground_truth(shape):
                return self.lidar_depth(points, folder, camera, original, shape)
        else:
            annotated = read_png_depth(self.groundtruth_path(folder, frame, camera))

            def ground_truth(shape):
                return resize_sparse_depth(annotated, shape)
        depth = torch.from_numpy(ground_truth(self.image_shape)).unsqueeze(0)
        sample = {'idx': idx, 'rgb': rgb, 'depth': depth, 'valid': self.is_valid(depth),
                  'intrinsics': self.intrinsics(folder, camera, original),
                  'filename': f'{folder}/image_{camera:02d}/data/{frame:010d}'}
        if not self.training:
            native = torch.from_numpy(ground_truth(original)).unsqueeze(0)
            sample['depth_native'] = native * self.is_valid(native)
            sample['native_shape'] = torch.tensor(original)
        if self.input_depth_type == 'velodyne':
            lidar = depth if self.depth_type == 'velodyne' else torch.from_numpy(
                self.lidar_depth(points, folder, camera, original, self.image_shape)).unsqueeze(0)
            sample['input_depth'] = lidar.clone()
        if self.context_offsets:
            sample['rgb_context'] = [
                read_rgb(self.image_path(folder, frame + k, camera), self.image_shape)[0]
                for k in self.context_offsets]
        return self.augmentation(sample) if self.augmentation else sample

    def is_valid(self, depth):
        return (depth > 0) & (depth <= self.max_depth)
