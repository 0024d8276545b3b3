"""Every kind of bad input ends the real script with one clear line on stderr naming the file
or key, a non-zero exit and no traceback (data errors also when raised in DataLoader workers);
bad samples are skipped only when asked; a run that stops leaves error.txt and last.ckpt."""
import csv
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import TINY_CONFIG, script

from packnet_sfm.utils.cli import run_cli

REPO = Path(__file__).resolve().parents[1]
SPLIT_KEYS = ('train', 'validation', 'test')


def assert_one_clear_line(result, *named):
    """Non-zero exit, no traceback, the last stderr line `error: ...` naming every `named`."""
    assert result.returncode != 0, result.stdout
    assert 'Traceback' not in result.stderr, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith('error: '), result.stderr
    for text in named:
        assert str(text) in last, last
    return last


def data_overrides(root, workers=0):
    """Overrides pointing every split at `root`, with `workers` loader workers."""
    opts = []
    for key in SPLIT_KEYS:
        opts += [f'datasets.{key}.path', f"['{root}']", f'datasets.{key}.num_workers', workers]
    return opts


@pytest.fixture
def bv2(tiny_bv2, tmp_path):
    """A private copy of the tiny V2 set, to break."""
    root = tmp_path / 'bv2'
    shutil.copytree(tiny_bv2, root)
    return root


def train_row(root, location='Room000'):
    """The first training recording of a location: (its CSV row, its files)."""
    with open(root / location / 'train.csv', newline='') as f:
        row = next(csv.DictReader(f))
    return row, {kind: root / row[f'{kind} path'] / row[f'{kind} file name']
                 for kind in ('audio', 'depth', 'camera')}


def wav(path, frames=20000, rate=44100, channels=2):
    sf.write(path, np.zeros((frames, channels)), rate, subtype='PCM_32')


def truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])


BREAKERS = {
    'missing WAV': lambda files: files['audio'].unlink(),
    'random bytes as WAV': lambda files: files['audio'].write_bytes(os.urandom(5000)),
    'truncated WAV': lambda files: truncate(files['audio'], 0.2),
    '16 kHz WAV': lambda files: wav(files['audio'], rate=16000),
    'mono WAV': lambda files: wav(files['audio'], channels=1),
    'short WAV': lambda files: wav(files['audio'], frames=5000),
    'V2 depth float64': lambda files: np.save(files['depth'], np.ones((720, 1280))),
    'wrong depth shape': lambda files: np.save(files['depth'], np.ones((480, 640), np.uint16)),
    'all-zero depth': lambda files: np.save(files['depth'], np.zeros((720, 1280), np.uint16)),
    'corrupt .npy': lambda files: truncate(files['depth'], 0.5),
}
FILE_OF = {'missing WAV': 'audio', 'random bytes as WAV': 'audio', 'truncated WAV': 'audio',
           '16 kHz WAV': 'audio', 'mono WAV': 'audio', 'short WAV': 'audio'}


@pytest.mark.parametrize('workers', [0, 2])
@pytest.mark.parametrize('breaker', sorted(BREAKERS))
def test_bad_recordings_name_the_file_and_csv_row(bv2, tiny_config, breaker, workers):
    _, files = train_row(bv2)
    BREAKERS[breaker](files)
    result = script('train.py', tiny_config, *data_overrides(bv2, workers))
    path = files[FILE_OF.get(breaker, 'depth')]
    assert_one_clear_line(result, path, 'row 2 of', 'Room000')


def test_v1_left_ear_without_right(tiny_bv1, tiny_config, tmp_path):
    root = tmp_path / 'bv1'
    shutil.copytree(tiny_bv1, root)
    with open(root / 'train.csv', newline='') as f:
        right = root / next(csv.DictReader(f))['audio path right']
    right.unlink()
    result = script('train.py', tiny_config, 'datasets.train.dataset', '[BatvisionV1]',
                    'datasets.batvision.max_depth', 12, 'datasets.validation.path', '[]',
                    *data_overrides(root)[:4])
    assert_one_clear_line(result, right, 'Missing audio file')


