"""Benchmark echo models: every config trained on the same data, for the same epochs, with the
same overrides and seeds; test and validation scored under the official BatVision protocol
and the published 0.5 m one; a table of the mean and standard deviation over seeds, a paired
per-image comparison of each model with the first (bootstrap 95% interval over images and
seeds), and the constant and per-pixel-mean predictors as floors. A run no better than the
constant predictor on validation is named as untrained, and each split's paired comparison is
given again without the seeds of such runs.

    python scripts/benchmark_echo.py --configs A.yaml B.yaml ... [--seeds 3] [--first-seed 0]
        (--data DIR | --generate ROOMS SAMPLES SEED [--split same-rooms|held-out-rooms])
        [--epochs N] [--jobs J] [--out DIR] [--report NAME] [KEY VALUE ...]

Run k of a config is trained with `arch.seed k` in <out>/runs/<config name>/seed_<k>/, k from
--first-seed on (seeds not yet used confirm what a screen on other seeds picked); the KEY VALUE
overrides (after any option, the configs included, or after --) apply to every run. Writes
<out>/NAME.md, <out>/NAME.csv and <out>/NAME_val_rmse.png (NAME: --report, default
`benchmark`), so reports over other subsets of the same runs sit beside each other.
Rerunning reuses finished runs and their evaluations and resumes interrupted runs from their
last.ckpt.
"""
import argparse
import csv
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch.utils.data import DataLoader

from packnet_sfm.datasets.builder import (  # noqa: E402
    EVAL_SPLITS,
    build_dataset,
    build_loader,
    depth_units,
)
from packnet_sfm.datasets.synthetic import generate_batvision  # noqa: E402
from packnet_sfm.models import build_model  # noqa: E402
from packnet_sfm.trainers.distributed import SingleProcess  # noqa: E402
from packnet_sfm.trainers.evaluation import (  # noqa: E402
    evaluate,
    evaluation_protocols,
    read_per_sample,
    read_results,
    results_paths,
)
from packnet_sfm.trainers.run import run_name  # noqa: E402
from packnet_sfm.utils.benchmark import (  # noqa: E402
    FloorPredictor,
    depth_floors,
    machine_description,
    mean_std,
    paired_difference,
    per_image_rmse,
    relative_by_location,
    usable_cores,
)
from packnet_sfm.utils.checkpoint import load_checkpoint  # noqa: E402
from packnet_sfm.utils.cli import non_negative_int, positive_int, run_cli  # noqa: E402
from packnet_sfm.utils.compare import flatten, read_val_metrics  # noqa: E402
from packnet_sfm.utils.config import load_config, split_overrides, to_dict  # noqa: E402
from packnet_sfm.utils.errors import InputError, file_name_part, writable_folder  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent
PROTOCOLS = ('batvision', 'batvision_published')
PROTOCOL_LABELS = {'batvision': 'official', 'batvision_published': '0.5 m'}
METRICS = {'rmse': 'RMSE (m)', 'abs_rel': 'AbsRel', 'a1': 'd1'}
SPLIT_MODES = ('same-rooms', 'held-out-rooms')
TIMING_FILE = 'benchmark_timing.json'


class RunFailed(InputError):
    """A training or evaluation subprocess exited with an error."""


@dataclass(frozen=True)
class Run:
    label: str          # the config's file name without .yaml
    config: Path
    seed: int
    opts: list          # KEY VALUE overrides of this run
    cfg: object         # the merged config
    folder: Path        # the run folder scripts/train.py writes

    @property
    def checkpoint(self):
        return self.folder / 'last.ckpt'

    @property
    def log(self):
        return self.folder.parent / 'benchmark.log'


