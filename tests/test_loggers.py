"""The loggers: TensorBoard and Weights & Biases side by side on a real run (W&B offline, read
back from the files it writes), the W&B run continued by a resume, the wandb-less error."""
import json
import struct
import sys
from pathlib import Path

import pytest
import wandb
from tensorboardX.proto import event_pb2
from wandb.proto import wandb_internal_pb2

from packnet_sfm.loggers import build_logger
from packnet_sfm.loggers.base import Logger, LoggerGroup
from packnet_sfm.trainers.distributed import SingleProcess
from packnet_sfm.trainers.run import print_summary, train
from packnet_sfm.utils.checkpoint import load_checkpoint
from packnet_sfm.utils.config import ConfigError, load_config, to_dict

WANDB_BLOCK = 32768   # the .wandb file is a LevelDB-style log: 32 KiB blocks of framed records
INTERNAL_KEYS = ('_step', '_runtime', '_timestamp', '_wandb')


def tensorboard_tags(folder):
    """{'scalars': tags, 'images': tags} of the TensorBoard event files in a folder."""
    tags = {'scalars': set(), 'images': set()}
    for path in Path(folder).glob('events.out.tfevents.*'):
        data, position = path.read_bytes(), 0
        while position < len(data):
            length = struct.unpack('<Q', data[position:position + 8])[0]
            event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
            for value in event.summary.value:
                kind = value.WhichOneof('value')
                if kind in ('simple_value', 'image'):
                    tags['scalars' if kind == 'simple_value' else 'images'].add(value.tag)
            position += 12 + length + 4
    return tags


def wandb_records(path):
    """The protobuf records of a `run-<id>.wandb` file, in order."""
    data = Path(path).read_bytes()
    assert data[:4] == b':W&B'
    records, pending, position = [], b'', 7
    while position + 7 <= len(data):
        if WANDB_BLOCK - position % WANDB_BLOCK < 7:         # block trailer padding
            position += WANDB_BLOCK - position % WANDB_BLOCK
            continue
        _checksum, length, kind = struct.unpack('<IHB', data[position:position + 7])
        pending += data[position + 7:position + 7 + length]
        position += 7 + length
        if kind in (1, 4):                                     # a whole record, or its last part
            records.append(wandb_internal_pb2.Record.FromString(pending))
            pending = b''
    return records


def item_key(item):
    return item.key or '/'.join(item.nested_key[:1])


