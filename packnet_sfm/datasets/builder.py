"""Datasets and data loaders from the config's parallel lists (`datasets.<split>.dataset`,
`.path`, `.split`), each class found by name (`BatvisionV2` -> BatvisionV2Dataset), with its
options from `datasets.<node>` and the split's own values over them (`datasets.<split>.<node>`).
"""
import os

import torch
from torch.utils.data import ConcatDataset, DataLoader, DistributedSampler

from configs.default_config import DATASET_OPTION_NODES
from packnet_sfm.datasets.augmentation import Augmentation
from packnet_sfm.datasets.bad_samples import ON_BAD_SAMPLE, SkipBadSamples, collate_skipping
from packnet_sfm.datasets.cache import CachedDataset
from packnet_sfm.datasets.collate import collate
from packnet_sfm.utils.config import check_minimums
from packnet_sfm.utils.errors import InputError
from packnet_sfm.utils.load import accepted_kwargs, load_class
from packnet_sfm.utils.seed import seed_worker

DATASETS = 'packnet_sfm.datasets'
SPLIT_KEYS = ('train', 'validation', 'test')
EVAL_SPLITS = {'test': 'test', 'val': 'validation'}    # --split NAME of the scripts: split key
ANALYSIS_SPLITS = (*EVAL_SPLITS, 'train')   # what trainers/evaluation.split_outputs reads
LOADER_KEYS = ('dataset', 'path', 'split', 'batch_size', 'num_workers', 'shuffle',
               'on_bad_sample', 'persistent_workers', 'prefetch_factor')


def dataset_class(name, key):
    """The dataset class of a `datasets.<split>.dataset` entry ('BatvisionV2' ->
    BatvisionV2Dataset)."""
    return load_class(f'{name}Dataset', DATASETS, key)


def _check_lists(node, split_key):
    lengths = {key: len(node[key]) for key in ('dataset', 'path', 'split')}
    if len(set(lengths.values())) != 1 or not lengths['dataset']:
        raise InputError(f"datasets.{split_key}.dataset, .path and .split are parallel lists of "
                         f"the same non-zero length; got lengths {lengths}: give one entry per "
                         f"dataset in each")


def dataset_options(cfg, split_key, cls):
    """The options of dataset class `cls` in a split: datasets.<node>, then the values
    datasets.<split_key>.<node> sets (<node> is the class's `config_node`)."""
    return {**cfg.datasets[cls.config_node], **cfg.datasets[split_key][cls.config_node]}


def training_options(cfg):
    """The dataset options of the split the network is trained on (its first dataset)."""
    return dataset_options(cfg, 'train', dataset_class(cfg.datasets.train.dataset[0],
                                                       'datasets.train.dataset'))


def _check_split_options(node, split_key, classes):
    """Split-level values only for options the split's datasets have."""
    used = {cls.config_node for cls in classes}
    for name in DATASET_OPTION_NODES:
        if node[name] and name not in used:
            raise InputError(f"datasets.{split_key}.{name} is set but the {split_key} datasets "
                             f"({', '.join(node.dataset)}) read no datasets.{name} options; "
                             "remove it")
    for key, value in node.items():
        if key in LOADER_KEYS or key in DATASET_OPTION_NODES or not value:
            continue
        lacking = [cls.__name__ for cls in classes if key not in accepted_kwargs(cls, {key: 0})]
        if lacking:
            raise InputError(f"datasets.{split_key}.{key} is set but {lacking[0]} has no such "
                             "option; leave it empty")


def build_datasets(cfg, split_key):
    """{'<dataset>-<split>': dataset} of `datasets.<split_key>`, one per entry of its parallel
    lists, in order (`<split>` is a split file's name without folder and extension; a repeated
    name gets the entry's position as a suffix). Classes that name a `training` parameter learn
    whether this is the training split; the training split gets the `datasets.augmentation` of
    classes that take an `augmentation`."""
    if split_key not in SPLIT_KEYS:
        raise InputError(f"Unknown split '{split_key}'; use one of {SPLIT_KEYS}")
    node = cfg.datasets[split_key]
    _check_lists(node, split_key)
    classes = [dataset_class(name, f'datasets.{split_key}.dataset') for name in node.dataset]
    _check_split_options(node, split_key, classes)
    training = split_key == 'train'
    augmentation = Augmentation.from_config(cfg.datasets.augmentation) if training else None
    parts = {}
    for position, (cls, name, path, split) in enumerate(zip(classes, node.dataset, node.path,
                                                            node.split)):
        options = {**dataset_options(cfg, split_key, cls), 'training': training,
                   **{k: v for k, v in node.items()
                      if k not in LOADER_KEYS and k not in DATASET_OPTION_NODES}}
        if augmentation is not None and augmentation.enabled:
            if 'augmentation' not in accepted_kwargs(cls, {'augmentation': 0}):
                raise InputError(f"datasets.augmentation is set but {cls.__name__} does not "
                                 "augment (its inputs and depth would no longer match); set "
                                 "its values to 0 (echoes: the echo_* keys, e.g. "
                                 "echo_mirror_prob for a flip, act in the model)")
            options['augmentation'] = augmentation
        key = f'{name}-{os.path.splitext(os.path.basename(split))[0]}'
        dataset = cls(path, split=split, **accepted_kwargs(cls, options))
        parts[f'{key}-{position}' if key in parts else key] = cached(cfg, dataset,
                                                                      node.num_workers)
    return parts


