"""Pictures of inputs and predictions: OpenCV colour maps on a shared scale, labelled panels,
grids saved as PNG and sent to TensorBoard (all images are HxWx3 uint8 RGB)."""
from pathlib import Path

import cv2
import numpy as np
import torch


def _to_numpy(image):
    return image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else image


def colorize(values, vmin, vmax, colormap=cv2.COLORMAP_MAGMA, invalid=None):
    """Map a 2-D array to colours on the fixed range [vmin, vmax]; `invalid` pixels are black."""
    values = np.squeeze(_to_numpy(values))
    scaled = np.clip((values - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    rgb = cv2.applyColorMap((scaled * 255).astype(np.uint8), colormap)[..., ::-1].copy()
    if invalid is not None:
        rgb[np.squeeze(_to_numpy(invalid)).astype(bool)] = 0
    return rgb


def colorize_depth(depth, max_depth, valid=None):
    """Depth in metres on [0, max_depth], near bright, far dark."""
    invalid = None if valid is None else ~np.squeeze(_to_numpy(valid)).astype(bool)
    return colorize(max_depth - np.squeeze(_to_numpy(depth)), 0, max_depth, invalid=invalid)


def depth_legend(width, max_depth, bar_height=12):
    """[H,width,3] colour bar of `colorize_depth` over [0, max_depth] with its range in metres
    written under it (both ends, and the middle where there is room)."""
    ramp = np.linspace(0.0, max_depth, width)[None].repeat(bar_height, 0)
    labels = np.full((16, width, 3), 255, np.uint8)
    texts = [(0.0, '0 m'), (max_depth / 2, f'{max_depth / 2:.3g}'), (max_depth,
                                                                       f'{max_depth:.3g} m')]
    sizes = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.35, 1)[0][0] for _, text in texts]
    if sum(sizes) + 12 > width:
        texts, sizes = [texts[0], texts[2]], [sizes[0], sizes[2]]
    for (value, text), size in zip(texts, sizes):
        x = int(np.clip(value / max(max_depth, 1e-12) * width - size / 2, 1, width - size - 1))
        cv2.putText(labels, text, (x, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    return np.concatenate([colorize_depth(ramp, max_depth), labels], 0)


def depth_picture(depth, max_depth):
    """Depth in metres coloured on [0, max_depth] above its legend."""
    depth = np.squeeze(_to_numpy(depth))
    return np.concatenate([colorize_depth(depth, max_depth),
                           depth_legend(depth.shape[1], max_depth)], 0)


def colorize_signed(values, limit):
    """A diverging map centred at 0 over [-limit, limit] (blue negative, red positive)."""
    return colorize(values, -limit, limit, colormap=cv2.COLORMAP_JET)


def colorize_input(key, image):
    """A network input as captioned panels: RGB as is; each ear of the audio (spectrogram with
    low frequencies at the bottom, or waveform) apart."""
    image = _to_numpy(image)
    if key == 'input_depth':  # RGB path: sparse depth [1,H,W] in metres, black where missing
        return [(key, colorize_depth(image, max(float(image.max()), 1e-3), image > 0))]
    if key != 'audio':
        return [(key, (np.clip(image.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8))]
    ears = ['left', 'right'] if len(image) == 2 else [f'channel {i}' for i in range(len(image))]
    if image.ndim == 2:  # waveforms [C, T]
        return [(ear, _plot_waveform(channel)) for ear, channel in zip(ears, image)]
    return [(ear, colorize(np.flipud(ch), np.percentile(ch, 1), np.percentile(ch, 99),
                           cv2.COLORMAP_VIRIDIS)) for ear, ch in zip(ears, image)]


def _plot_waveform(signal, height=128, width=256):
    canvas = np.full((height, width, 3), 255, np.uint8)
    x = np.linspace(0, width - 1, len(signal))
    y = height / 2 - signal / (np.abs(signal).max() + 1e-12) * (height / 2 - 2)
    cv2.polylines(canvas, [np.stack([x, y], 1).astype(np.int32)], False, (30, 30, 160), 1)
    return canvas


def label(image, text):
    """The image with a caption strip on top."""
    strip = np.full((18, image.shape[1], 3), 255, np.uint8)
    cv2.putText(strip, text, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([strip, image], 0)


def make_grid(rows, size=128, pad=2):
    """Rows of (caption, image) panels resized to `size` px high, stacked into one picture."""
    rendered = []
    for row in rows:
        panels = [label(cv2.resize(img, (round(size * img.shape[1] / img.shape[0]), size),
                                   interpolation=cv2.INTER_NEAREST), text) for text, img in row]
        panels = [np.pad(p, ((pad, pad), (pad, pad), (0, 0)), constant_values=255) for p in panels]
        rendered.append(np.concatenate(panels, 1))
    width = max(r.shape[1] for r in rendered)
    return np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)),
                                  constant_values=255) for r in rendered], 0)


def save_png(image, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image[..., ::-1]):
        raise OSError(f"Could not write picture '{path}'")
