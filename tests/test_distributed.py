"""Training and evaluation on 2 Horovod ranks (horovodrun, Gloo, CPU) against one process, and
a single process that never imports Horovod. Every run is a subprocess, as a user starts it."""
import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from packnet_sfm.datasets.BatvisionV2Dataset import BatvisionV2Dataset
from packnet_sfm.trainers.evaluation import results_paths

ROOT = Path(__file__).resolve().parents[1]
TRAIN, EVAL = str(ROOT / 'scripts' / 'train.py'), str(ROOT / 'scripts' / 'eval.py')
HOROVODRUN = str(Path(sys.executable).parent / 'horovodrun')

needs_horovod = pytest.mark.skipif(importlib.util.find_spec('horovod') is None,
                                   reason='Horovod is not installed: `make horovod` builds it')

# Runs scripts/train.py with BatchNorm replaced by the identity: BatchNorm normalises with the
# statistics of each rank's batch, so 2 ranks x B and 1 process x 2B differ by design.
WITHOUT_BATCHNORM = """import runpy, sys
import torch.nn
torch.nn.BatchNorm2d = torch.nn.Identity
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""

# Makes any import of Horovod fail and leaves a marker file naming the module.
BLOCK_HOROVOD = """import os, sys
class BlockHorovod:
    def find_spec(self, name, path=None, target=None):
        if name.partition('.')[0] == 'horovod':
            with open(os.environ['HOROVOD_IMPORT_MARKER'], 'w') as marker:
                marker.write(name)
            raise ImportError('Horovod is blocked in this test')
