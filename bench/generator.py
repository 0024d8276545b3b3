"""Samples/s of the synthetic BatVision generator per worker (one process pinned to one core)
next to the same generation by the package at a reference revision, measured in the same
run, and whether both write byte-identical files for the seed.

    python bench/generator.py [--against REV] [--per-location 8] [--repeats 3]

The reference is the revision's ``packnet_sfm`` exported with ``git archive`` into a
temporary folder (default: the revision before the generator speed-up). Runs alternate
between the two; each side's best run is reported.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from packnet_sfm.utils.benchmark import machine_description
from packnet_sfm.utils.cli import positive_int

REPO = Path(__file__).resolve().parents[1]
BEFORE_SPEED_UP = '7b1e01f21c54282d07597e8bd090629ecfbc205c'

# Runs in a fresh interpreter with the package under test first on the path.
CHILD = r'''
import os, sys
os.sched_setaffinity(0, {int(sys.argv[1])})
import hashlib, json, tempfile, time
import packnet_sfm
from packnet_sfm.datasets.synthetic import generate_batvision
assert packnet_sfm.__file__.startswith(os.getcwd()), packnet_sfm.__file__
version, locations, per_location, seed = sys.argv[2], *map(int, sys.argv[3:6])
with tempfile.TemporaryDirectory() as scratch:
    generate_batvision(version, scratch + '/warm-up', 1, 3, seed + 1, workers=1, progress=False)
    root = scratch + '/set'
    start, start_cpu = time.perf_counter(), time.process_time()
    generate_batvision(version, root, locations, per_location, seed, workers=1, progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    hashes = {os.path.relpath(os.path.join(folder, name), root):
              hashlib.sha256(open(os.path.join(folder, name), 'rb').read()).hexdigest()
              for folder, _, names in os.walk(root) for name in names}
samples = locations * per_location
print(json.dumps({'rate': samples / seconds, 'cpu_rate': samples / cpu_seconds, 'hashes': hashes}))
'''


def export_revision(revision, folder):
    """``packnet_sfm`` of ``revision`` extracted under ``folder``."""
    archive = subprocess.run(['git', '-C', str(REPO), 'archive', revision, 'packnet_sfm'],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f'error: revision {revision} in --against: '
                 f'{archive.stderr.decode().strip()}; give a revision of this repository')
    subprocess.run(['tar', '-x', '-C', str(folder)], input=archive.stdout, check=True)


def generate(package_root, version, locations, per_location, seed, cpu):
    """{'rate': samples/s, 'cpu_rate': samples per CPU second, 'hashes': {file: sha256}} of
    one generation in a child process pinned to ``cpu``."""
    env = dict(os.environ, PYTHONPATH=str(package_root), OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, '-c', CHILD, str(cpu), version, str(locations),
                             str(per_location), str(seed)], cwd=package_root, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f'generation with the package in {package_root} failed:\n{result.stderr}')
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--against', default=BEFORE_SPEED_UP, help='reference git revision')
    parser.add_argument('--locations', type=positive_int, default=2)
    parser.add_argument('--per-location', type=positive_int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--repeats', type=positive_int, default=3)
    args = parser.parse_args()
    cpu = max(os.sched_getaffinity(0))
    shape = (args.locations, args.per_location, args.seed)

    with tempfile.TemporaryDirectory() as scratch:
        export_revision(args.against, scratch)
        roots = {'current': REPO, 'reference': Path(scratch)}
        runs = {name: [] for name in roots}
        for _ in range(args.repeats):
            for name, root in roots.items():
                runs[name].append(generate(root, 'v2', *shape, cpu))
        v1 = {name: generate(root, 'v1', *shape, cpu) for name, root in roots.items()}

    identical = {'v2': runs['current'][0]['hashes'] == runs['reference'][0]['hashes'],
                 'v1': v1['current']['hashes'] == v1['reference']['hashes']}
    print(f'machine: {machine_description()}')
    print(f'V2 generation, {args.locations} locations x {args.per_location} samples, seed '
          f'{args.seed}, 1 worker pinned to CPU {cpu}; best (median) of {args.repeats} runs')
    print(f'{"":32s}{"samples/s":>16s}{"per CPU second":>18s}')
    for name, label in (('current', 'generator (this checkout)'),
                        ('reference', f'reference ({args.against[:12]})')):
        print(f'{label:32s}{_summary(runs[name], "rate"):>16s}'
              f'{_summary(runs[name], "cpu_rate"):>18s}')
    ratios = [_best(runs['current'], key) / _best(runs['reference'], key)
              for key in ('rate', 'cpu_rate')]
    print(f'{"ratio current / reference":32s}{ratios[0]:16.2f}{ratios[1]:18.2f}')
    for version, same in identical.items():
        print(f'{version} files byte-identical to the reference: {"yes" if same else "NO"}')


def _best(runs, key):
    return max(run[key] for run in runs)


def _summary(runs, key):
    return f'{_best(runs, key):.1f} ({statistics.median(run[key] for run in runs):.1f})'


if __name__ == '__main__':
    main()