def read_wandb_run(path):
    """What one offline W&B run holds: its id, name, tags, config, and history rows."""
    run, config, history = None, {}, []
    for record in wandb_records(path):
        kind = record.WhichOneof('record_type')
        if kind == 'run':
            run = record.run
            config.update({item_key(i): json.loads(i.value_json) for i in run.config.update})
        elif kind == 'config':
            config.update({item_key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == 'history':
            row = {}
            for item in record.history.item:
                if item.nested_key[1:]:   # a field of an image: keep that there is an image
                    row[item_key(item)] = 'image'
                elif item_key(item) not in INTERNAL_KEYS or item_key(item) == '_step':
                    row[item_key(item)] = json.loads(item.value_json)
            history.append(row)
    return {'id': run.run_id, 'name': run.display_name, 'tags': list(run.tags),
            'project': run.project, 'config': config, 'history': history}


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """W&B offline with all its folders under tmp_path: nothing reaches the network or ~."""
    for name in ('WANDB_DIR', 'WANDB_CONFIG_DIR', 'WANDB_CACHE_DIR', 'WANDB_DATA_DIR',
                 'WANDB_ARTIFACT_DIR'):
        monkeypatch.setenv(name, str(tmp_path / 'wandb_home' / name.lower()))
    monkeypatch.setenv('WANDB_MODE', 'offline')
    monkeypatch.setenv('WANDB_SILENT', 'true')
    return ['log.wandb.enabled', 'true', 'log.wandb.mode', 'offline',
            'log.wandb.project', 'echo-tests', 'log.wandb.tags', '[tiny, offline]']


def wandb_runs(run_dir):
    """Every offline W&B run of a run folder, oldest first. `finish()` returns before the
    W&B service has written the whole file; `teardown()` waits for it."""
    wandb.teardown()
    return [read_wandb_run(path) for path in sorted(run_dir.glob('wandb/offline-run-*/*.wandb'))]


@pytest.mark.slow
def test_wandb_logs_what_tensorboard_logs_and_a_resume_continues_its_run(tiny_config,
                                                                          offline_wandb):
    run_dir, _ = train(tiny_config, offline_wandb)
    [first] = wandb_runs(run_dir)
    assert first['name'] == run_dir.name and first['project'] == 'echo-tests'
    assert first['tags'] == ['tiny', 'offline']
    cfg = load_config(run_dir / 'last.ckpt')
    assert first['config']['run_dir'] == str(run_dir.resolve())
    assert {key: first['config'][key] for key in to_dict(cfg)} == to_dict(cfg)

    rows = first['history']
    scalars = {key for row in rows for key, value in row.items()
               if value != 'image' and key != '_step'}
    images = {key for row in rows for key, value in row.items() if value == 'image'}
    assert scalars == tensorboard_tags(run_dir / 'tensorboard')['scalars']
    assert images == tensorboard_tags(run_dir / 'tensorboard')['images'] == {'val/prediction'}
    assert {'train/loss', 'train/lr', 'val/rmse', 'epoch', 'epoch/loss'} <= scalars
    validated = [json.loads(line) for line in (run_dir / 'val_metrics.jsonl').open()]
    assert [row['val/rmse'] for row in rows if 'val/rmse' in row] == \
        pytest.approx([entry['rmse'] for entry in validated])
    assert [row['epoch'] for row in rows if 'epoch' in row] == [1, 2]

    state = load_checkpoint(run_dir / 'last.ckpt')
    assert state['loggers'] == {'wandb': {'run_id': first['id']}}
    train(run_dir / 'last.ckpt', ['arch.max_epochs', '3'])
    first_again, resumed = wandb_runs(run_dir)
    assert first_again == first and resumed['id'] == first['id']
    assert [row['epoch'] for row in resumed['history'] if 'epoch' in row] == [3]
    assert min(row['_step'] for row in resumed['history']) > \
        max(row['_step'] for row in first['history'])


def test_wandb_without_the_package_is_a_clear_error(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'wandb', None)       # `import wandb` raises ImportError
    cfg = load_config(tiny_config, ['log.wandb.enabled', 'true'])
    with pytest.raises(ConfigError, match=r"log\.wandb\.enabled .* pip install -e '\.\[wandb\]'"):
        build_logger(cfg, tmp_path / 'run', SingleProcess())


def test_wandb_mode_is_checked(tiny_config, tmp_path):
    cfg = load_config(tiny_config, ['log.wandb.enabled', 'true', 'log.wandb.mode', 'offlne'])
    with pytest.raises(ConfigError, match=r"log\.wandb\.mode is 'offlne'; use one of online"):
        build_logger(cfg, tmp_path / 'run', SingleProcess())


class Recorder(Logger):
    def __init__(self, state):
        self.calls, self.state = [], state

    def scalars(self, values, step, prefix=''):
        self.calls.append((prefix, values, step))

    def state_dict(self):
        return self.state

    def load_state_dict(self, state):
        self.state = state


def test_group_gives_every_call_to_each_logger_and_keeps_their_states_by_name():
    a, b = Recorder({'run_id': 'x'}), Recorder({})
    group = LoggerGroup({'a': a, 'b': b})
    group.scalars({'loss': 1.0}, 3, 'train/')
    assert a.calls == b.calls == [('train/', {'loss': 1.0}, 3)]
    assert group.state_dict() == {'a': {'run_id': 'x'}}
    group.load_state_dict({'a': {'run_id': 'y'}, 'gone': {}})
    assert a.state == {'run_id': 'y'} and b.state == {}


def test_other_ranks_log_nothing(tiny_config, tmp_path):
    class Rank1(SingleProcess):
        rank, is_main = 1, False

    cfg = load_config(tiny_config, ['log.wandb.enabled', 'true'])
    logger = build_logger(cfg, tmp_path / 'run', Rank1())
    assert type(logger) is Logger and not (tmp_path / 'run').exists()


def test_the_summary_points_to_tensorboard_logs_only_when_there_are_some(tmp_path, capsys):
    print_summary(tmp_path, {'rmse': 1.0})
    assert 'TensorBoard:  (none: log.tensorboard.enabled false)\n' in capsys.readouterr().out
    (tmp_path / 'tensorboard').mkdir()
    print_summary(tmp_path, {'rmse': 1.0})
    assert f"TensorBoard:  tensorboard --logdir {tmp_path / 'tensorboard'}\n" in \
        capsys.readouterr().out
