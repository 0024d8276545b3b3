"""Evaluation over a whole split, on one process or N ranks: per-image depth metrics, each
sample counted exactly once (shards padded by the sampler are de-duplicated by index)."""
import math

import torch
import torch.nn.functional as F

from packnet_sfm.utils.depth import METRIC_NAMES, compute_depth_metrics_per_image
from packnet_sfm.utils.progress import progress


def to_device(batch, device):
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
            for k, v in batch.items()}


def evaluation_options(cfg):
    node = cfg.evaluation
    return {'min_depth': node.min_depth, 'max_depth': node.max_depth or None,
            'crop': node.crop or None, 'use_gt_scale': node.use_gt_scale}


@torch.no_grad()
def evaluate(model, loader, world, device, options, on_first_batch=None, desc='eval'):
    """Mean metrics over the images with a valid pixel, and one row per sample (by index).

    `on_first_batch(batch, output)` is called on rank 0 with the first batch (pictures).
    """
    model.eval()
    indices = list(loader.sampler)
    values, filenames, position = [], [], 0
    for batch in progress(loader, desc=desc, leave=False, disable=not world.is_main):
        batch = to_device(batch, device)
        output = model(batch)
        if position == 0 and on_first_batch is not None and world.is_main:
            on_first_batch(batch, output)
        per_image = compute_depth_metrics_per_image(**scored_depth(batch, output), **options)
        size = output['depth'].shape[0]
        index = torch.tensor(indices[position:position + size], dtype=torch.float64)
        columns = [index, per_image['valid'].double()] + [per_image[m] for m in METRIC_NAMES]
        values.append(torch.stack([c.cpu() for c in columns], 1))
        filenames.extend(batch.get('filename', [''] * size))
        position += size
    table = world.gather(torch.cat(values))
    names = [n for part in world.gather_objects(filenames) for n in part]
    return summarise(table, names)


def scored_depth(batch, output):
    """What a batch is scored on: {'gt', 'pred'} [B,1,H,W] metres, and 'image_sizes'. With
    native-resolution ground truth in the batch ('depth_native', KITTI evaluation splits) each
    prediction is upsampled bilinearly to its image's native size inside the zero-padded grid
    (see datasets/builder.py `collate`); otherwise the model's 'gt' and 'depth'."""
    if 'depth_native' not in batch:
        return {'gt': output['gt'], 'pred': output['depth']}
    gt, sizes = batch['depth_native'], batch['native_shape']
    pred = torch.zeros_like(gt)
    for i, (height, width) in enumerate(sizes.tolist()):
        pred[i, :, :height, :width] = F.interpolate(
            output['depth'][i:i + 1], size=(height, width), mode='bilinear',
            align_corners=False)[0]
    return {'gt': gt, 'pred': pred, 'image_sizes': sizes}


def summarise(table, filenames):
    """De-duplicate rows by sample index and average the valid ones."""
    rows, seen = [], set()
    for row, filename in zip(table.tolist(), filenames):
        index = int(row[0])
        if index in seen:
            continue
        seen.add(index)
        rows.append({'idx': index, 'filename': filename, 'valid': bool(row[1]),
                     **dict(zip(METRIC_NAMES, row[2:]))})
    rows.sort(key=lambda r: r['idx'])
    valid = [r for r in rows if r['valid']]
    metrics = {m: sum(r[m] for r in valid) / len(valid) if valid else math.nan
               for m in METRIC_NAMES}
    metrics['num_images'] = len(valid)
    return metrics, rows
