"""A prepared cache of a dataset's deterministic work (`datasets.cache_dir`), stored once in
memory-mappable .npy arrays, one row per sample, so that a warm loader only reads slices.

What is stored, per sample key: 'audio' features float16 (waveforms, when the loader yields
them for features on the device, float32: they are exact 24-bit samples), 'depth' and 'rgb'
float16 (relative error below 5e-4: metrics move by less than 1e-3), 'valid' bool. Samples that
fail to load are stored as their error message and raise it again when read.

The cache folder's name holds a hash of every option that changes its content and of each
source file's path, size and modification time: a changed option or a touched file makes a new
cache, an old one is never read. A cache is built in `<folder>.partial` (rows marked done as
they are written, so a killed build resumes) and renamed when complete, under a file lock that
lets several ranks or workers share one build.
"""
import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from multiprocessing import get_context

import numpy as np
import torch
from torch.utils.data import Dataset

from packnet_sfm.utils.errors import InputError, user_message, writable_folder
from packnet_sfm.utils.progress import progress

CACHE_FORMAT = 2
FLOAT16_KEYS = ('depth', 'rgb')
FLUSH_EVERY = 64


def storage_dtype(key, value):
    """The compact dtype a sample tensor is stored in (see the module docstring)."""
    if value.dtype == torch.bool:
        return np.bool_
    if key in FLOAT16_KEYS or (key == 'audio' and value.dim() == 3):
        return np.float16
    return np.float32


def cache_folder(cache_dir, dataset):
    """`<cache_dir>/<Class>-<split>-<hash>`: the hash covers the dataset's content options and
    every source file's path, size and mtime."""
    digest = hashlib.sha256(json.dumps(
        {'format': CACHE_FORMAT, 'class': type(dataset).__name__,
         'options': dataset.cache_options()}, sort_keys=True).encode())
    for path in dataset.source_files():
        stat = os.stat(path) if os.path.exists(path) else None
        digest.update(f'{path}\0{stat and stat.st_size}\0{stat and stat.st_mtime_ns}\n'.encode())
    split = os.path.basename(str(getattr(dataset, 'split', 'data')))
    return os.path.join(cache_dir, f'{type(dataset).__name__}-{split}-{digest.hexdigest()[:16]}')


@contextmanager
def locked(path):
    """An exclusive lock on the file `path` (other processes wait)."""
    with open(path, 'w') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class CachedDataset(Dataset):
    """`dataset` served from its cache under `cache_dir` (built on first use with `workers`
    processes). Tensor entries come from the arrays, the others ('idx', 'filename', ...) from
    the dataset's `sample_info(index)`."""

    def __init__(self, dataset, cache_dir, workers=0):
        self.dataset = dataset
        self.folder = build_cache(dataset, cache_dir, workers)
        with open(os.path.join(self.folder, 'index.json')) as f:
            index = json.load(f)
        self.keys, self.errors = index['keys'], {int(k): v for k, v in index['errors'].items()}
        self.arrays = None      # opened lazily, in each DataLoader worker

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        if index in self.errors:
            raise InputError(self.errors[index])
        if self.arrays is None:
            self.arrays = {key: np.load(os.path.join(self.folder, f'{key}.npy'), mmap_mode='r')
                           for key in self.keys}
        sample = {key: torch.from_numpy(np.array(array[index])) for key, array in
                  self.arrays.items()}
        sample = {key: value.float() if value.dtype == torch.float16 else value
                  for key, value in sample.items()}
        return {**sample, **self.dataset.sample_info(index)}


def build_cache(dataset, cache_dir, workers=0):
    """The complete cache folder of `dataset`, built (or its partial build resumed) if absent."""
    folder = cache_folder(cache_dir, dataset)
    if os.path.isdir(folder):
        return folder
    writable_folder(cache_dir, 'datasets.cache_dir')
    with locked(folder + '.lock'):
        if not os.path.isdir(folder):       # another process may have built it meanwhile
            partial = folder + '.partial'
            fill_partial(dataset, partial, workers)
            os.replace(partial, folder)
    return folder


def fill_partial(dataset, partial, workers):
    """Write every sample not yet marked done into the arrays under `partial`."""
    os.makedirs(partial, exist_ok=True)
    keys, errors = open_arrays(dataset, partial)
    done = np.load(os.path.join(partial, 'done.npy'), mmap_mode='r+')
    todo = [int(i) for i in np.flatnonzero(~done)]
    chunks = [todo[i:i + FLUSH_EVERY] for i in range(0, len(todo), FLUSH_EVERY)]
    context = get_context('fork')
    with context.Pool(max(workers, 1), initializer=_open_worker,
                      initargs=(dataset, partial, keys)) as pool:
        bar = progress(total=len(todo), desc=f'cache {os.path.basename(partial)}',
                       unit='sample')
        for chunk_errors, count in pool.imap_unordered(_write_chunk, chunks):
            errors.update(chunk_errors)
            bar.update(count)
        bar.close()
    with open(os.path.join(partial, 'index.json'), 'w') as f:
        json.dump({'keys': keys, 'errors': errors}, f)


def open_arrays(dataset, partial):
    """Create the arrays of a new partial build from the first good sample (or reopen them);
    returns (tensor keys, the errors recorded so far)."""
    index_path = os.path.join(partial, 'index.json')
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        return index['keys'], index['errors']
    first, errors = None, {}
    for i in range(len(dataset)):
        try:
            first = dataset[i]
            break
        except InputError as error:
            errors[str(i)] = ' '.join(user_message(error).split())
    if first is None:
        raise InputError(f"No sample of {type(dataset).__name__} split '{dataset.split}' loads; "
                         f"the first error: {next(iter(errors.values()))}")
    keys = sorted(k for k, v in first.items() if torch.is_tensor(v))
    for key in keys:
        np.lib.format.open_memmap(os.path.join(partial, f'{key}.npy'), mode='w+',
                                  dtype=storage_dtype(key, first[key]),
                                  shape=(len(dataset), *first[key].shape))
    np.save(os.path.join(partial, 'done.npy'), np.zeros(len(dataset), bool))
    with open(index_path, 'w') as f:     # keys first: a resumed build reopens these arrays
        json.dump({'keys': keys, 'errors': {}}, f)
    return keys, {}


_worker = {}


def _open_worker(dataset, partial, keys):
    torch.set_num_threads(1)    # as DataLoader workers: forked OpenMP pools would deadlock
    _worker['dataset'] = dataset
    _worker['done'] = np.load(os.path.join(partial, 'done.npy'), mmap_mode='r+')
    _worker['arrays'] = {key: np.load(os.path.join(partial, f'{key}.npy'), mmap_mode='r+')
                         for key in keys}


def _write_chunk(indices):
    """Compute and store a chunk of samples (flushed before they are marked done)."""
    errors = {}
    for index in indices:
        try:
            sample = _worker['dataset'][index]
        except InputError as error:
            errors[str(index)] = ' '.join(user_message(error).split())
            continue
        for key, array in _worker['arrays'].items():
            array[index] = sample[key].numpy()
    for array in _worker['arrays'].values():
        array.flush()
    _worker['done'][[i for i in indices if str(i) not in errors]] = True
    _worker['done'].flush()     # failed samples stay to do: a resumed build meets them again
    return errors, len(indices)