sys.meta_path.insert(0, BlockHorovod())
"""


def run(command, env=None):
    """Run a command from the repository root, failing with its output; returns stdout."""
    env = {**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})}
    result = subprocess.run([str(c) for c in command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f'{command}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}'
    return result.stdout


def horovodrun(ranks, *command):
    return run([HOROVODRUN, '-np', ranks, '-H', f'localhost:{ranks}', '--gloo',
                sys.executable, *command])


def only_run_folder(runs):
    folders = list(Path(runs).iterdir())
    assert len(folders) == 1, f'expected one run folder in {runs}, found {folders}'
    return folders[0]


def load(checkpoint):
    return torch.load(checkpoint, map_location='cpu', weights_only=True)



@pytest.mark.horovod
@needs_horovod
def test_two_ranks_write_one_run(tiny_config, tiny_bv2, tmp_path):
    out = horovodrun(2, TRAIN, tiny_config, 'arch.max_epochs', 1)
    run_dir = only_run_folder(tmp_path / 'runs')
    assert (run_dir / 'last.ckpt').is_file() and (run_dir / 'config.yaml').is_file()
    assert len(list((run_dir / 'tensorboard').glob('events.out.tfevents.*'))) == 1
    validations = (run_dir / 'val_metrics.jsonl').read_text().splitlines()
    assert len(validations) == 1
    # every validation sample counted once, though the sampler pads the shards
    assert json.loads(validations[0])['num_images'] == len(BatvisionV2Dataset(tiny_bv2, 'val'))
    assert out.count('Final validation metrics') == 1


@pytest.mark.horovod
@needs_horovod
def test_two_ranks_equal_one_process_with_the_double_batch(tiny_config, tmp_path):
    """After the same SGD steps on the same samples, 2 ranks x 2 samples and 1 process x 4
    samples make the same update, up to float32 summation order (measured: 5e-5 of its size;
    a rank stepping on its own gradient or on other samples is off by tens of percent)."""
    driver = tmp_path / 'train_without_batchnorm.py'
    driver.write_text(WITHOUT_BATCHNORM)
    options = [tiny_config, 'arch.max_epochs', 1, 'model.optimizer.name', 'SGD',
               'model.optimizer.weight_decay', 0.0, 'model.loss.supervised_method', 'dense-l1',
               'datasets.validation.path', '[]']
    horovodrun(2, driver, TRAIN, *options, 'datasets.train.batch_size', 2,
               'model.optimizer.lr', 0.05, 'checkpoint.filepath', tmp_path / 'two_ranks')
    for name, lr in (('one_process', 0.05), ('initial', 0.0)):
        run([sys.executable, driver, TRAIN, *options, 'datasets.train.batch_size', 4,
             'model.optimizer.lr', lr, 'checkpoint.filepath', tmp_path / name])
    two, one, initial = (load(only_run_folder(tmp_path / name) / 'last.ckpt')['state_dict']
                         for name in ('two_ranks', 'one_process', 'initial'))
    assert two.keys() == one.keys() == initial.keys()
    update_two, update_one = (torch.cat([(p[k] - initial[k]).flatten() for k in initial])
                              for p in (two, one))
    assert update_one.norm() > 0.01                             # the runs did learn
    assert (update_two - update_one).norm() < 1e-3 * update_one.norm()


def odd_sized_test_split(root):
    """Overrides making the test split one location's train and val recordings (an odd
    count), and that count."""
    location = BatvisionV2Dataset(root, 'train').locations[0]
    size = sum(len(BatvisionV2Dataset(root, split, locations=[location]))
               for split in ('train', 'val'))
    assert size % 2 == 1 and size >= 3, f'the tiny set no longer gives an odd split ({size})'
    return ['datasets.test.dataset', "['BatvisionV2', 'BatvisionV2']",
            'datasets.test.path', f"['{root}', '{root}']", 'datasets.test.split',
            "['train', 'val']", 'datasets.test.locations', f"['{location}']",
            'datasets.test.batch_size', 2], size


def evaluation_results(run_dir):
    metrics_path, samples_path = results_paths(run_dir / 'last.ckpt', 'test')
    with open(samples_path) as f:
        return json.loads(metrics_path.read_text())['protocols']['batvision'], list(
            csv.DictReader(f))


@pytest.mark.horovod
@needs_horovod
def test_evaluation_is_the_same_on_one_and_two_ranks(tiny_config, tiny_bv2, tmp_path):
    run([sys.executable, TRAIN, tiny_config, 'arch.max_epochs', 1])
    run_dir = only_run_folder(tmp_path / 'runs')
    overrides, size = odd_sized_test_split(tiny_bv2)
    evaluate = [EVAL, '--checkpoint', run_dir / 'last.ckpt', '--split', 'test', *overrides]
    run([sys.executable, *evaluate])
    one_metrics, one_rows = evaluation_results(run_dir)
    horovodrun(2, *evaluate)
    two_metrics, two_rows = evaluation_results(run_dir)
    assert one_metrics['num_images'] == two_metrics['num_images'] == size
    assert [row['idx'] for row in two_rows] == [str(i) for i in range(size)]
    assert two_metrics == pytest.approx(one_metrics)
    for one_row, two_row in zip(one_rows, two_rows):
        assert one_row['filename'] == two_row['filename']
        assert float(one_row['rmse']) == pytest.approx(float(two_row['rmse']))


def test_one_process_never_imports_horovod(tiny_config, tmp_path):
    (tmp_path / 'blocker').mkdir()
    (tmp_path / 'blocker' / 'sitecustomize.py').write_text(BLOCK_HOROVOD)
    marker = tmp_path / 'horovod_was_imported'
    env = {'PYTHONPATH': f"{tmp_path / 'blocker'}", 'HOROVOD_IMPORT_MARKER': str(marker)}
    blocked = subprocess.run([sys.executable, '-c', 'import horovod.torch'],
                             env={**os.environ, **env}, capture_output=True, text=True)
    assert blocked.returncode != 0 and marker.read_text() == 'horovod'   # the blocker works
    marker.unlink()
    out = run([sys.executable, TRAIN, tiny_config, 'arch.max_epochs', 1], env)
    assert 'Final validation metrics' in out
    assert not marker.exists(), f'a single process imported {marker.read_text()}'
    assert (only_run_folder(tmp_path / 'runs') / 'last.ckpt').is_file()
    asked = subprocess.run([sys.executable, TRAIN, tiny_config, 'arch.distributed', 'horovod'],
                           cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True)
    assert asked.returncode != 0 and 'make horovod' in asked.stdout + asked.stderr
