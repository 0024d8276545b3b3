"""Depth inference outside a dataset (scripts/infer.py): the inputs a checkpoint's network
reads, a predictor that maps a batch of them to depth in metres, and the output writers.

Inputs are `Item`s: the output name (the input's path relative to the input root, without its
suffix, so that a tree of inputs gives a mirrored tree of outputs) and the network inputs of
one sample. RGB networks read images and video frames (and optional sparse input depth);
echo networks read BatVision recordings. Intrinsics are never needed: the depth network maps
one image (or recording) to depth; only the photometric training loss uses the camera."""
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from configs.default_config import get_cfg_defaults
from packnet_sfm.datasets.audio import echo_samples
from packnet_sfm.datasets.BatvisionV1Dataset import read_ears
from packnet_sfm.datasets.BatvisionV2Dataset import read_stereo_wav
from packnet_sfm.datasets.builder import input_size, training_options
from packnet_sfm.datasets.KITTIDataset import read_png_depth, resize_sparse_depth, rgb_tensor
from packnet_sfm.models import load_trained_model
from packnet_sfm.models.deploy import CONFIG_KEY, DepthPredictor
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.evaluation import to_device
from packnet_sfm.trainers.trainer import select_device
from packnet_sfm.utils.config import load_config, merge_dict
from packnet_sfm.utils.errors import InputError
from packnet_sfm.utils.visualization import depth_picture, save_png

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm', '.tif', '.tiff')
VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v')
INPUT_DEPTH_SUFFIXES = ('.png', '.npy')
SAVE_FORMATS = ('npy', 'npz', 'png')


class TorchPredictor:
    """A training checkpoint's model as a callable: {input key: [B,...] tensor} (echo models:
    the cut waveform) -> depth [B,1,H,W] in metres on the CPU. `input_keys` are the batch keys
    its network reads, `cfg` the checkpoint's config."""

    def __init__(self, checkpoint, device='auto'):
        self.cfg = load_config(checkpoint)
        self.device = select_device(device, SingleProcess(), '--device')
        self.graph = DepthPredictor(load_trained_model(self.cfg, checkpoint, self.device),
                                    self.cfg)
        self.input_keys = self.graph.input_keys

    @torch.no_grad()
    def __call__(self, batch):
        batch = to_device(batch, self.device)
        return self.graph(*(batch.get(key) for key in self.input_keys)).float().cpu()


class OnnxPredictor:
    """The same callable for a model exported by scripts/export.py, run by ONNX Runtime (CPU,
    or CUDA when its provider is installed and `device` allows); the config comes from the
    file's metadata."""

    def __init__(self, path, device='auto'):
        try:
            import onnxruntime
        except ImportError as error:
            raise InputError("--backend onnx needs ONNX Runtime: pip install -e '.[onnx]'") \
                from error
        try:
            self.session = onnxruntime.InferenceSession(str(path), providers=onnx_providers(
                onnxruntime.get_available_providers(), device))
        except Exception as error:      # onnxruntime raises its own types for bad files
            raise InputError(f"Cannot load ONNX model --checkpoint {path}: "
                             f"{str(error).splitlines()[0]}; export one with "
                             f"scripts/export.py") from error
        metadata = self.session.get_modelmeta().custom_metadata_map
        if CONFIG_KEY not in metadata:
            raise InputError(f"--checkpoint {path} holds no packnet_sfm config; export it with "
                             f"scripts/export.py")
        self.cfg = merge_dict(get_cfg_defaults(), json.loads(metadata[CONFIG_KEY]), str(path))
        self.input_keys = tuple(i.name for i in self.session.get_inputs())

    def __call__(self, batch):
        outputs = self.session.run(None, {key: batch[key].numpy() for key in self.input_keys})
        return torch.from_numpy(outputs[0])


def onnx_providers(available, device):
    """ONNX Runtime providers for `device` ('auto': CUDA first when available)."""
    wanted = ['CPUExecutionProvider']
    if device != 'cpu' and 'CUDAExecutionProvider' in available:
        wanted.insert(0, 'CUDAExecutionProvider')
    elif device == 'cuda':
        raise InputError("--device cuda but ONNX Runtime has no CUDA provider here; install "
                         "onnxruntime-gpu or use --device cpu")
    return wanted


BACKENDS = {'torch': TorchPredictor, 'onnx': OnnxPredictor}


@dataclass
class Item:
    """One sample to predict: its output name (relative path, no suffix) and network inputs."""
    name: Path
    inputs: dict = field(default_factory=dict)


def batches(items, size):
    """Lists of up to `size` items with their inputs stacked: (names, batch)."""
    group = []
    for item in items:
        group.append(item)
        if len(group) == size:
            yield stack(group)
            group = []
    if group:
        yield stack(group)


def stack(items):
    keys = items[0].inputs
    return [item.name for item in items], {k: torch.stack([i.inputs[k] for i in items])
                                           for k in keys}


