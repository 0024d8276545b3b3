"""Teacher/student feature compatibility: packnet_sfm.networks.features and its script."""
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from packnet_sfm.networks.depth.BaseResidualUNet import BaseResidualUNet
from packnet_sfm.networks.depth.BinauralAttentionUNet import BinauralAttentionUNet
from packnet_sfm.networks.depth.EchoDelayNet import EchoDelayNet
from packnet_sfm.networks.depth.RGBDepthUNet import RGBDepthUNet
from packnet_sfm.networks.features import compare_features, feature_shapes
from packnet_sfm.utils.checkpoint import save_checkpoint
from packnet_sfm.utils.config import load_config, to_dict

torch.set_num_threads(1)
SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'verify_feature_compatibility.py'
LEVELS = ['x1', 'x2', 'x3', 'x4', 'x5', 'd1', 'd2', 'd3', 'd4']


def test_rgb_teacher_and_binaural_student_match_level_by_level():
    teacher = RGBDepthUNet(base_channels=4)
    student = BinauralAttentionUNet(base_channels=4, num_heads=2)
    rows = compare_features(teacher, student, image_size=32)
    assert [row.level for row in rows] == LEVELS
    assert all(row.match for row in rows)
    shapes = {row.level: row.teacher for row in rows}
    assert shapes['x1'] == (1, 4, 32, 32) and shapes['x5'] == (1, 32, 2, 2)
    assert shapes['d1'] == (1, 32, 4, 4) and shapes['d4'] == (1, 4, 32, 32)


def test_the_seed_table_at_base_64_and_256_pixels():
    with torch.device('meta'):
        rows = compare_features(RGBDepthUNet(base_channels=64),
                                BinauralAttentionUNet(base_channels=64), image_size=256,
                                levels=['x1', 'x2', 'x3', 'x4', 'x5'])
    assert all(row.match for row in rows)
    assert [row.teacher for row in rows] == [(1, 64, 256, 256), (1, 128, 128, 128),
                                             (1, 256, 64, 64), (1, 512, 32, 32),
                                             (1, 512, 16, 16)]


def test_different_base_channels_mismatch_at_every_level():
    rows = compare_features(RGBDepthUNet(base_channels=8),
                            BinauralAttentionUNet(base_channels=4, num_heads=2), image_size=32)
    assert not any(row.match for row in rows)
    assert rows[0].teacher == (1, 8, 32, 32) and rows[0].student == (1, 4, 32, 32)


def test_missing_levels_do_not_match():
    rows = compare_features(RGBDepthUNet(base_channels=4), BaseResidualUNet(base_channels=4),
                            image_size=32, levels=['x3', 'd1'])
    assert [(row.level, row.match) for row in rows] == [('x3', True), ('d1', False)]
    assert rows[1].student is None             # BaseResidualUNet names it base_d1


def test_feature_shapes_restores_training_mode():
    net = RGBDepthUNet(base_channels=4).train()
    feature_shapes(net, image_size=16)
    assert net.training


def test_the_dummy_input_has_the_audio_channels_the_network_reads():
    """Two ears' spectrograms, or three channels for EchoDelayNet with the interaural
    correlation (it refuses any other count)."""
    for interaural, channels in ((False, 2), (True, 3)):
        net = EchoDelayNet(channels=16, num_heads=2, interaural=interaural, max_depth=30.0)
        shapes = feature_shapes(net, image_size=32)
        assert shapes['delay_tokens'] == (1, 32, 16)
        assert net.audio_channels == channels


def write_config(path, name, base_channels):
    extra = '\n      num_heads: 2' if name == 'BinauralAttentionUNet' else ''
    path.write_text(f'model:\n  depth_net:\n    name: {name}\n    {name}:\n'
                    f'      base_channels: {base_channels}{extra}\n')
    return str(path)


def run_script(monkeypatch, *args):
    """Run the script in this process; return its exit code (0 when it returns normally)."""
    monkeypatch.setattr(sys, 'argv', [str(SCRIPT), *args])
    try:
        runpy.run_path(str(SCRIPT), run_name='__main__')
    except SystemExit as exit_:
        return exit_.code
    return 0


@pytest.mark.parametrize('student_base, exit_code, verdict', [
    (4, 0, 'Compatible: all 9 levels match'),
    (8, 1, 'Not compatible: levels x1, x2, x3, x4, x5, d1, d2, d3, d4 differ')])
def test_script_reports_and_exits(tmp_path, monkeypatch, capsys, student_base, exit_code,
                                  verdict):
    teacher = write_config(tmp_path / 'teacher.yaml', 'RGBDepthUNet', 4)
    student = write_config(tmp_path / 'student.yaml', 'BinauralAttentionUNet', student_base)
    code = run_script(monkeypatch, '--teacher', teacher, '--student', student,
                      '--image-size', '32')
    out = capsys.readouterr().out
    assert code == exit_code
    assert verdict in out
    assert 'x1     [1, 4, 32, 32]' in out
    assert 'teacher (RGBDepthUNet)' in out and 'student (BinauralAttentionUNet)' in out


def test_script_reads_the_config_stored_in_a_checkpoint(tmp_path, monkeypatch, capsys):
    student_cfg = load_config(write_config(tmp_path / 'student.yaml', 'BinauralAttentionUNet', 4))
    save_checkpoint({'config': to_dict(student_cfg)}, tmp_path / 'student.ckpt')
    teacher = write_config(tmp_path / 'teacher.yaml', 'RGBDepthUNet', 4)
    code = run_script(monkeypatch, '--teacher', teacher, '--student',
                      str(tmp_path / 'student.ckpt'), '--image-size', '16', '--levels', 'x1,x5')
    assert code == 0
    assert 'Compatible: all 2 levels match' in capsys.readouterr().out


def test_script_names_a_missing_config(tmp_path, monkeypatch, capsys):
    code = run_script(monkeypatch, '--teacher', str(tmp_path / 'nope.yaml'),
                      '--student', str(tmp_path / 'nope.yaml'))
    message = capsys.readouterr().err
    assert code == 1 and message.startswith('error: ') and message.count('\n') == 1
    assert 'nope.yaml' in message and 'does not exist' in message


def test_bare_command_is_the_seed_003_check(tmp_path):
    """`python scripts/verify_feature_compatibility.py`, as seed 003 writes it, from any folder:
    the RGBDepthUNet teacher against the BinauralAttentionUNet student, base 64, 256x256."""
    result = subprocess.run([sys.executable, str(SCRIPT)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'teacher (RGBDepthUNet)' in out and 'student (BinauralAttentionUNet)' in out
    shapes = {'x1': '[1, 64, 256, 256]', 'x2': '[1, 128, 128, 128]', 'x3': '[1, 256, 64, 64]',
              'x4': '[1, 512, 32, 32]', 'x5': '[1, 512, 16, 16]', 'd1': '[1, 512, 32, 32]',
              'd2': '[1, 256, 64, 64]', 'd3': '[1, 128, 128, 128]', 'd4': '[1, 64, 256, 256]'}
    for level, shape in shapes.items():
        assert re.search(rf'^{level}\s+{re.escape(shape)}\s+{re.escape(shape)}\s+yes$', out,
                         re.MULTILINE), level
    assert 'teacher parameters: 19,586,305' in out and 'student parameters: 42,829,121' in out
    assert 'Compatible: all 9 levels match' in out