def test_mel_spectrogram_on_v1(tiny_bv1, tiny_config):
    result = script('train.py', tiny_config, 'datasets.train.dataset', '[BatvisionV1]',
                    'datasets.batvision.audio_format', 'mel_spectrogram',
                    *data_overrides(tiny_bv1))
    assert_one_clear_line(result, 'datasets.batvision.audio_format')


@pytest.mark.parametrize('audio_format, net, reads', [
    ('mel_spectrogram_gcc', [], 2),
    ('mel_spectrogram', ['model.depth_net.name', 'EchoDelayNet',
                         'model.depth_net.EchoDelayNet.interaural', 'true'], 3)])
def test_features_with_other_channels_than_the_network_reads(tiny_config, audio_format, net,
                                                             reads):
    """The interaural channel of mel_spectrogram_gcc for a network that reads two, or the
    reverse: one line before training, not a convolution's shape error."""
    result = script('train.py', tiny_config, 'datasets.batvision.audio_format', audio_format,
                    *net)
    assert_one_clear_line(result, 'datasets.batvision.audio_format', f'reads {reads}')


def remove_split_csvs(root):
    for location in root.iterdir():
        (location / 'train.csv').unlink()


def append_short_row(root):
    csv_file = root / 'Room000' / 'train.csv'
    csv_file.write_text(csv_file.read_text() + 'Room000/audio,audio_1.wav\n')


@pytest.mark.parametrize('case, change, named', [
    ('missing root', lambda root: shutil.rmtree(root), ['is not a folder']),
    ('root without CSV', remove_split_csvs, ['No location under', 'train.csv']),
    ('CSV missing a column', lambda root: (root / 'Room000' / 'train.csv').write_text(
        'audio path,depth path\nRoom000/audio,Room000/depth\n'), ['train.csv', 'audio file name']),
    ('empty split CSV', lambda root: [(loc / 'train.csv').write_text(
        (loc / 'train.csv').read_text().splitlines()[0] + '\n') for loc in root.iterdir()],
     ['no recordings', 'train']),
    ('CSV row cut short', append_short_row, ['train.csv row ', "has no ['depth path'"]),
])
def test_bad_roots_name_the_root_or_csv(bv2, tiny_config, case, change, named):
    change(bv2)
    assert_one_clear_line(script('train.py', tiny_config, *data_overrides(bv2)), *named)


