"""Progress bars: whole lines with the true count off a terminal (one per interval and one at
the end, none per step), the live tqdm bar on a terminal, and a real training's log."""
import math
import re
import subprocess
import sys
from pathlib import Path

from packnet_sfm.datasets.builder import build_dataset
from packnet_sfm.utils import progress as progress_module
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.progress import LiveBar, LogLines, progress

REPO = Path(__file__).resolve().parents[1]


class Clock:
    """A clock that the test moves."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_log_lines_every_interval_and_at_the_end_with_the_true_count(tmp_path):
    clock, log = Clock(), tmp_path / 'log.txt'
    with open(log, 'w') as file:
        bar = LogLines(range(10), desc='Epoch 1/3', interval=3.0, file=file, clock=clock)
        for step in bar:
            clock.now += 1.0                     # each step takes a second
            bar.set_postfix(loss=f'{10 - step:.1f}')
    lines = log.read_text().splitlines()
    assert len(lines) == 4 and '\r' not in log.read_text()
    counts = [re.search(r' (\d+)/10 ', line).group(1) for line in lines]
    assert counts == ['3', '6', '9', '10']       # at 3 s, 6 s, 9 s, then the end
    assert lines[0].startswith('Epoch 1/3:  30%') and lines[0].endswith('loss=8.0]')
    assert '1.00it/s' in lines[1]
    assert lines[-1].startswith('Epoch 1/3: 100%') and lines[-1].endswith('loss=1.0]')


def test_updates_by_hand_and_an_early_stop_keep_the_final_line(tmp_path):
    clock, log = Clock(), tmp_path / 'log.txt'
    with open(log, 'w') as file:
        with LogLines(total=5, desc='gen', unit='sample', file=file, clock=clock) as bar:
            bar.update(2)
        next(iter(LogLines([1, 2, 3], desc='first', file=file, clock=clock)))
    assert log.read_text().splitlines() == ['gen:  40%|####      | 2/5 [00:00<?, ?sample/s]',
                                            'first:   0%|          | 0/3 [00:00<?, ?it/s]']


def test_a_terminal_gets_the_live_bar_and_a_log_the_lines(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            pass

        def flush(self):
            pass

    assert isinstance(progress(range(3)), LogLines)          # pytest captures stderr
    monkeypatch.setattr(progress_module.sys, 'stderr', Terminal())
    assert isinstance(progress(range(3)), LiveBar)
    assert isinstance(progress(range(3), disable=True), LiveBar)


def test_a_training_log_holds_one_final_line_per_bar(tiny_config, tmp_path):
    log = tmp_path / 'stderr.txt'
    with open(log, 'w') as stderr:
        result = subprocess.run([sys.executable, str(REPO / 'scripts' / 'train.py'),
                                 str(tiny_config)], cwd=REPO, stderr=stderr,
                                stdout=subprocess.PIPE, text=True, timeout=600)
    text = log.read_text()
    assert result.returncode == 0, text
    cfg = load_config(tiny_config)
    steps = {split: math.ceil(len(build_dataset(cfg, split)) / cfg.datasets[split].batch_size)
             for split in ('train', 'validation')}
    lines = [line for line in text.splitlines() if re.search(r'\d+/\d+ \[', line)]
    assert '\r' not in text
    assert [line.split(':')[0] for line in lines] == ['Epoch 1/2', 'validation', 'Epoch 2/2',
                                                        'validation']
    for line, split in zip(lines, ['train', 'validation'] * 2):
        assert f' {steps[split]}/{steps[split]} [' in line, line
    assert re.search(r'loss=\d+\.\d{4}, samples_s=', lines[0])
