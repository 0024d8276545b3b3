"""Inference latency at batch 1, from the cut binaural waveform to depth in metres (the audio
front end included), PyTorch eager against the same graph exported to ONNX and run by ONNX
Runtime, measured in the same run on the same cores and inputs, for the seed V2 U-Net
(unet_256 ngf 64, 256x256 mel) and the demo network (unet_128 ngf 16, 128x128).

    python bench/inference.py [--runs 30] [--threads 2]
"""
import argparse
import contextlib
import io
import os
import statistics
import tempfile
import time

import torch

from packnet_sfm.datasets.builder import depth_units
from packnet_sfm.models import build_model
from packnet_sfm.models.deploy import DepthPredictor, export
from packnet_sfm.utils.benchmark import machine_description
from packnet_sfm.utils.cli import positive_int
from packnet_sfm.utils.config import load_config

NETWORKS = {'seed V2 U-Net (unet_256 ngf 64)': 'configs/train_unet_batvision_v2.yaml',
            'demo U-Net (unet_128 ngf 16)': 'configs/demo_batvision_v2.yaml'}


def median_ms(run, runs):
    run()                                       # warm-up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=positive_int, default=30)
    parser.add_argument('--threads', type=positive_int, default=2)
    args = parser.parse_args()
    import onnxruntime

    torch.set_num_threads(args.threads)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = args.threads
    print(f'machine: {machine_description()}')
    print(f'batch 1, waveform -> depth, {args.threads} threads, median of {args.runs} runs')
    with tempfile.TemporaryDirectory() as scratch:
        for name, config in NETWORKS.items():
            eager, onnx = latencies(config, os.path.join(scratch, 'model.onnx'), options,
                                    args.runs)
            print(f'{name:<34} PyTorch eager {eager:7.1f} ms   ONNX Runtime {onnx:7.1f} ms   '
                  f'ONNX Runtime at {eager / onnx:4.2f}x the speed of eager')


def latencies(config, path, options, runs):
    """(PyTorch eager, ONNX Runtime) median ms of the config's network (random weights)."""
    import onnxruntime

    cfg = load_config(config)
    torch.manual_seed(0)
    predictor = DepthPredictor(build_model(cfg, *depth_units(cfg)), cfg).eval()
    (waveform,) = predictor.example_inputs(cfg)
    waveform.normal_(0, 0.01)
    with contextlib.redirect_stdout(io.StringIO()):
        export(predictor, cfg, path, 'onnx')
    session = onnxruntime.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    with torch.no_grad():
        eager = median_ms(lambda: predictor(waveform), runs)
    feed = {'audio': waveform.numpy()}
    return eager, median_ms(lambda: session.run(None, feed), runs)

if __name__ == '__main__':
    main()
