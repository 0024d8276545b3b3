"""Check that a teacher's and a student's depth networks have the same feature shapes level by
level (needed for feature distillation); exits 0 when every level matches, 1 otherwise.

    python scripts/verify_feature_compatibility.py [--teacher T] [--student S] \
        [--image-size 256] [--levels x1,x2,x3,x4,x5]

TEACHER and STUDENT are YAML configs or checkpoints (.ckpt, whose stored config is used);
each builds `model.depth_net`. Without them, seed 003's check: the RGBDepthUNet teacher of
configs/distill_rgb_teacher_v2.yaml against the BinauralAttentionUNet student of
configs/distill_audio_only_v2.yaml, both at base 64, on 256x256 inputs. Levels default to
every feature level of the teacher. The networks are built on PyTorch's meta device: shapes
and parameter counts without memory or compute.
"""
import argparse
import sys
from pathlib import Path

import torch

from packnet_sfm.datasets.builder import depth_units
from packnet_sfm.networks import build_depth_net
from packnet_sfm.networks.features import compare_features
from packnet_sfm.utils.cli import positive_int, run_cli
from packnet_sfm.utils.config import load_config
from packnet_sfm.utils.errors import InputError

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'


def build_net(path):
    """The depth network of a config or checkpoint (untrained: only shapes matter here)."""
    cfg = load_config(path)
    depth_scale, max_depth = depth_units(cfg)
    with torch.device('meta'):
        return build_depth_net(cfg, max_depth=max_depth, depth_scale=depth_scale)


def shape_text(shape):
    return str(list(shape)) if shape else 'missing'


def comparison_table(rows, teacher_name, student_name):
    """The comparison as aligned text, one line per level."""
    lines = [('level', f'teacher ({teacher_name})', f'student ({student_name})', 'match')]
    lines += [(row.level, shape_text(row.teacher), shape_text(row.student),
               'yes' if row.match else 'NO') for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(3)] + [0]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
                     .rstrip() for line in lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--teacher', default=str(CONFIGS / 'distill_rgb_teacher_v2.yaml'),
                        help='teacher YAML config or .ckpt (default: %(default)s)')
    parser.add_argument('--student', default=str(CONFIGS / 'distill_audio_only_v2.yaml'),
                        help='student YAML config or .ckpt (default: %(default)s)')
    parser.add_argument('--image-size', type=positive_int, default=256,
                        help='dummy input height/width')
    parser.add_argument('--levels', help='comma-separated feature levels (default: all of the '
                                         "teacher's)")
    args = parser.parse_args()

    teacher, student = build_net(args.teacher), build_net(args.student)
    levels = args.levels.split(',') if args.levels else None
    try:
        rows = compare_features(teacher, student, args.image_size, levels)
    except RuntimeError as error:
        raise InputError(f'--image-size {args.image_size}: the networks do not run on inputs of '
                         f'that size ({error}); give a larger one, such as 256') from error
    print(comparison_table(rows, type(teacher).__name__, type(student).__name__))
    for role, net in (('teacher', teacher), ('student', student)):
        print(f'{role} parameters: {sum(p.numel() for p in net.parameters()):,}')
    mismatched = [row.level for row in rows if not row.match]
    if mismatched:
        print(f"Not compatible: levels {', '.join(mismatched)} differ")
        sys.exit(1)
    print(f'Compatible: all {len(rows)} levels match')


if __name__ == '__main__':
    run_cli(main)