def cached(cfg, dataset, workers):
    """`dataset` served from its prepared cache under `datasets.cache_dir` (built now if
    absent, with `workers` processes), or as it is when no cache_dir is set."""
    if not cfg.datasets.cache_dir:
        return dataset
    if not hasattr(dataset, 'cache_options'):
        raise InputError(f"datasets.cache_dir is set but {type(dataset).__name__} has no cache "
                         f"(only the BatVision loaders do); leave datasets.cache_dir empty")
    return CachedDataset(dataset, cfg.datasets.cache_dir, workers)


def build_dataset(cfg, split_key):
    """The dataset of `datasets.<split_key>`: one class per entry, concatenated."""
    parts = list(build_datasets(cfg, split_key).values())
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def depth_units(cfg):
    """(metres per unit of the batch depth, largest depth in those units) for the train set."""
    options = training_options(cfg)
    if options['max_depth'] <= 0:
        node = dataset_class(cfg.datasets.train.dataset[0], 'datasets.train.dataset').config_node
        raise InputError(f"datasets.{node}.max_depth must be > 0 m, got {options['max_depth']}")
    normalised = bool(options.get('depth_norm', False))
    return (options['max_depth'], 1.0) if normalised else (1.0, options['max_depth'])


def input_size(cfg):
    """((height, width) of the images the training set feeds the network, their config key),
    or None for waveform input."""
    cls = dataset_class(cfg.datasets.train.dataset[0], 'datasets.train.dataset')
    options, name = training_options(cfg), cls.config_node
    key = 'image_shape' if 'image_shape' in options else 'image_size'
    where = (f'datasets.train.{name}.{key}' if key in cfg.datasets.train[name]
             else f'datasets.{name}.{key}')
    if key == 'image_shape':
        return tuple(options[key]), where
    if options.get('audio_format') == 'waveform':
        return None
    return (options[key], options[key]), where


def build_loader(cfg, split_key, dataset, world):
    """A DataLoader over this rank's shard. The sampler and worker seeds depend only on the
    run seed and the epoch (call `set_epoch`), so a resumed run sees the same data order.
    Training drops incomplete batches; evaluation pads the shards (the evaluator counts each
    sample once by its `idx`). With `on_bad_sample: skip`, samples that fail to load are taken
    out of their batch and listed in its 'bad_samples' (see bad_samples.py)."""
    node, training = cfg.datasets[split_key], split_key == 'train'
    if len(dataset) == 0:
        raise InputError(f"datasets.{split_key} is empty: check datasets.{split_key}.path/split")
    check_minimums(node, {'batch_size': 1, 'num_workers': 0}, f'datasets.{split_key}')
    if node.on_bad_sample not in ON_BAD_SAMPLE:
        raise InputError(f"datasets.{split_key}.on_bad_sample is '{node.on_bad_sample}'; use one "
                         f"of {', '.join(ON_BAD_SAMPLE)}")
    skip = node.on_bad_sample == 'skip'
    sampler = DistributedSampler(dataset, num_replicas=world.size, rank=world.rank,
                                 shuffle=node.shuffle, seed=cfg.arch.seed,
                                 drop_last=training and len(dataset) >= world.size)
    workers = {'persistent_workers': node.persistent_workers,
               'prefetch_factor': node.prefetch_factor} if node.num_workers else {}
    return DataLoader(SkipBadSamples(dataset) if skip else dataset, batch_size=node.batch_size,
                      sampler=sampler, collate_fn=collate_skipping if skip else collate,
                      num_workers=node.num_workers, pin_memory=torch.cuda.is_available(),
                      **workers,
                      drop_last=training and len(sampler) >= node.batch_size,
                      worker_init_fn=seed_worker, generator=torch.Generator())


def set_epoch(loader, seed, epoch):
    """Reseed the shuffling and the worker seeds of `loader` for `epoch`."""
    loader.sampler.set_epoch(epoch)
    loader.generator.manual_seed(seed * 100003 + epoch)
