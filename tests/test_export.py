"""Deployable inference: scripts/export.py writes ONNX and TorchScript graphs that take the cut
binaural waveform (the audio front end inside) and equal PyTorch to 1e-4 on the real V2
sample; scripts/infer.py --backend onnx writes what the torch backend writes."""
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CONFIG, script, tiny_overrides

from packnet_sfm.inference import OnnxPredictor, TorchPredictor
from packnet_sfm.trainers import run as run_module
from packnet_sfm.utils.config import load_config

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / 'tests' / 'data' / 'batvision_v2_real_sample'


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory, tiny_bv2):
    folder = tmp_path_factory.mktemp('export')
    config = folder / 'tiny.yaml'
    config.write_text(TINY_CONFIG.format(data=tiny_bv2, runs=folder / 'runs'))
    run_dir, _ = run_module.train(config, ['arch.max_epochs', '1'])
    return run_dir / 'last.ckpt'


@pytest.fixture(scope='module')
def echo_best_checkpoint(tmp_path_factory, tiny_bv2):
    """configs/echo_best_v2.yaml (EchoTwoStreamNet, weight averaging, the audio front end in the
    model) at a tiny width, trained one epoch."""
    config, folder = REPO / 'configs' / 'echo_best_v2.yaml', tmp_path_factory.mktemp('export')
    opts = tiny_overrides(load_config(config), tiny_bv2, folder)
    run_dir, _ = run_module.train(config, opts + ['log.tensorboard.enabled', False])
    return run_dir / 'last.ckpt'


def real_waveform():
    from packnet_sfm.datasets.BatvisionV2Dataset import read_stereo_wav
    wav = REAL / 'RealSample' / 'audio' / 'audio_47.wav'
    return read_stereo_wav(str(wav), 7782, 'test')[None]


@pytest.mark.slow
@pytest.mark.parametrize('trained', ['checkpoint', 'echo_best_checkpoint'])
def test_onnx_and_torchscript_equal_pytorch_on_the_real_sample(trained, request, tmp_path):
    checkpoint = request.getfixturevalue(trained)
    for fmt, name in (('onnx', 'model.onnx'), ('torchscript', 'model.pt')):
        result = script('export.py', '--checkpoint', checkpoint, '--format', fmt,
                        '--output', tmp_path / name)
        assert result.returncode == 0 and result.stderr == '', result.stderr     # one line
        assert result.stdout.startswith(f'Wrote {tmp_path / name} ({fmt}; inputs audio')
    waveform = real_waveform()
    expected = TorchPredictor(checkpoint, 'cpu')({'audio': waveform})
    onnx = OnnxPredictor(tmp_path / 'model.onnx', 'cpu')
    assert onnx.input_keys == ('audio',) and onnx.cfg == load_config(checkpoint)
    assert expected.shape == (1, 1, 128, 128) and expected.abs().max() > 0
    torch.testing.assert_close(onnx({'audio': waveform}), expected, rtol=0, atol=1e-4)
    scripted = torch.jit.load(str(tmp_path / 'model.pt'))
    torch.testing.assert_close(scripted(waveform), expected, rtol=0, atol=1e-4)
    batch = torch.cat([waveform, 0.5 * waveform])            # the batch size is free
    assert onnx({'audio': batch}).shape == (2, 1, 128, 128)


@pytest.mark.slow
def test_infer_with_the_onnx_backend_writes_what_torch_writes(checkpoint, tmp_path):
    assert script('export.py', '--checkpoint', checkpoint, '--output',
                  tmp_path / 'm.onnx').returncode == 0
    for backend, model in (('torch', checkpoint), ('onnx', tmp_path / 'm.onnx')):
        result = script('infer.py', '--backend', backend, '--checkpoint', model, '--input', REAL,
                        '--output', tmp_path / backend, '--save', 'npy')
        assert result.returncode == 0, result.stderr
    torch_depth, onnx_depth = (np.load(tmp_path / b / 'RealSample' / 'audio' / 'audio_47.npy')
                               for b in ('torch', 'onnx'))
    assert np.abs(torch_depth - onnx_depth).max() < 1e-4


def test_onnx_backend_on_a_checkpoint_file_is_one_clear_line(checkpoint, tmp_path):
    result = script('infer.py', '--backend', 'onnx', '--checkpoint', checkpoint, '--input', REAL,
                    '--output', tmp_path)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'error: Cannot load ONNX model --checkpoint {checkpoint}')


def test_export_to_a_folder_is_one_clear_line(checkpoint, tmp_path):
    result = script('export.py', '--checkpoint', checkpoint, '--output', tmp_path)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: --output '{tmp_path}' is a folder; give the file to write")
