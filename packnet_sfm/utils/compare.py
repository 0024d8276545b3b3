"""Compare training runs by the validation metrics they logged to <run_dir>/val_metrics.jsonl,
run by run or as groups of runs that differ only in their seed."""
import csv
import json
import math
from pathlib import Path

import yaml

from packnet_sfm.utils.benchmark import mean_std
from packnet_sfm.utils.checkpoint import HIGHER_IS_BETTER
from packnet_sfm.utils.errors import InputError

VAL_METRICS_FILE = 'val_metrics.jsonl'
RUN_CONFIG_FILE = 'config.yaml'
# Keys that do not change what a run computes when runs are grouped by seed: the seed itself
# and the folder the run was written to.
NOT_THE_EXPERIMENT = ('arch.seed', 'checkpoint.filepath')


def read_val_metrics(run_dir):
    """The validation records of a run, one dict per line of its val_metrics.jsonl."""
    path = Path(run_dir) / VAL_METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {VAL_METRICS_FILE}; is this a run folder that "
                                f"has been validated at least once?")
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise InputError(f"{path}:{number}: not a JSON line ({error.msg})") from error
    if not records:
        raise InputError(f"{path}: no validation records")
    return records


def summarize_metric(records, metric):
    """(final value, best value, epoch of the best) of one metric; None where there is none.

    The best ignores non-finite values (a validation without valid pixels logs NaN); ties go
    to the earliest epoch.
    """
    logged = [(r[metric], r.get('epoch', i)) for i, r in enumerate(records) if metric in r]
    finite = [(value, epoch) for value, epoch in logged if math.isfinite(value)]
    final = logged[-1][0] if logged else None
    if not finite:
        return final, None, None
    pick = max if metric in HIGHER_IS_BETTER else min
    best, best_epoch = pick(finite, key=lambda value_epoch: value_epoch[0])
    return final, best, best_epoch


def comparison_table(run_dirs, metrics):
    """Header and rows: one row per run (folder name), final/best/best-epoch per metric."""
    header = ['run'] + [f'{m}_{column}' for m in metrics for column in ('final', 'best', 'epoch')]
    rows = []
    for run_dir in run_dirs:
        records = read_val_metrics(run_dir)
        row = [Path(run_dir).resolve().name]
        for metric in metrics:
            row.extend(summarize_metric(records, metric))
        rows.append(row)
    return header, rows


def flatten(tree, prefix=''):
    """{dotted key: value} of the leaves of nested dicts."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f'{prefix}{key}.'))
        else:
            flat[f'{prefix}{key}'] = value
    return flat


def read_run_config(run_dir):
    """The flattened config.yaml of a run folder."""
    path = Path(run_dir) / RUN_CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {RUN_CONFIG_FILE}; is this a run folder written "
                                f"by scripts/train.py?")
    try:
        return flatten(yaml.safe_load(path.read_text()) or {})
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not a YAML config ({error})") from error


def seed_groups(run_dirs):
    """Lists of run folders whose configs agree on every key but NOT_THE_EXPERIMENT, in the
    order of each group's first run."""
    groups = {}
    for run_dir in run_dirs:
        config = read_run_config(run_dir)
        experiment = {k: v for k, v in config.items() if k not in NOT_THE_EXPERIMENT}
        groups.setdefault(json.dumps(experiment, sort_keys=True), []).append(run_dir)
    return list(groups.values())


def grouped_table(run_dirs, metrics):
    """Header and rows: one row per group of runs that differ only in their seed (named after
    its first run's folder), with the seeds and the mean and standard deviation (n - 1) over
    the runs of each metric's final and best value."""
    header = ['group', 'runs', 'seeds'] + [f'{m}_{column}_{stat}' for m in metrics
                                          for column in ('final', 'best')
                                          for stat in ('mean', 'std')]
    rows = []
    for group in seed_groups(run_dirs):
        summaries = [[summarize_metric(read_val_metrics(run), m)[:2] for m in metrics]
                     for run in group]
        seeds = ' '.join(str(read_run_config(run).get('arch.seed')) for run in group)
        row = [Path(group[0]).resolve().name, len(group), seeds]
        for index in range(len(metrics)):
            for column in (0, 1):
                row.extend(mean_std([summary[index][column] for summary in summaries]))
        rows.append(row)
    return header, rows


def format_cell(value):
    if value is None:
        return '-'
    return f'{value:.4f}' if isinstance(value, float) else str(value)


def to_text(header, rows):
    """An aligned plain-text table."""
    cells = [header] + [[format_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def to_markdown(header, rows):
    """A GitHub-flavoured Markdown table."""
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(format_cell(v) for v in row) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'


def write_csv(path, header, rows):
    """A CSV file with full-precision values (empty cells for metrics a run never logged)."""
    with open(path, 'w', newline='') as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows([['' if v is None else v for v in row] for row in rows])