@dataclass
class RunResult:
    run: Run
    metrics: dict       # {split: {protocol: {metric: value}}} of last.ckpt
    per_image: dict     # {split: {protocol: {image: rmse}}}
    seconds: float      # training wall time over every session of the run
    epochs_timed: int   # epochs trained in those sessions
    machines: tuple     # machine_description() of each machine that trained it
    val_rmse: dict      # {epoch: validation rmse}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--configs', nargs='+', required=True,
                        help='YAML configs to compare; the first is the reference')
    parser.add_argument('--seeds', type=positive_int, default=3,
                        help='runs per config, with arch.seed FIRST_SEED .. '
                             'FIRST_SEED+SEEDS-1')
    parser.add_argument('--first-seed', type=non_negative_int, default=0,
                        help='the first arch.seed (default 0)')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--data', type=Path, help='a BatVision V2 root (its own split CSVs)')
    source.add_argument('--generate', nargs=3, type=int, metavar=('ROOMS', 'SAMPLES', 'SEED'),
                        help='simulate a V2 set of ROOMS rooms x SAMPLES recordings from SEED')
    parser.add_argument('--split', choices=SPLIT_MODES,
                        help="with --generate: 'same-rooms' (default) splits every room about "
                             "70/15/15 like the real V2; 'held-out-rooms' keeps a third of the "
                             "rooms (at least one) for validation and test only")
    parser.add_argument('--epochs', type=positive_int,
                        help="arch.max_epochs of every run (default: the first config's)")
    parser.add_argument('--jobs', type=positive_int,
                        help='runs trained at once (default: one per core, at most one per run)')
    parser.add_argument('--out', type=Path, default=Path('runs/benchmark'))
    parser.add_argument('--report', default='benchmark', metavar='NAME',
                        help='file names of the report under --out: NAME.md, NAME.csv, '
                             'NAME_val_rmse.png')
    parser.add_argument('opts', nargs=argparse.REMAINDER,
                        help='KEY VALUE overrides for every run')
    args = parser.parse_args(argv)
    configs, overrides = split_overrides(args.configs)
    args.configs = [Path(config) for config in configs]
    args.opts = overrides + (args.opts[1:] if args.opts[:1] == ['--'] else args.opts)
    for config in args.configs:
        if config.suffix not in ('.yaml', '.yml'):
            raise InputError(f"--configs '{config}' is not a YAML file; give the configs' paths")
    if args.data and args.split:
        raise InputError('--split applies to --generate; a --data root keeps its own split CSVs')
    file_name_part(args.report, '--report')
    return args


