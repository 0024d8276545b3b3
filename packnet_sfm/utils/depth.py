"""Depth conversions and the standard depth metrics (per image, then averaged over images)."""
import math

import torch
import torch.nn.functional as F

from packnet_sfm.utils.config import ConfigError

METRIC_NAMES = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'mae', 'a1', 'a2', 'a3')
# Garg et al. crop as fractions of (height, height, width, width): rows y1:y2, columns x1:x2.
GARG_CROP = (0.40810811, 0.99189189, 0.03594771, 0.96405229)
# Lower bound of predicted depth when min_depth is 0, so that ratios and logs stay finite.
MIN_PRED_DEPTH = 1e-3


def depth2inv(depth, eps=1e-6):
    """Inverse depth; 0 where depth <= 0 (no value), finite gradient everywhere."""
    valid = depth > 0
    return torch.where(valid, 1.0 / depth.clamp(min=eps), torch.zeros_like(depth))


def inv2depth(inv_depth, eps=1e-6):
    """Depth from inverse depth; 0 where inverse depth <= 0 (no value)."""
    return depth2inv(inv_depth, eps)


def crop_mask(shape, crop, device=None):
    """Bool [H,W] mask of the evaluated pixels: all for '' or None, the Garg crop for 'garg'."""
    height, width = shape
    mask = torch.zeros(height, width, dtype=torch.bool, device=device)
    if not crop:
        return mask.fill_(True)
    if crop != 'garg':
        raise ConfigError(f"Unknown evaluation.crop '{crop}'; use '' or 'garg'")
    y1, y2, x1, x2 = GARG_CROP
    mask[int(y1 * height):int(y2 * height), int(x1 * width):int(x2 * width)] = True
    return mask


def evaluated_region(shape, crop, image_sizes=None, device=None):
    """Bool [1 or B, H*W] of the pixels a crop keeps on [H,W] maps; with `image_sizes` ([B,2]
    (height, width) of each image in the top-left corner of zero-padded maps), the crop of
    each image's own grid."""
    if image_sizes is None:
        return crop_mask(shape, crop, device).flatten().unsqueeze(0)
    region = torch.zeros(len(image_sizes), *shape, dtype=torch.bool, device=device)
    for mask, (height, width) in zip(region, image_sizes.tolist()):
        mask[:height, :width] = crop_mask((height, width), crop, device)
    return region.flatten(1)


def compute_depth_metrics_per_image(gt, pred, min_depth=0.0, max_depth=None, crop=None,
                                    use_gt_scale=False, include_min=False, include_max=True,
                                    image_sizes=None):
    """Depth metrics of each image of a batch.

    gt, pred: [B,1,H,W] depth in metres (pred is resized bilinearly to gt's size if needed).
    A pixel is evaluated where gt is finite, min_depth < gt (<= with `include_min`) and, when
    max_depth is given, gt <= max_depth (< without `include_max`), inside the crop (the named
    protocols of utils/protocols.py set these; with `image_sizes`, the crop of each image's
    region of zero-padded maps, see `evaluated_region`). pred is median-scaled per image when
    `use_gt_scale` (packnet-sfm order), then clamped to [max(min_depth, MIN_PRED_DEPTH),
    max_depth].
    Returns {metric: [B] float64 tensor} plus 'valid': [B] bool, False for images with no
    evaluated pixel (their metrics are NaN).
    """
    if pred.shape[-2:] != gt.shape[-2:]:
        pred = F.interpolate(pred, size=gt.shape[-2:], mode='bilinear', align_corners=False)
    region = evaluated_region(gt.shape[-2:], crop, image_sizes, gt.device)
    gt = gt.detach().double().flatten(1)
    pred = pred.detach().double().flatten(1)
    mask = ((gt >= min_depth) if include_min else (gt > min_depth)) & torch.isfinite(gt) & region
    if max_depth:
        mask &= (gt <= max_depth) if include_max else (gt < max_depth)
    count = mask.sum(dim=1)

    if use_gt_scale:
        pred = pred * (masked_median(gt, mask) / masked_median(pred, mask)).unsqueeze(1)
    pred = pred.clamp(min=max(min_depth, MIN_PRED_DEPTH), max=max_depth or None)
    gt = torch.where(mask, gt, torch.ones_like(gt))  # ignored pixels: finite ratios and logs

    def mean(x):
        return torch.where(mask, x, torch.zeros_like(x)).sum(dim=1) / count

    diff = gt - pred
    ratio = torch.maximum(gt / pred, pred / gt)
    metrics = {
        'abs_rel': mean(diff.abs() / gt),
        'sq_rel': mean(diff ** 2 / gt),
        'rmse': mean(diff ** 2).sqrt(),
        'rmse_log': mean((gt.log() - pred.log()) ** 2).sqrt(),
        'log10': mean((gt.log10() - pred.log10()).abs()),
        'mae': mean(diff.abs()),
        **{f'a{k}': mean((ratio < 1.25 ** k).double()) for k in (1, 2, 3)},
    }
    metrics['valid'] = count > 0
    return metrics


def masked_median(x, mask):
    """Per-row median of x [B,N] over mask [B,N] (lower middle, as torch.median); NaN if empty."""
    medians = [row[m].median() if m.any() else row.new_tensor(math.nan)
               for row, m in zip(x, mask, strict=True)]
    return torch.stack(medians)


def compute_depth_metrics(gt, pred, **options):
    """Depth metrics averaged over the images that have an evaluated pixel.

    Same arguments as `compute_depth_metrics_per_image` (`options` by keyword). Returns
    {metric: float} with the keys of METRIC_NAMES plus 'num_images', the number of images
    averaged (weight it when combining batches or ranks). With no valid image every metric is
    NaN and num_images is 0.
    """
    per_image = compute_depth_metrics_per_image(gt, pred, **options)
    valid = per_image['valid']
    averaged = {name: per_image[name][valid].mean().item() if valid.any() else math.nan
                for name in METRIC_NAMES}
    averaged['num_images'] = int(valid.sum())
    return averaged
