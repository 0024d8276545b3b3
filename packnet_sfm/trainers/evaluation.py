"""Evaluation over a whole split, on one process or N ranks: per-image depth metrics under one
or several protocols, each sample counted exactly once (shards padded by the sampler are
de-duplicated by index)."""
import csv
import json
import math
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from packnet_sfm.datasets.augmentation import mirror_batch
from packnet_sfm.datasets.bad_samples import SkipBadSamples
from packnet_sfm.datasets.builder import EVAL_SPLITS, build_dataset, build_loader
from packnet_sfm.utils.depth import METRIC_NAMES, compute_depth_metrics_per_image
from packnet_sfm.utils.progress import progress
from packnet_sfm.utils.protocols import protocol_from_config


def to_device(batch, device, channels_last=False):
    """The batch's tensors on `device` (asynchronous copies from pinned memory on CUDA);
    image batches [B, C, H, W] in channels-last memory order with `channels_last`."""
    def move(value):
        if not isinstance(value, torch.Tensor):
            return value
        value = value.to(device, non_blocking=True)
        if channels_last and value.dim() == 4 and value.is_floating_point():
            return value.contiguous(memory_format=torch.channels_last)
        return value
    return {key: move(value) for key, value in batch.items()}


def evaluation_protocols(cfg, names=()):
    """{protocol name: metric options} for `names` (default: `evaluation.protocol`)."""
    return {name: {**protocol_from_config(cfg, name).options(),
                   'use_gt_scale': cfg.evaluation.use_gt_scale}
            for name in names or [cfg.evaluation.protocol]}


def scored_output(model, batch, with_loss=False, test_time_mirror=False):
    """What the metrics score: the model's evaluation output (its forward with the training
    loss when `with_loss`); with `test_time_mirror`, its depth is the mean of the prediction
    and the flipped-back prediction of the mirrored batch (the other outputs are the
    unmirrored ones)."""
    output = model(batch) if with_loss else model.evaluation_output(batch)
    if test_time_mirror:
        mirrored = model.evaluation_output(mirror_batch(batch))['depth'].flip(-1)
        output = {**output, 'depth': (output['depth'] + mirrored) / 2}
    return output


@torch.no_grad()
def evaluate(model, loader, world, device, protocols, on_first_batch=None, desc='eval', *,
             autocast=nullcontext, with_loss=False, channels_last=False,
             test_time_mirror=False):
    """{protocol: (mean metrics over the images with a valid pixel, one row per sample by
    index)} for `protocols` {name: metric options} (see `evaluation_protocols`).

    The model runs under `autocast` (the training's mixed precision) and, unless `with_loss`
    (then the metrics add the mean 'loss'), without computing its training loss;
    `test_time_mirror` averages each prediction with that of the mirrored sample
    (`scored_output`).
    `on_first_batch(batch, output)` is called on rank 0 with the first batch (pictures).
    """
    model.eval()
    indices = list(loader.sampler)
    values = {name: [] for name in protocols}
    filenames, bad_samples, losses, position = [], [], [], 0
    for batch in progress(loader, desc=desc, disable=not world.is_main):
        index, length, bad = batch_indices(batch, indices, position)
        bad_samples += bad
        if len(index):
            batch = to_device(batch, device, channels_last)
            with autocast():
                output = scored_output(model, batch, with_loss, test_time_mirror)
            if with_loss:
                losses.append(float(output['loss']))
            if position == 0 and on_first_batch is not None and world.is_main:
                on_first_batch(batch, output)
            for name, options in protocols.items():
                per_image = compute_depth_metrics_per_image(**scored_depth(batch, output),
                                                            **options)
                columns = [index, per_image['valid'].double()] + [per_image[m]
                                                                  for m in METRIC_NAMES]
                values[name].append(torch.stack([c.cpu() for c in columns], 1))
            filenames.extend(batch.get('filename', [''] * len(index)))
        position += length
    names = [n for part in world.gather_objects(filenames) for n in part]
    bad_count = sum(len(part) for part in world.gather_objects(bad_samples))
    results = {}
    for name, tables in values.items():
        metrics, rows = summarise(world.gather(torch.cat(tables) if tables else
                                               torch.zeros(0, 2 + len(METRIC_NAMES),
                                                           dtype=torch.float64)), names)
        if isinstance(loader.dataset, SkipBadSamples):
            metrics['bad_samples'] = bad_count
        if with_loss:
            every_loss = [loss for part in world.gather_objects(losses) for loss in part]
            metrics['loss'] = sum(every_loss) / max(len(every_loss), 1)
        results[name] = metrics, rows
    return results