def held_out_rooms(rooms):
    """Rooms kept for validation and test with --split held-out-rooms: a third, at least 1."""
    return max(1, rooms // 3)


def data_root(args):
    """The V2 root: --data, or where the --generate set goes (<out>/data/...)."""
    if args.data:
        if not args.data.is_dir():
            raise InputError(f'--data {args.data} is not a folder: give a BatVision V2 root')
        return args.data
    rooms, samples, seed = args.generate
    return args.out / 'data' / f'v2_{rooms}x{samples}_seed{seed}_{args.split or SPLIT_MODES[0]}'


def generate_data(args, root):
    """Simulate the --generate set at `root`, completing one left incomplete (nothing with
    --data)."""
    if args.data:
        return
    rooms, samples, seed = args.generate
    split = args.split or SPLIT_MODES[0]
    held_out = held_out_rooms(rooms) if split == 'held-out-rooms' else 0
    try:
        generate_batvision('v2', root, rooms, samples, seed, held_out_locations=held_out)
    except ValueError as error:
        raise InputError(f'--generate {rooms} {samples} {seed} --split {split}: {error}') from error


def run_overrides(label, seed, epochs, data, out):
    """The budget every run shares, its seed and folder."""
    opts = ['name', label, 'arch.seed', seed, 'arch.max_epochs', epochs,
            'arch.validate_every', 1, 'checkpoint.filepath', out / 'runs' / label / f'seed_{seed}']
    for split in ('train', 'validation', 'test'):
        # Data loading stays in the training process: the jobs x threads are the whole load.
        opts += [f'datasets.{split}.path', json.dumps([str(data)]),
                 f'datasets.{split}.num_workers', 0]
    return [str(item) for item in opts]


def plan_runs(args, data):
    """Every (config, seed) run, its config checked now rather than after hours of training."""
    labels = [config.stem for config in args.configs]
    if len(set(labels)) < len(labels):
        raise InputError(f'--configs: two configs share a file name ({labels}); runs are '
                         f'named after it, so rename one')
    epochs = args.epochs or load_config(args.configs[0], args.opts).arch.max_epochs
    runs = []
    for config, label in zip(args.configs, labels):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            opts = run_overrides(label, seed, epochs, data, args.out) + list(args.opts)
            cfg = load_config(config, opts)
            runs.append(Run(label, config, seed, opts, cfg,
                            Path(cfg.checkpoint.filepath) / run_name(cfg)))
    if len({run.folder for run in runs}) < len(runs):
        raise InputError('the overrides make several runs share a folder: do not override '
                         'checkpoint.filepath')
    return runs


def parallelism(jobs, runs):
    """(jobs, threads per job): by default one job per core (at most one per run), and the
    cores shared evenly between the jobs."""
    cores = usable_cores()
    jobs = jobs or max(1, min(runs, cores))
    return jobs, max(1, cores // jobs)


def run_logged(run, command, threads):
    """Run a script with its output appended to the run's log; the wall time in seconds."""
    run.log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, 'OMP_NUM_THREADS': str(threads), 'MKL_NUM_THREADS': str(threads)}
    started = time.time()
    with open(run.log, 'a') as log:
        log.write(shlex.join(map(str, command)) + '\n')
        log.flush()
        result = subprocess.run([sys.executable, *map(str, command)], stdout=log,
                                stderr=subprocess.STDOUT, env=env)
    if result.returncode:
        raise RunFailed(f'{Path(command[0]).name} failed for {run.label} seed {run.seed} in '
                        f'{run.log}: read the end of that log, fix it and rerun (finished runs '
                        f'are kept)')
    return time.time() - started


def absolute_paths(config):
    """A flat config with its paths (checkpoint.filepath, datasets.cache_dir, datasets.*.path)
    made absolute, so that --out given relative or absolute names the same runs."""
    def absolute(key, value):
        if key in ('checkpoint.filepath', 'datasets.cache_dir') or (
                key.startswith('datasets.') and key.endswith('.path')):
            return ([str(Path(v).resolve()) for v in value] if isinstance(value, list)
                    else str(Path(value).resolve()))
        return value
    return {key: absolute(key, value) for key, value in config.items()}


def check_same_experiment(run):
    """A run folder being reused must hold this run: same config up to arch.max_epochs."""
    stored = absolute_paths(flatten(to_dict(load_config(run.folder / 'config.yaml'))))
    wanted = absolute_paths(flatten(to_dict(run.cfg)))
    changed = [key for key in wanted if key != 'arch.max_epochs'
               and stored.get(key) != wanted[key]]
    if changed:
        key = changed[0]
        raise InputError(f'{run.folder} was trained with {key} {stored.get(key)!r}, this '
                         f'benchmark asks for {wanted[key]!r}: use another --out, or delete '
                         f'that folder to train it again')


def train_run(run, threads):
    """Train a run to its epochs: a finished run is kept, an interrupted one resumed from its
    last.ckpt, a folder without one started over. Adds the time and the machine to the run's
    timing file."""
    epochs, done = run.cfg.arch.max_epochs, 0
    if run.checkpoint.is_file():
        check_same_experiment(run)
        done = load_checkpoint(run.checkpoint)['epoch']
        if done > epochs:
            raise InputError(f'{run.folder} has {done} epochs, more than the {epochs} asked: '
                             f'use another --out or --epochs {done}')
        if done == epochs:
            return
        command = [SCRIPTS / 'train.py', run.checkpoint, 'arch.max_epochs', epochs]
    else:
        shutil.rmtree(run.folder, ignore_errors=True)
        command = [SCRIPTS / 'train.py', run.config, *run.opts]
    seconds = run_logged(run, command, threads)
    timing = read_timing(run.folder)
    (run.folder / TIMING_FILE).write_text(json.dumps(
        {'seconds': timing['seconds'] + seconds, 'epochs': timing['epochs'] + epochs - done,
         'machines': sorted({*timing['machines'], machine_description()})}))


def read_timing(folder):
    """{'seconds', 'epochs', 'machines'} of a run's training sessions (none yet: 0, 0, [])."""
    path = Path(folder) / TIMING_FILE
    timing = json.loads(path.read_text()) if path.is_file() else {'seconds': 0.0, 'epochs': 0}
    return {'machines': [], **timing}


def evaluate_run(run, threads):
    """scripts/eval.py on the splits whose results are missing or older than last.ckpt."""
    stale = [split for split in EVAL_SPLITS if not evaluated(run.checkpoint, split)]
    if stale:
        splits = [argument for split in stale for argument in ('--split', split)]
        run_logged(run, [SCRIPTS / 'eval.py', '--checkpoint', run.checkpoint, *splits,
                         '--protocol', *PROTOCOLS], threads)


def evaluated(checkpoint, split):
    """Whether eval.py's results for a split are newer than the checkpoint, with PROTOCOLS."""
    metrics = results_paths(checkpoint, split)[0]
    return (metrics.is_file() and metrics.stat().st_mtime >= checkpoint.stat().st_mtime
            and set(PROTOCOLS) <= set(read_results(checkpoint, split)))


def train_and_evaluate(run, threads):
    train_run(run, threads)
    evaluate_run(run, threads)
    timing = read_timing(run.folder)
    return RunResult(
        run=run,
        metrics={split: read_results(run.checkpoint, split) for split in EVAL_SPLITS},
        per_image={split: {protocol: per_image_rmse(rows) for protocol, rows
                           in read_per_sample(run.checkpoint, split).items()}
                   for split in EVAL_SPLITS},
        seconds=timing['seconds'] if timing['epochs'] else math.nan,
        epochs_timed=timing['epochs'],
        machines=tuple(timing['machines']),
        val_rmse={record['epoch']: record['rmse'] for record in read_val_metrics(run.folder)
                  if 'rmse' in record})


def run_all(runs, jobs, threads):
    """Every run's RunResult, `jobs` at a time; the first failure is raised after the others
    have finished."""
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(train_and_evaluate, run, threads) for run in runs]
    failures = [future.exception() for future in futures if future.exception()]
    if failures:
        raise failures[0]
    return [future.result() for future in futures]