@pytest.mark.parametrize('overrides, named', [
    (['arch.max_epoch', 2], ["Unknown config key 'arch.max_epoch'", 'arch.max_epochs']),
    (['arch.max_epochs', 'many'], ['arch.max_epochs', 'expects int']),
    (['model.loss.supervised_method', 'sparse-l3'], ['model.loss.supervised_method', 'l3']),
    (['model.depth_net.name', 'UNetNope'], ['model.depth_net.name', 'UNetNope']),
    (['datasets.train.batch_size', 0], ['datasets.train.batch_size must be >= 1, got 0']),
    (['datasets.validation.batch_size', -2],
     ['datasets.validation.batch_size must be >= 1, got -2']),
    (['datasets.train.num_workers', -1], ['datasets.train.num_workers must be >= 0, got -1']),
    (['datasets.batvision.image_size', 96], ['datasets.batvision.image_size', 'multiples of 128']),
    (['datasets.train.split', '[train, val]'], ['datasets.train.dataset, .path and .split']),
    (['datasets.train.on_bad_sample', 'ignore'], ['datasets.train.on_bad_sample']),
    (['evaluation.protocol', 'eigen'], ['evaluation.protocol']),
    (['model.optimizer.lr', -1], ['model.optimizer.lr', 'must be >= 0, got -1']),
    (['datasets.batvision.max_depth', 0], ['datasets.batvision.max_depth must be > 0 m']),
    (['model.scheduler.min_lr', -1e-4], ['model.scheduler.min_lr', 'must be >= 0']),
    (['model.loss.supervised_num_scales', 0], ['model.loss.supervised_num_scales', '>= 1']),
    (['arch.validate_every', 0], ['arch.validate_every must be >= 1, got 0']),
    (['log.every_n_steps', 0], ['log.every_n_steps must be >= 1, got 0']),
    (['checkpoint.save_top_k', -1], ['checkpoint.save_top_k must be >= 0, got -1']),
    (['datasets.train.path', '[unclosed'], ["'datasets.train.path'", 'not valid YAML', 'line 1']),
    (['arch.device', 'tpu'], ["arch.device 'tpu' is not a torch device"]),
    (['model.scheduler.name', 'StepLR', 'model.scheduler.step_size', 0],
     ['model.scheduler.step_size must be >= 1, got 0']),
    (['model.optimizer.name', 'SGD', 'model.optimizer.momentum', -1],
     ['model.optimizer.momentum must be >= 0']),
    (['log.num_images', 0], ['log.num_images must be >= 1, got 0']),
    (['checkpoint.every_n_epochs', -1], ['checkpoint.every_n_epochs must be >= 0, got -1']),
    (['datasets.max_bad_fraction', -1], ['datasets.max_bad_fraction must be in [0, 1], got -1.0']),
    (['datasets.max_bad_fraction', 5], ['datasets.max_bad_fraction must be in [0, 1], got 5.0']),
    (['model.name', 'DistillationModel', 'model.distillation.lambda_kd', -1],
     ['model.distillation.lambda_kd must be >= 0, got -1.0']),
    (['model.loss.supervised_method', 'sparse-combined', 'model.loss.combined.l1_weight', -1],
     ['model.loss.combined.l1_weight must be >= 0, got -1.0']),
    (['model.name', 'BaseResidualModel', 'model.depth_net.name', 'BaseResidualUNet',
      'model.loss.base_residual.final_weights.sparse', -1],
     ['model.loss.base_residual.final_weights.sparse must be >= 0, got -1.0']),
    (['evaluation.protocol', 'custom', 'evaluation.min_depth', 50, 'evaluation.max_depth', 10],
     ['evaluation.min_depth (50) must be >= 0 and below evaluation.max_depth (10']),
    (['model.depth_net.UNetSoundOnly.ngf', 0], ['model.depth_net.UNetSoundOnly.ngf must be >= 1']),
    (['model.depth_net.name', 'EchoDelayNet', 'model.depth_net.EchoDelayNet.encoder_layers', 0],
     ['model.depth_net.EchoDelayNet.encoder_layers must be >= 1, got 0']),
    (['model.depth_net.name', 'EchoDelayNet', 'model.depth_net.EchoDelayNet.dropout', 1.5],
     ['model.depth_net.EchoDelayNet.dropout must be in [0, 1)']),
    (['model.depth_net.name', 'EchoDelayNet',
      'model.depth_net.EchoDelayNet.attending_refinements', 3],
     ['model.depth_net.EchoDelayNet.attending_refinements must be in [0, 2]']),
    (['model.loss.echo_profile_weight', 0.1],
     ['model.loss.echo_profile_weight is 0.1 but UNetSoundOnly predicts no echo profile']),
    (['model.loss.echo_profile_weight', -1], ['model.loss.echo_profile_weight must be in [0, ']),
    (['datasets.augmentation.echo_shift_samples', -1],
     ['datasets.augmentation.echo_shift_samples must be >= 0, got -1']),
    (['datasets.augmentation.hue', 0.6],
     ['datasets.augmentation.hue must be in [0, 0.5], got 0.6']),
    (['arch.ema_decay', 1], ['arch.ema_decay must be in [0, 1) (0 turns weight averaging off), '
                             'got 1.0']),
])
def test_bad_config_values_name_the_key(tiny_config, overrides, named):
    assert_one_clear_line(script('train.py', tiny_config, *overrides), *named)