def evaluate_split(cfg, model, split, world, device, protocols, autocast=nullcontext):
    """`evaluate` of a trained model on a split (an EVAL_SPLITS name) with the config's data
    and evaluation settings (channels-last order, test-time mirror): what scripts/eval.py and
    the bench scripts score."""
    key = EVAL_SPLITS[split]
    loader = build_loader(cfg, key, build_dataset(cfg, key), world)
    return evaluate(model, loader, world, device, protocols, desc=f'eval {split}',
                    autocast=autocast, channels_last=cfg.arch.channels_last,
                    test_time_mirror=cfg.evaluation.test_time_mirror)


def training_split_as_test(cfg):
    """A copy of `cfg` whose test split reads the training recordings (the same datasets,
    paths and splits), without the training's augmentation."""
    cfg = cfg.clone()
    cfg.defrost()
    for key in ('dataset', 'path', 'split'):
        cfg.datasets.test[key] = list(cfg.datasets.train[key])
    return cfg


@torch.no_grad()
def split_outputs(cfg, checkpoint, split):
    """The trained model of `cfg` at `checkpoint`: its `evaluation_output` for each batch of a
    split (an ANALYSIS_SPLITS name: test, val, or train through `training_split_as_test`), on
    the CPU, in one process; with the batch's 'location' list (None where the dataset names
    none)."""
    from packnet_sfm.datasets.builder import EVAL_SPLITS, build_dataset, build_loader
    from packnet_sfm.models import load_trained_model
    from packnet_sfm.trainers.distributed import SingleProcess

    if split == 'train':
        cfg, split = training_split_as_test(cfg), 'test'
    model = load_trained_model(cfg, checkpoint)
    key = EVAL_SPLITS[split]
    for batch in build_loader(cfg, key, build_dataset(cfg, key), SingleProcess()):
        yield {**model.evaluation_output(to_device(batch, 'cpu')),
               'location': batch.get('location')}


def batch_indices(batch, indices, position):
    """(sampler indices [n] of the batch's samples, samples the batch took from the sampler,
    the BadSamples a skipping loader took out of it); pops the skipping loader's keys."""
    kept, bad = batch.pop('kept', None), batch.pop('bad_samples', [])
    length = len(batch['depth']) if kept is None else len(kept) + len(bad)
    chosen = indices[position:position + length]
    chosen = chosen if kept is None else [chosen[k] for k in kept]
    return torch.tensor(chosen, dtype=torch.float64), length, bad


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


def results_paths(checkpoint, split, tag=''):
    """(metrics JSON, per-sample CSV) that scripts/eval.py writes next to a checkpoint for a
    split: `<ckpt>_<split>_metrics.json` and `<ckpt>_<split>_per_sample.csv`, or with a `tag`
    (eval.py --tag) `<ckpt>_<split>_<tag>_metrics.json` and `..._per_sample.csv`."""
    checkpoint = Path(checkpoint)
    stem = '_'.join(part for part in (checkpoint.stem, split, tag) if part)
    return checkpoint.parent / f'{stem}_metrics.json', checkpoint.parent / f'{stem}_per_sample.csv'


def read_results(checkpoint, split):
    """{protocol: metrics} that scripts/eval.py wrote for a checkpoint and split."""
    return json.loads(results_paths(checkpoint, split)[0].read_text())['protocols']


def read_per_sample(checkpoint, split):
    """{protocol: [row]} that scripts/eval.py wrote for a checkpoint and split: per sample its
    'idx', 'filename', 'valid' and every metric as a float (NaN where not valid)."""
    with open(results_paths(checkpoint, split)[1], newline='') as file:
        rows = list(csv.DictReader(file))
    tables = {}
    for row in rows:
        tables.setdefault(row['protocol'], []).append(
            {'idx': int(row['idx']), 'filename': row['filename'], 'valid': row['valid'] == 'True',
             **{m: float(row[m]) for m in METRIC_NAMES}})
    return tables