def score_floors(cfg):
    """{split: {floor: {protocol: (metrics, per-sample rows)}}} of the constant (train-mean
    depth) and per-pixel-mean (mean training depth map) predictors, scored by the evaluator
    on the images the models are scored on."""
    scale = depth_units(cfg)[0]
    train_set = DataLoader(build_dataset(cfg, 'train'), batch_size=cfg.datasets.train.batch_size)
    mean, per_pixel = depth_floors(train_set, scale)
    floors = {'constant': FloorPredictor(mean, scale),
              'per-pixel mean': FloorPredictor(per_pixel, scale)}
    protocols = evaluation_protocols(cfg, PROTOCOLS)
    world, scored = SingleProcess(), {}
    for split, key in EVAL_SPLITS.items():
        loader = build_loader(cfg, key, build_dataset(cfg, key), world)
        scored[split] = {name: evaluate(floor, loader, world, torch.device('cpu'), protocols,
                                        desc=f'{name} floor {split}')
                         for name, floor in floors.items()}
    return scored


def depth_net_parameters(cfg):
    return sum(p.numel() for p in build_model(cfg, *depth_units(cfg)).depth_net.parameters())


# ------------------------------------------------------------------------------------------
# The report
@dataclass
class Entry:
    """One row of the report: a config over its seeds, or a floor."""

    name: str
    kind: str           # 'model' or 'floor'
    runs: int
    parameters: int | None
    seconds: tuple      # (mean, std) training wall time
    epoch_seconds: tuple
    metrics: dict       # {split: {protocol: {metric: (mean, std)}}}
    per_image: dict     # {split: {protocol: [{image: rmse} per seed]}}
    seeds: tuple = ()   # the arch.seed of each per-image dict; () for a floor
    untrained: dict = field(default_factory=dict)  # {seed: validation RMSE}, see below

    def per_seed(self, split, protocol, left_out=()):
        """The {image: rmse} dicts of the seeds not in `left_out` (a floor's one dict stands
        for every seed)."""
        runs = self.per_image[split][protocol]
        if self.kind == 'floor':
            return runs
        return [run for seed, run in zip(self.seeds, runs) if seed not in left_out]