def input_files(path, suffixes, what):
    """(root, [files]): `path` itself, or every file under it with one of `suffixes`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"missing input in --input {path}: give an existing file or folder")
    if path.is_file():
        return path.parent, [path]
    files = sorted(p for p in path.rglob('*') if p.is_file() and p.name.lower().endswith(
        suffixes))
    if not files:
        raise InputError(f"no {what} in --input {path} (searched recursively for "
                         f"{', '.join(suffixes)}): point it at {what}")
    return path, files


# ----------------------------------------------------------------------------------------------
# RGB: images, video frames, sparse input depth
# ----------------------------------------------------------------------------------------------
def rgb_items(path, image_shape, input_depth=None, every=1):
    """Items {'rgb'} (and {'input_depth'} when `input_depth` is given) for an image, a video
    (every `every`-th frame, named <video>/<frame index>) or a folder of them."""
    root, files = input_files(path, IMAGE_SUFFIXES + VIDEO_SUFFIXES, 'images or videos')
    for file in files:
        name = file.relative_to(root).with_suffix('')
        suffix = file.suffix.lower()
        if suffix in VIDEO_SUFFIXES:
            if input_depth is not None:
                raise InputError(f"--input-depth given for the video {file}: input depth "
                                 "goes with images; drop --input-depth")
            yield from video_items(file, name, image_shape, every)
        elif suffix in IMAGE_SUFFIXES:
            inputs = {'rgb': rgb_tensor(read_image(file), image_shape)}
            if input_depth is not None:
                inputs['input_depth'] = read_input_depth(
                    input_depth_file(input_depth, name, single=Path(path).is_file()),
                    image_shape)
            yield Item(name, inputs)
        else:
            raise InputError(f"not an image or a video in --input {file}: give one of "
                             f"{', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}")


def read_image(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"unreadable image in {path}: OpenCV cannot decode it; check the file")
    return image


def video_items(path, name, image_shape, every):
    """Items of every `every`-th frame of a video, named <name>/<frame index, 6 digits>."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    try:
        if not capture.isOpened():
            raise InputError(f"unreadable video in {path}: OpenCV cannot open it; check the "
                             "file or convert it to .mp4")
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                count += 1
                yield Item(name / f'{index:06d}', {'rgb': rgb_tensor(frame, image_shape)})
            index += 1
    finally:
        capture.release()
    if count == 0:
        raise InputError(f"unreadable video in {path}: no frame could be decoded; check the file")


def input_depth_file(input_depth, name, single):
    """The input-depth file of the image named `name`: `input_depth` itself for a single
    image, else <input_depth>/<name>.png or .npy (a tree mirroring the images')."""
    input_depth = Path(input_depth)
    if single and input_depth.is_file():
        return input_depth
    candidates = [input_depth / f'{name}{suffix}' for suffix in INPUT_DEPTH_SUFFIXES]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise InputError(f"missing input depth in --input-depth {input_depth}: expected "
                     f"{' or '.join(str(c) for c in candidates)}")


def read_input_depth(path, image_shape):
    """Sparse depth [1,H,W] in metres at `image_shape` (every measurement kept) from a KITTI
    uint16 PNG (metres * 256) or a 2-D .npy in metres; 0 = no measurement."""
    if path.suffix == '.npy':
        depth = np.load(path)
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise InputError(f"bad input depth in {path}: expected a 2-D float array in metres, "
                             f"got {depth.dtype} {depth.shape}")
    else:
        try:
            depth = read_png_depth(path)
        except OSError as error:
            raise InputError(f"bad input depth in {path}: {error}; KITTI depth PNGs are uint16 "
                             "metres * 256") from error
    depth = np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return torch.from_numpy(resize_sparse_depth(np.maximum(depth, 0.0), image_shape))[None]


def rgb_image_shape(cfg):
    """(height, width) the network was trained at (the training split's image size)."""
    return input_size(cfg)[0]


# ----------------------------------------------------------------------------------------------
# Echoes: BatVision V2 .wav and V1 *_left.npy recordings
# ----------------------------------------------------------------------------------------------
def audio_items(path, cfg):
    """Items {'audio'}: the cut waveform of every recording under `path` (the predictor's
    graph computes the features)."""
    max_depth = training_options(cfg)['max_depth']
    root, files = input_files(path, ('.wav', '_left.npy'), 'V2 .wav or V1 *_left.npy recordings')
    for file in files:
        relative = file.relative_to(root)
        yield Item(relative.with_name(relative.name.removesuffix('_left.npy')
                                      .removesuffix('.wav')),
                   {'audio': read_waveform(file, max_depth)})


def read_waveform(path, max_depth):
    """Binaural float32 [2, T] as the matching dataset reads it."""
    if path.suffix == '.wav':
        return read_stereo_wav(str(path), echo_samples(max_depth), source='--input')
    if path.name.endswith('_left.npy'):
        right = path.with_name(path.name.replace('_left.npy', '_right.npy'))
        return read_ears((str(path), str(right)), '--input', echo_samples(max_depth))
    raise InputError(f"not a recording in --input {path}: give a V2 .wav or a V1 *_left.npy")


# ----------------------------------------------------------------------------------------------
# Outputs
# ----------------------------------------------------------------------------------------------
def write_depth(depth, stem, formats, color_max=None):
    """Write depth [H,W] (metres) as <stem>.npy / .npz (key 'depth') / .png (coloured on
    [0, color_max], default the 99th percentile of this map, with a legend); returns paths."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    depth = depth.astype(np.float32)
    paths = []
    for fmt in formats:
        path = stem.with_name(f'{stem.name}.{fmt}')
        if fmt == 'npy':
            np.save(path, depth)
        elif fmt == 'npz':
            np.savez_compressed(path, depth=depth)
        else:
            scale = color_max or max(float(np.percentile(depth, 99)), 1e-3)
            save_png(depth_picture(depth, scale), path)
        paths.append(path)
    return paths
