"""Build the prepared cache of every split of a config ahead of training (datasets.cache_dir;
see packnet_sfm/datasets/cache.py), in parallel, with a progress bar. An interrupted build
resumes; a cache that exists is reused.

    python scripts/prepare_cache.py CONFIG.yaml [--workers N] [KEY VALUE ...]
"""
import argparse
import os

from packnet_sfm.datasets.builder import SPLIT_KEYS, build_datasets
from packnet_sfm.utils.cli import non_negative_int, run_cli
from packnet_sfm.utils.config import ConfigError, load_config, merge_opts


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='a YAML config (or a .ckpt) whose datasets to cache')
    parser.add_argument('--workers', type=non_negative_int, default=os.cpu_count() or 1)
    args, opts = parser.parse_known_args()     # the rest: overrides as KEY VALUE pairs
    cfg = load_config(args.config, opts)
    if not cfg.datasets.cache_dir:
        raise ConfigError("datasets.cache_dir is empty: set it (in the config or as "
                          "`datasets.cache_dir DIR`) to the folder the cache goes to")
    for split_key in SPLIT_KEYS:
        if cfg.datasets[split_key].path:
            merge_opts(cfg, [f'datasets.{split_key}.num_workers', args.workers])
            for name, dataset in build_datasets(cfg, split_key).items():
                print(f'{split_key} {name}: {len(dataset)} samples in {dataset.folder}')


if __name__ == '__main__':
    run_cli(main)