def untrained_runs(results, constant_rmse):
    """{seed: validation RMSE} of the runs whose last validation RMSE (official protocol) is
    not below the constant predictor's: a run no better than answering the mean depth
    everywhere has not learnt (a ReLU head dead from the first step, a diverged last epoch).
    Judged on validation only, so that test decides nothing."""
    return {r.run.seed: rmse for r in results
            if not (rmse := r.metrics['val'][PROTOCOLS[0]]['rmse']) < constant_rmse}


def model_entry(label, results, parameters, constant_rmse):
    """A config's row; `constant_rmse`: the constant predictor's validation RMSE, which a
    run must beat to count as trained."""
    return Entry(
        name=label, kind='model', runs=len(results), parameters=parameters,
        seeds=tuple(r.run.seed for r in results), untrained=untrained_runs(results, constant_rmse),
        seconds=mean_std([r.seconds for r in results]),
        epoch_seconds=mean_std([r.seconds / r.epochs_timed if r.epochs_timed else math.nan
                                for r in results]),
        metrics={split: {p: {m: mean_std([r.metrics[split][p][m] for r in results])
                             for m in METRICS} for p in PROTOCOLS} for split in EVAL_SPLITS},
        per_image={split: {p: [r.per_image[split][p] for r in results] for p in PROTOCOLS}
                   for split in EVAL_SPLITS})


def floor_entry(name, scored):
    """`scored`: {split: {protocol: (metrics, rows)}} of one floor."""
    nan = (math.nan, math.nan)
    return Entry(
        name=f'floor: {name}', kind='floor', runs=1, parameters=None, seconds=nan,
        epoch_seconds=nan,
        metrics={split: {p: {m: (scored[split][p][0][m], math.nan) for m in METRICS}
                         for p in PROTOCOLS} for split in EVAL_SPLITS},
        per_image={split: {p: [per_image_rmse(scored[split][p][1])] for p in PROTOCOLS}
                   for split in EVAL_SPLITS})


def comparisons(entries, leave_out_untrained=False):
    """{(split, protocol, name): PairedDifference} of every entry but the first vs the first;
    with `leave_out_untrained`, each over the seeds in which neither of the two runs is
    untrained (NaN when no seed is left)."""
    reference, paired = entries[0], {}
    for e in entries[1:]:
        left_out = {*reference.untrained, *e.untrained} if leave_out_untrained else set()
        for split in EVAL_SPLITS:
            for p in PROTOCOLS:
                paired[(split, p, e.name)] = paired_difference(
                    reference.per_seed(split, p, left_out), e.per_seed(split, p, left_out))
    return paired


def csv_rows(entries, paired, paired_trained):
    """Header and one row per (split, entry), full precision; `paired_trained`: the
    comparisons without the untrained runs' seeds."""
    header = ['split', 'model', 'kind', 'runs', 'parameters', 'train_seconds_mean',
              'train_seconds_std', 'epoch_seconds_mean', 'epoch_seconds_std']
    header += [f'{p}_{m}_{s}' for p in PROTOCOLS for m in METRICS for s in ('mean', 'std')]
    header += difference_header('rmse_diff', 'images')
    header += ['untrained_seeds', *difference_header('rmse_diff_trained', 'seeds')]
    rows = []
    for split in EVAL_SPLITS:
        for entry in entries:
            row = [split, entry.name, entry.kind, entry.runs, entry.parameters,
                   *entry.seconds, *entry.epoch_seconds]
            row += [v for p in PROTOCOLS for m in METRICS for v in entry.metrics[split][p][m]]
            row += difference_cells(paired, split, entry.name, 'images')
            row.append(' '.join(map(str, entry.untrained)))
            row += difference_cells(paired_trained, split, entry.name, 'seeds')
            rows.append(row)
    return header, rows


