"""Checkpoints: written atomically, loadable with torch.load(weights_only=True), and the k best
kept by a monitored validation metric."""
import math
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch

from packnet_sfm.utils.errors import InputError

HIGHER_IS_BETTER = ('a1', 'a2', 'a3')


def save_checkpoint(state, path):
    """Write `state` to `path` through a temporary file in the same folder, then rename, so a
    crash mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path, map_location='cpu'):
    """Load a checkpoint as plain data (no pickled classes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint '{path}' does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise InputError(f"Checkpoint '{path}' is corrupt or not a packnet_sfm checkpoint "
                         f"(torch.load: {first_sentence(error)}); use a .ckpt that "
                         "scripts/train.py wrote") from error


def fit_weights(module, state, path, fix):
    """`module.load_state_dict(state)`, or one InputError naming the checkpoint `path`, how its
    weights differ from the module's (missing, unexpected, other shapes) and `fix`."""
    try:
        module.load_state_dict(state)
    except RuntimeError:
        own = module.state_dict()
        differences = {
            'missing': [k for k in own if k not in state],
            'unexpected': [k for k in state if k not in own],
            'other shape': [k for k in own if k in state and own[k].shape != state[k].shape]}
        found = '; '.join(f"{len(keys)} {kind}, e.g. '{keys[0]}'"
                          for kind, keys in differences.items() if keys)
        raise InputError(f"Checkpoint '{path}' does not fit the {type(module).__name__} this "
                         f"config builds ({found}); {fix}") from None


def first_sentence(error):
    """The first sentence of an error's message (torch's run to paragraphs), or its type."""
    message = str(error).strip()
    return message.splitlines()[0].split('. ')[0][:100] if message else type(error).__name__


def rng_state():
    """The python, numpy and torch random states as checkpoint-safe data."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {'python': [py_state[0], list(py_state[1]), py_state[2]],
            'numpy': [np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]],
            'torch': torch.get_rng_state(),
            'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state):
    """Restore what `rng_state` captured."""
    version, internal, gauss = state['python']
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state['numpy']
    np.random.set_state((name, keys.numpy(), *rest))
    torch.set_rng_state(state['torch'])
    if state.get('cuda') and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def is_better(metric, value, reference):
    """Whether `value` of `metric` improves on `reference` (max for a1-a3, min for errors)."""
    return value > reference if metric in HIGHER_IS_BETTER else value < reference


class TopKCheckpoints:
    """Keeps the `k` best checkpoint files of a run by one monitored metric."""

    def __init__(self, folder, monitor='rmse', k=1):
        self.folder, self.monitor, self.k = Path(folder), monitor, k
        self.kept = []  # (value, filename), best first; a resumed run restores it

    def update(self, state, epoch, metrics):
        """Save `state` if it ranks among the best `k`; delete the file it pushes out. A
        missing or non-finite monitor value never ranks."""
        value = float(metrics.get(self.monitor, math.nan))
        if self.k <= 0 or not math.isfinite(value):
            return None
        if len(self.kept) == self.k and not is_better(self.monitor, value, self.kept[-1][0]):
            return None
        name = f'epoch={epoch:04d}-{self.monitor}={value:.4f}.ckpt'
        self.kept.append((value, name))
        self.kept.sort(key=lambda item: -item[0] if self.monitor in HIGHER_IS_BETTER else item[0])
        for _, dropped in self.kept[self.k:]:
            (self.folder / dropped).unlink(missing_ok=True)
        self.kept = self.kept[:self.k]
        save_checkpoint({**state, 'best_checkpoints': [list(k) for k in self.kept]},
                        self.folder / name)
        return self.folder / name