def test_int_for_a_float_key_is_accepted(tiny_config):
    result = script('train.py', tiny_config, 'model.optimizer.lr', 1, 'arch.max_epochs', 1)
    assert result.returncode == 0, result.stderr


def test_config_file_that_is_not_yaml(tmp_path):
    broken = tmp_path / 'broken.yaml'
    broken.write_text('model:\n  depth_net: [UNetSoundOnly\n')
    assert_one_clear_line(script('train.py', broken), broken, 'not valid YAML', 'line 3')
    binary = tmp_path / 'binary.yaml'
    binary.write_bytes(b'\xff\xfe\x00garbage')
    assert_one_clear_line(script('train.py', binary), binary, 'is not UTF-8 text')


def test_run_folder_given_for_a_file_points_at_its_checkpoint(trained):
    hint = ("is a folder; give a config or checkpoint file; its last checkpoint is "
            f"'{trained / 'last.ckpt'}'")
    assert_one_clear_line(script('eval.py', '--checkpoint', trained), hint)
    assert_one_clear_line(script('train.py', trained), hint)


def test_unwritable_output_folder(tiny_config, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    result = script('train.py', tiny_config, 'checkpoint.filepath', blocker / 'runs')
    assert_one_clear_line(result, 'checkpoint.filepath', blocker)


@pytest.fixture(scope='module')
def trained(tiny_bv2, tmp_path_factory):
    """A run folder of one trained epoch."""
    folder = tmp_path_factory.mktemp('trained')
    config = folder / 'tiny.yaml'
    config.write_text(TINY_CONFIG.format(data=tiny_bv2, runs=folder / 'runs'))
    result = script('train.py', config, 'arch.max_epochs', 1)
    assert result.returncode == 0, result.stderr
    return next((folder / 'runs').iterdir())


def test_truncated_checkpoint_on_resume_and_eval(trained, tmp_path):
    broken = tmp_path / 'broken.ckpt'
    broken.write_bytes((trained / 'last.ckpt').read_bytes()[:5000])
    assert_one_clear_line(script('train.py', broken), broken, 'corrupt')
    assert_one_clear_line(script('eval.py', '--checkpoint', broken), broken, 'corrupt')


def test_checkpoint_of_another_network(trained, tiny_config):
    """Weights that do not fit the model built from the config: named, counted, and what to
    do, on evaluation, on resume and as initial weights."""
    checkpoint, wider = trained / 'last.ckpt', ['model.depth_net.UNetSoundOnly.ngf', 8]
    shapes = "(58 other shape, e.g. 'depth_net.unet.down.0.weight')"
    assert_one_clear_line(script('eval.py', '--checkpoint', checkpoint, *wider),
                          f"'{checkpoint}' does not fit the SemiSupModel", shapes,
                          'use the config it was trained with')
    assert_one_clear_line(script('train.py', checkpoint, 'arch.max_epochs', 2, *wider),
                          shapes, 'resume without overrides that change the network')
    assert_one_clear_line(script('train.py', tiny_config, *wider,
                                 'model.depth_net.checkpoint_path', checkpoint),
                          'does not fit the UNetSoundOnly',
                          'give model.depth_net.checkpoint_path a checkpoint of this network')


def test_missing_or_empty_checkpoint(tmp_path):
    missing = tmp_path / 'nope.ckpt'
    assert_one_clear_line(script('eval.py', '--checkpoint', missing), f"Checkpoint '{missing}'")
    assert_one_clear_line(script('train.py', missing), f"Checkpoint '{missing}'")
    empty = tmp_path / 'empty.ckpt'
    empty.touch()
    assert_one_clear_line(script('eval.py', '--checkpoint', empty), empty, 'corrupt', 'EOFError')


@pytest.mark.parametrize('command, option', [
    (['make_synthetic_batvision.py', '--version', 'v2', '--locations', 1,
      '--samples-per-location', 3, '--seed', 0, '--output'], '--output'),
    (['make_synthetic_kitti.py', '--root'], '--root'),
    (['benchmark_echo.py', '--configs', 'configs/echo_best_v2.yaml', '--data', 'tests/data',
      '--out'], '--out'),
    (['infer.py', '--checkpoint', 'last.ckpt', '--input', 'tests/data', '--output'], '--output'),
])
def test_output_folder_that_is_a_file(command, option, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    result = script(*command, blocker)
    assert_one_clear_line(result, f"{option} '{blocker}' is a file")
    assert blocker.read_text() == 'not a folder'


@pytest.mark.parametrize('command, option', [
    (['run_distillation_experiments.py', '--data', 'tests/data', '--markdown'], '--markdown'),
    (['check_dataset.py', 'tests/data', '--format', 'batvision_v2', '--report'], '--report'),
])
def test_output_file_that_is_a_folder_is_refused_before_the_work(command, option, tmp_path):
    result = script(*command, tmp_path)
    assert_one_clear_line(result, f"{option} '{tmp_path}' is a folder; give the file to write")
    assert result.stdout == '' and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('command, option, value, minimum', [
    (['infer.py', '--checkpoint', 'last.ckpt', '--input', 'tests/data', '--output', 'out'],
     '--batch-size', 0, 1),
    (['infer.py', '--checkpoint', 'last.ckpt', '--input', 'tests/data', '--output', 'out'],
     '--every', 0, 1),
    (['check_dataset.py', 'tests/data', '--format', 'batvision_v2'], '--workers', 0, 1),
    (['prepare_cache.py', 'configs/echo_best_v2.yaml'], '--workers', -1, 0),
    (['run_distillation_experiments.py', '--data', 'tests/data'], '--num-workers', -1, 0),
    (['make_synthetic_kitti.py', '--root', 'never_written'], '--drives', 0, 1),
    (['make_synthetic_kitti.py', '--root', 'never_written'], '--height', 0, 1),
    (['verify_feature_compatibility.py'], '--image-size', 0, 1),
    (['../bench/inference.py'], '--runs', 0, 1),
    (['../bench/train_step.py'], '--steps', -2, 1),
])
def test_count_options_below_their_minimum_stop_the_parser(command, option, value, minimum):
    result = script(*command, option, value)
    assert result.returncode == 2 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith(
        f'error: argument {option}: must be >= {minimum}, got {value}')


@pytest.mark.parametrize('command, named', [
    (['../bench/error_by_depth.py', 'CKPT'], 'CKPT'),
    (['../bench/seed_ensemble.py', '--runs', 'RUNS', '--configs', 'a'], 'RUNS/a/seed_0'),
])
def test_bench_analyses_stop_before_their_table(command, named, tmp_path):
    """A checkpoint that is not one, or a benchmark run that is missing, is one line, and
    no table header was printed before it."""
    bad = tmp_path / 'last.ckpt'
    bad.write_text('not a checkpoint')

    def path(word):
        return word.replace('CKPT', str(bad)).replace('RUNS', str(tmp_path))
    result = script(*map(path, command))
    assert_one_clear_line(result, path(named))
    assert result.stdout == ''


def test_feature_check_on_inputs_too_small_for_the_networks():
    result = script('verify_feature_compatibility.py', '--image-size', 8)
    assert_one_clear_line(result, '--image-size 8: the networks do not run on inputs of that '
                          'size', 'such as 256')


def test_eval_tag_that_cannot_name_a_file(trained):
    result = script('eval.py', '--checkpoint', trained / 'last.ckpt', '--tag', 'a/b')
    assert_one_clear_line(result, "--tag 'a/b'", 'letters, digits')


def test_eval_on_a_missing_split(trained, tmp_path):
    result = script('eval.py', '--checkpoint', trained / 'last.ckpt', '--split', 'test',
                    'datasets.test.path', f"['{tmp_path}']")
    assert_one_clear_line(result, tmp_path, 'test.csv')


# ---------------------------------------------------------------- skipping, only when asked

def break_two_recordings(root):
    """Two training recordings of different locations made unreadable; their files."""
    broken = []
    for location in ('Room000', 'Room001'):
        _, files = train_row(root, location)
        files['audio'].write_bytes(b'not a wav')
        broken.append(files['audio'])
    return broken


def test_skip_trains_counts_and_lists_the_bad_samples(bv2, tiny_config):
    broken = break_two_recordings(bv2)
    result = script('train.py', tiny_config, *data_overrides(bv2, 2),
                    'datasets.train.on_bad_sample', 'skip', 'datasets.max_bad_fraction', 0.5)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count('| 2 bad samples skipped') == 2          # each of 2 epochs
    run_dir = next((tiny_config.parent / 'runs').iterdir())
    with open(run_dir / 'bad_samples.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [row['epoch'] for row in rows] == ['1', '1', '2', '2']
    assert sorted({row['message'].split(' (listed')[0].split()[-1] for row in rows}) == \
        sorted(str(path) for path in broken)


def test_too_many_bad_samples_stop_the_run_clearly(bv2, tiny_config):
    break_two_recordings(bv2)
    result = script('train.py', tiny_config, *data_overrides(bv2),
                    'datasets.train.on_bad_sample', 'skip')
    last = assert_one_clear_line(result, 'datasets.max_bad_fraction', 'scripts/check_dataset.py')
    run_dir = next((tiny_config.parent / 'runs').iterdir())
    assert (run_dir / 'error.txt').read_text().strip().endswith(last.removeprefix('error: '))
    assert not (run_dir / 'last.ckpt').exists()       # no epoch finished


def test_a_run_stopped_mid_way_keeps_its_last_epoch_and_error(bv2, tiny_config, monkeypatch):
    """Break a recording after the first epoch: the run stops in epoch 2 and keeps the
    checkpoint of epoch 1 and a one-line error.txt."""
    from packnet_sfm.trainers import run as run_module
    from packnet_sfm.trainers.trainer import Trainer
    from packnet_sfm.utils.checkpoint import load_checkpoint

    real_end_epoch = Trainer.end_epoch

    def end_epoch_then_break(self, epoch, *args):
        real_end_epoch(self, epoch, *args)
        for location in ('Room000', 'Room001'):
            train_row(bv2, location)[1]['depth'].write_bytes(b'garbage')

    monkeypatch.setattr(Trainer, 'end_epoch', end_epoch_then_break)
    with pytest.raises(ValueError, match='depth'):
        run_module.train(tiny_config, data_overrides(bv2))
    run_dir = next((tiny_config.parent / 'runs').iterdir())
    assert load_checkpoint(run_dir / 'last.ckpt')['epoch'] == 1
    lines = (run_dir / 'error.txt').read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith('BatvisionDataError: Cannot read depth file')


def horovodrun(*args):
    command = [Path(sys.executable).with_name('horovodrun'), '-np', '2', '-H', 'localhost:2',
               '--gloo', sys.executable, REPO / 'scripts' / 'train.py', *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert '<stderr>:Traceback' not in output, output
    return output


@pytest.mark.horovod
@pytest.mark.skipif(importlib.util.find_spec('horovod') is None, reason='needs Horovod')
def test_horovod_ranks_report_a_bad_input_once(bv2, tiny_config):
    """Both ranks meet a bad config value; one rank meets a bad recording (batch 1: no sample
    is dropped). Each message is printed once."""
    output = horovodrun(tiny_config, 'model.loss.supervised_method', 'sparse-l3')
    assert output.count("error: model.loss.supervised_method 'sparse-l3'") == 1, output
    _, files = train_row(bv2)
    files['audio'].write_bytes(b'not a wav')
    output = horovodrun(tiny_config, *data_overrides(bv2), 'datasets.train.batch_size', 1)
    assert output.count(f'error: Cannot read WAV {files["audio"]}') == 1, output


# ---------------------------------------------------------------- scripts/check_dataset.py

def plant_five_problems(root):
    """Five problems of different kinds in a V2 root; {file: kind}."""
    rows = [train_row(root, location)[1] for location in ('Room000', 'Room001')]
    wav(rows[0]['audio'], frames=3000)
    rows[1]['audio'].write_bytes(b'RIFF0000garbage')
    np.save(rows[1]['depth'], np.ones((720, 1280)))
    (root / 'Room001' / 'val.csv').unlink()
    with open(root / 'Room000' / 'test.csv', newline='') as f:
        test_row = next(csv.DictReader(f))
    camera = root / test_row['camera path'] / test_row['camera file name']
    camera.write_bytes(b'not a jpeg')
    return {rows[0]['audio']: 'short audio', rows[1]['audio']: 'corrupt file',
            rows[1]['depth']: 'depth format', root / 'Room001' / 'val.csv': 'split file',
            camera: 'camera'}


def test_check_dataset_finds_exactly_the_planted_problems(bv2, tmp_path):
    clean = script('check_dataset.py', bv2, '--format', 'batvision_v2', '--workers', 2)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert 'No problem found.' in clean.stdout
    planted = plant_five_problems(bv2)
    report = tmp_path / 'problems.csv'
    result = script('check_dataset.py', bv2, '--format', 'batvision_v2', '--workers', 2,
                    '--report', report)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    with open(report, newline='') as f:
        found = {Path(row['file']): row['kind'] for row in csv.DictReader(f)}
    assert found == planted
    for kind in set(planted.values()):
        assert kind in result.stdout


def test_check_dataset_on_v1_and_a_missing_root(tiny_bv1, tmp_path):
    result = script('check_dataset.py', tiny_bv1, '--format', 'batvision_v1')
    assert result.returncode == 0 and 'No problem found.' in result.stdout
    assert_one_clear_line(script('check_dataset.py', tmp_path / 'nope', '--format',
                                 'batvision_v1'), tmp_path / 'nope')


def test_check_dataset_on_kitti_finds_missing_corrupt_and_truncated_files(tmp_path):
    from packnet_sfm.datasets.synthetic import kitti as synthetic_kitti
    root = tmp_path / 'kitti'
    synthetic_kitti.write_synthetic_kitti(root, num_drives=1, num_frames=4, height=64, width=128,
                                          seed=3)
    split = 'data_splits/eigen_test_files.txt'
    clean = script('check_dataset.py', root, '--format', 'kitti', '--split', split)
    assert clean.returncode == 0 and 'No problem found.' in clean.stdout, clean.stderr
    drive = root / '2011_09_26' / '2011_09_26_drive_0001_sync'
    missing = drive / 'proj_depth' / 'groundtruth' / 'image_02' / '0000000001.png'
    missing.unlink()
    corrupt = drive / 'image_02' / 'data' / '0000000002.png'
    corrupt.write_text('not an image')
    truncated = drive / 'velodyne_points' / 'data' / '0000000003.bin'
    truncated.write_bytes(truncated.read_bytes()[:100])
    report = tmp_path / 'report.csv'
    for depth_type, expected in (('groundtruth', {missing: 'split file', corrupt: 'image'}),
                                 ('velodyne', {corrupt: 'image', truncated: 'lidar'})):
        result = script('check_dataset.py', root, '--format', 'kitti', '--split', split,
                        '--depth-type', depth_type, '--report', report)
        assert result.returncode == 1 and 'Traceback' not in result.stderr
        with open(report, newline='') as f:
            assert {Path(row['file']): row['kind'] for row in csv.DictReader(f)} == expected


@pytest.mark.skipif(not Path('/dev/full').exists(), reason='needs /dev/full (Linux)')
def test_a_full_disk_mid_write_is_one_line(capsys):
    """An OSError the up-front checks cannot foresee (the disk fills while a result is written)
    ends the script with its message, not a traceback."""
    def write_result():
        with open('/dev/full', 'w') as result:
            result.write('rmse\n')

    with pytest.raises(SystemExit) as stop:
        run_cli(write_result)
    assert stop.value.code == 1
    assert capsys.readouterr().err == 'error: [Errno 28] No space left on device\n'