DIFFERENCE_FIELDS = ('mean', 'low', 'high', 'relative', 'verdict')


def difference_header(prefix, count):
    """CSV columns of one comparison per protocol, ending with its `count` (images or seeds)."""
    return [f'{p}_{prefix}_{column}' for p in PROTOCOLS for column in (*DIFFERENCE_FIELDS, count)]


def difference_cells(paired, split, name, count):
    """The `difference_header` cells of entry `name` (blank for the reference)."""
    cells = []
    for p in PROTOCOLS:
        d = paired.get((split, p, name))
        cells += ([getattr(d, column) for column in (*DIFFERENCE_FIELDS, count)] if d
                  else [''] * (len(DIFFERENCE_FIELDS) + 1))
    return cells


def plus_minus(value, decimals=3):
    mean, std = value
    if math.isnan(mean):
        return '-'
    return f'{mean:.{decimals}f}' + ('' if math.isnan(std) else f' ± {std:.{decimals}f}')


def metrics_table(entries, split):
    columns = [(p, m) for p in PROTOCOLS for m in METRICS]
    lines = ['| model | params | ' + ' | '.join(f'{METRICS[m]} {PROTOCOL_LABELS[p]}'
                                                for p, m in columns)
             + ' | train (s) | s/epoch (vs first) |',
             '|---|---|' + '---|' * len(columns) + '---|---|']
    reference = entries[0].epoch_seconds[0]
    for e in entries:
        ratio = (f' ({e.epoch_seconds[0] / reference:.2f}x)'
                 if e.kind == 'model' and reference > 0 else '')
        per_epoch = plus_minus(e.epoch_seconds, 1) + ratio if e.kind == 'model' else '-'
        lines.append(f'| {e.name} | {f"{e.parameters:,}" if e.parameters else "-"} | '
                     + ' | '.join(plus_minus(e.metrics[split][p][m]) for p, m in columns)
                     + f' | {plus_minus(e.seconds, 0)} | {per_epoch} |')
    return lines


def paired_table(entries, paired, split, caption=None):
    reference = entries[0].name
    caption = caption or (f'Per-image RMSE minus {reference}\'s, paired by image and seed: '
                          f'mean (m), bootstrap 95% interval over images and seeds, relative '
                          f'to {reference}:')
    lines = [caption, '',
             '| model | ' + ' | '.join(f'{PROTOCOL_LABELS[p]}: mean [95% interval] | relative '
                                       f'| verdict' for p in PROTOCOLS) + ' | images x seeds |',
             '|---|' + '---|---|---|' * len(PROTOCOLS) + '---|']
    for e in entries[1:]:
        cells = []
        for p in PROTOCOLS:
            d = paired[(split, p, e.name)]
            cells.append(f'{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}] | {100 * d.relative:+.1f}% '
                         f'| {d.verdict}')
        d = paired[(split, PROTOCOLS[0], e.name)]
        lines.append(f'| {e.name} | ' + ' | '.join(cells) + f' | {d.images} x {d.seeds} |')
    return lines


def location_table(entries, split):
    """Each model's and floor's mean per-image RMSE (official protocol) relative to the first
    model's, location by location, and in how many locations it is lower."""
    reference, protocol = entries[0], PROTOCOLS[0]
    relative = {e.name: relative_by_location(reference.per_image[split][protocol],
                                             e.per_image[split][protocol])
                for e in entries[1:]}
    locations = list(relative[entries[-1].name])
    lines = [f'Mean per-image RMSE ({PROTOCOL_LABELS[protocol]}) relative to '
             f'{reference.name}\'s, location by location (the first folder of each file), '
             f'over the seeds:', '',
             '| model | ' + ' | '.join(locations) + ' | lower in |',
             '|---|' + '---|' * len(locations) + '---|']
    for name, by_location in relative.items():
        lower = sum(value < 0 for value in by_location.values())
        lines.append(f'| {name} | ' + ' | '.join(f'{100 * by_location[location]:+.1f}%'
                                                 for location in locations)
                     + f' | {lower} of {len(by_location)} |')
    return lines


