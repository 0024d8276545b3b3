"""Export a trained checkpoint for deployment: one graph from the raw input (echo models: the
cut binaural waveform [B, 2, T], the audio front end included) to depth [B, 1, H, W] in
metres. ONNX files carry the run's config and run in ONNX Runtime
(`scripts/infer.py --backend onnx --checkpoint F.onnx ...`); TorchScript runs without this
package (`torch.jit.load`).

    python scripts/export.py --checkpoint RUN/last.ckpt --format onnx|torchscript --output F
"""
import argparse
import contextlib
import io
import logging
import warnings

import torch

from packnet_sfm.models import load_trained_model
from packnet_sfm.models.deploy import EXPORT_FORMATS, DepthPredictor, export
from packnet_sfm.utils.cli import run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.errors import writable_file


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checkpoint', required=True, help='a training checkpoint (.ckpt)')
    parser.add_argument('--format', choices=EXPORT_FORMATS, default='onnx')
    parser.add_argument('--output', required=True, help='the file to write')
    args = parser.parse_args()
    cfg = load_config(args.checkpoint)
    predictor = DepthPredictor(load_trained_model(cfg, args.checkpoint), cfg)
    output = writable_file(args.output, '--output')
    for name in ('torch.onnx', 'onnxscript'):            # the exporters' log lines
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # Quiet too: the exporters' progress (stdout), torch's deprecations inside torch, and
        # the networks' input checks, whose sizes a trace keeps (the checked example input's).
        warnings.simplefilter('ignore', FutureWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        export(predictor, cfg, output, args.format)
    print(f"Wrote {output} ({args.format}; inputs {', '.join(predictor.input_keys)} -> depth "
          f"in metres)")


if __name__ == '__main__':
    torch.set_grad_enabled(False)
    run_cli(main)
