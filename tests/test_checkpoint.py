"""Checkpoints: atomic writes, weights-only loading, top-k bookkeeping, RNG state."""
import math
import random

import numpy as np
import pytest
import torch

from packnet_sfm.utils import checkpoint as ckpt


def test_crash_during_write_leaves_previous_checkpoint_loadable(tmp_path, monkeypatch):
    path = tmp_path / 'last.ckpt'
    ckpt.save_checkpoint({'epoch': 1, 'w': torch.ones(3)}, path)
    real_save = torch.save

    def crash_midway(state, f):
        real_save({'partial': torch.zeros(1000)}, f)  # some bytes reach the temp file...
        raise KeyboardInterrupt('killed during checkpoint write')  # ...then the run dies

    monkeypatch.setattr(torch, 'save', crash_midway)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint({'epoch': 2, 'w': torch.zeros(3)}, path)
    monkeypatch.undo()
    state = ckpt.load_checkpoint(path)
    assert state['epoch'] == 1 and torch.equal(state['w'], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ['last.ckpt']  # no temp file left


def test_corrupt_or_missing_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / 'bad.ckpt').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='bad.ckpt.*corrupt'):
        ckpt.load_checkpoint(tmp_path / 'bad.ckpt')
    with pytest.raises(FileNotFoundError, match='missing.ckpt'):
        ckpt.load_checkpoint(tmp_path / 'missing.ckpt')


def test_rng_state_round_trips_through_a_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    ckpt.save_checkpoint({'rng': ckpt.rng_state()}, tmp_path / 'r.ckpt')
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.set_rng_state(ckpt.load_checkpoint(tmp_path / 'r.ckpt')['rng'])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


@pytest.mark.parametrize('monitor,values,kept', [
    ('rmse', [3.0, 1.0, 2.0, 0.5], [0.5, 1.0]),
    ('a1', [0.3, 0.9, 0.5, 0.1], [0.9, 0.5]),
])
def test_top_k_keeps_the_best_files(tmp_path, monitor, values, kept):
    best = ckpt.TopKCheckpoints(tmp_path, monitor=monitor, k=2)
    for epoch, value in enumerate(values, 1):
        best.update({'epoch': epoch}, epoch, {monitor: value})
    assert [v for v, _ in best.kept] == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(n for _, n in best.kept)


@pytest.mark.parametrize('values', [[math.nan, 3.0, 1.0], [3.0, math.nan, 1.0, math.inf]])
def test_top_k_never_keeps_a_non_finite_value(tmp_path, values):
    best = ckpt.TopKCheckpoints(tmp_path, monitor='rmse', k=1)
    for epoch, value in enumerate(values, 1):
        best.update({'epoch': epoch}, epoch, {'rmse': value})
    assert [v for v, _ in best.kept] == [1.0]
    assert [p.name for p in tmp_path.iterdir()] == ['epoch=0003-rmse=1.0000.ckpt']


def test_a_missing_monitor_value_is_not_ranked(tmp_path):
    best = ckpt.TopKCheckpoints(tmp_path, monitor='rmse', k=1)
    assert best.update({}, 1, {'abs_rel': 0.1}) is None and best.kept == []