def markdown_report(entries, paired, paired_trained, settings):
    """The report; the paired tables without the untrained runs' seeds only when some run
    is untrained."""
    lines = ['# Echo benchmark', '', *settings, '']
    for split in EVAL_SPLITS:
        images = paired[(split, PROTOCOLS[0], entries[-1].name)].images
        lines += [f'## {split} split ({images} images)', '', *metrics_table(entries, split), '',
                  *paired_table(entries, paired, split), '']
        if any(e.untrained for e in entries):
            lines += [*paired_table(entries, paired_trained, split, WITHOUT_UNTRAINED), '']
        lines += [*location_table(entries, split), '']
    lines += ['Mean ± sample standard deviation (n - 1) over seeds of the last checkpoint; '
              'official: gt > 0 (the BatVision code); 0.5 m: 0.5 m <= gt <= 30 m (the '
              'published V2 tables). Training time is wall time (start-up and validation '
              'included) with the jobs running side by side: compare the ratios.']
    return '\n'.join(lines) + '\n'


WITHOUT_UNTRAINED = ('The same without the untrained runs: each comparison leaves out the seeds '
                     'in which either model\'s run is untrained:')


def untrained_line(entries, constant_rmse):
    """A Markdown line naming the untrained runs (`untrained_runs`), or saying there are none."""
    named = [f'{e.name} seed {seed} ({rmse:.3f} m)'
             for e in entries for seed, rmse in e.untrained.items()]
    threshold = (f'the constant predictor on validation ({constant_rmse:.3f} m, official '
                 f'protocol)')
    if not named:
        return f'Every run is better than {threshold}.'
    return (f'Untrained runs, no better than {threshold}: {"; ".join(named)}. Every '
            f'figure counts them; a second paired table per split leaves out their seeds.')


def settings_lines(args, data, runs, jobs, threads):
    """The command, the data and the shared budget, as Markdown lines."""
    command = shlex.join(['python', 'scripts/benchmark_echo.py', *sys.argv[1:]])
    if args.generate:
        rooms, samples, seed = args.generate
        split = args.split or SPLIT_MODES[0]
        held_out = (f', {held_out_rooms(rooms)} of them for validation and test only'
                    if split == 'held-out-rooms' else ', every room split about 70/15/15')
        source = f'simulated V2, {rooms} rooms x {samples} recordings, data seed {seed}{held_out}'
    else:
        source = 'its own split CSVs'
    return [f'Command: `{command}`', '',
            f'Data: `{data}` ({source}). Every config: {args.seeds} seed(s) (arch.seed '
            f'{args.first_seed}-{args.first_seed + args.seeds - 1}), '
            f'{runs[0].cfg.arch.max_epochs} epoch(s), the overrides '
            f'`{shlex.join(args.opts) or "(none)"}`; {jobs} job(s) at a time, {threads} '
            f'thread(s) each. The floors use the training depth maps, read with the data '
            f'settings of {runs[0].label}.']


def machines_line(results):
    """Which machines trained the runs, as a Markdown line; a warning when they are several,
    since the same data and seeds give other numbers on another machine."""
    machines = sorted({machine for result in results for machine in result.machines})
    if not machines:
        return 'Trained on: not recorded.'
    unrecorded = sum(not result.machines for result in results)
    unrecorded = f' ({unrecorded} of {len(results)} runs not recorded)' if unrecorded else ''
    if len(machines) == 1:
        return f'Trained on: {machines[0]}{unrecorded}.'
    by_machine = [f'{machine} ({sum(machine in r.machines for r in results)} runs)'
                  for machine in machines]
    return (f'Trained on {len(machines)} machines: {"; ".join(by_machine)}{unrecorded}. The '
            f'same data and seeds give other numbers on another machine: compare configs '
            f'trained on one, in a fresh --out.')


