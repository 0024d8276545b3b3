"""Write a small synthetic KITTI raw set (ray-cast streets, 64-beam LiDAR, calibration files,
eigen-style split files) in the real on-disk layout:
`python scripts/make_synthetic_kitti.py [--root data/kitti_synthetic] [--drives 2] ...`."""
import argparse
import time

from packnet_sfm.datasets.synthetic import kitti as synthetic_kitti
from packnet_sfm.utils.cli import positive_int, run_cli
from packnet_sfm.utils.errors import writable_folder


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', default='data/kitti_synthetic', help='output folder')
    parser.add_argument('--drives', type=positive_int, default=2, help='number of drives')
    parser.add_argument('--frames', type=positive_int, default=20, help='frames per drive')
    parser.add_argument('--height', type=positive_int, default=96, help='image height (pixels)')
    parser.add_argument('--width', type=positive_int, default=320, help='image width (pixels)')
    parser.add_argument('--seed', type=int, default=0, help='scene and trajectory seed')
    args = parser.parse_args()
    writable_folder(args.root, '--root')
    start = time.time()
    splits = synthetic_kitti.write_synthetic_kitti(args.root, args.drives, args.frames,
                                                   args.height, args.width, args.seed)
    print(f"Wrote {args.drives} drives x {args.frames} frames ({args.height}x{args.width}) to "
          f"{args.root} in {time.time() - start:.0f} s; splits: "
          + ', '.join(f'data_splits/{name} ({len(lines)} frames)'
                      for name, lines in splits.items()))


if __name__ == '__main__':
    run_cli(main)