def plot_validation(entries_results, untrained, floors, path):
    """Validation RMSE per epoch: mean over seeds and a band of one std, one line per
    config, each of its untrained runs (`untrained`: {config: {seed: ...}}) dashed in its
    colour; the floors as grey horizontal lines. Saved to `path`; returns the Figure."""
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    for label, results in entries_results.items():
        epochs = sorted(set.intersection(*[set(r.val_rmse) for r in results]))
        stats = [mean_std([r.val_rmse[e] for r in results]) for e in epochs]
        mean = [m for m, _ in stats]
        std = [0.0 if math.isnan(s) else s for _, s in stats]
        line, = axes.plot(epochs, mean, marker='o', label=f'{label} ({len(results)} seeds)')
        axes.fill_between(epochs, [m - s for m, s in zip(mean, std)],
                          [m + s for m, s in zip(mean, std)], color=line.get_color(), alpha=0.2)
        for r in results:
            if r.run.seed in untrained.get(label, {}):
                axes.plot(sorted(r.val_rmse), [r.val_rmse[e] for e in sorted(r.val_rmse)],
                          linestyle='--', linewidth=1, color=line.get_color(),
                          label=f'{label} seed {r.run.seed} (untrained)')
    for (name, value), style in zip(floors.items(), ('--', ':')):
        axes.axhline(value, linestyle=style, color='grey', linewidth=1.2,
                     label=f'{name} floor ({value:.2f} m)')
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel('epoch')
    axes.set_ylabel('validation RMSE (m)')
    axes.set_title('Validation RMSE: mean over seeds, band of one std')
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    return figure


def floor_lines(scored, runs):
    """{floor: validation RMSE} under the protocol the runs validate with (none when they
    differ or it is not one the floors were scored with)."""
    protocols = {run.cfg.evaluation.protocol for run in runs}
    if len(protocols) > 1 or not protocols <= set(PROTOCOLS):
        return {}
    protocol, = protocols
    return {name: by_protocol[protocol][0]['rmse'] for name, by_protocol in scored.items()}


def main(argv=None):
    args = parse_args(argv)
    writable_folder(args.out, '--out')
    data = data_root(args)
    runs = plan_runs(args, data)    # every config checked before minutes of simulation
    generate_data(args, data)
    jobs, threads = parallelism(args.jobs, len(runs))
    print(f'{len(runs)} runs, {jobs} at a time with {threads} thread(s) each; logs in '
          f'{args.out / "runs"}/<config>/seed_<k>/benchmark.log')
    results = run_all(runs, jobs, threads)
    by_config = {}
    for result in results:
        by_config.setdefault(result.run.label, []).append(result)
    floors = score_floors(runs[0].cfg)
    constant_rmse = floors['val']['constant'][PROTOCOLS[0]][0]['rmse']
    entries = [model_entry(label, group, depth_net_parameters(group[0].run.cfg), constant_rmse)
               for label, group in by_config.items()]
    entries += [floor_entry(name, {split: floors[split][name] for split in EVAL_SPLITS})
                for name in floors['test']]
    paired = comparisons(entries)
    paired_trained = comparisons(entries, leave_out_untrained=True)
    settings = [*settings_lines(args, data, runs, jobs, threads), '', machines_line(results),
                '', untrained_line(entries, constant_rmse)]
    report = markdown_report(entries, paired, paired_trained, settings)
    markdown, table, plot = (args.out / f'{args.report}{suffix}'
                             for suffix in ('.md', '.csv', '_val_rmse.png'))
    markdown.write_text(report)
    with open(table, 'w', newline='') as file:
        writer = csv.writer(file)
        header, rows = csv_rows(entries, paired, paired_trained)
        writer.writerow(header)
        writer.writerows(rows)
    plot_validation(by_config, {e.name: e.untrained for e in entries},
                    floor_lines(floors['val'], runs), plot)
    print(report)
    print(f'Wrote {markdown}, {table} and {plot}')


if __name__ == '__main__':
    run_cli(main)
