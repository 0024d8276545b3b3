"""Run comparison: final / best metrics from hand-written val_metrics.jsonl files."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from packnet_sfm.utils.compare import (
    comparison_table,
    grouped_table,
    read_val_metrics,
    seed_groups,
    to_markdown,
)

SCRIPT = Path(__file__).resolve().parents[1] / 'scripts' / 'compare_runs.py'


def write_run(root, name, records):
    run = root / name
    run.mkdir()
    (run / 'val_metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    return run


@pytest.fixture
def runs(tmp_path):
    unet = write_run(tmp_path, 'unet', [
        {'epoch': 1, 'rmse': 3.0, 'abs_rel': 0.5, 'a1': 0.4},
        {'epoch': 2, 'rmse': 2.0, 'abs_rel': 0.45, 'a1': 0.6},
        {'epoch': 3, 'rmse': 2.5, 'abs_rel': 0.4, 'a1': 0.5},
    ])
    attention = write_run(tmp_path, 'attention', [
        {'epoch': 5, 'rmse': 4.0, 'a1': 0.3},
        {'epoch': 10, 'rmse': 1.5, 'a1': 0.7},
    ])
    return [unet, attention]


def test_table_has_final_best_and_best_epoch(runs):
    header, rows = comparison_table(runs, ['rmse', 'a1'])
    assert header == ['run', 'rmse_final', 'rmse_best', 'rmse_epoch',
                      'a1_final', 'a1_best', 'a1_epoch']
    assert rows == [['unet', 2.5, 2.0, 2, 0.5, 0.6, 2],
                    ['attention', 1.5, 1.5, 10, 0.7, 0.7, 10]]


def test_metric_a_run_never_logged_is_empty(runs):
    _, rows = comparison_table(runs, ['abs_rel'])
    assert rows == [['unet', 0.4, 0.4, 3], ['attention', None, None, None]]


def test_best_ignores_nan_and_ties_go_to_the_earliest_epoch(tmp_path):
    run = write_run(tmp_path, 'holes', [{'epoch': 1, 'rmse': float('nan')},
                                        {'epoch': 2, 'rmse': 2.0},
                                        {'epoch': 3, 'rmse': 2.0},
                                        {'epoch': 4, 'rmse': float('nan')}])
    (_, final, best, epoch), = comparison_table([run], ['rmse'])[1]
    assert math.isnan(final)
    assert (best, epoch) == (2.0, 2)


def test_missing_file_names_the_run(tmp_path):
    (tmp_path / 'empty_run').mkdir()
    with pytest.raises(FileNotFoundError, match='empty_run: no val_metrics.jsonl'):
        read_val_metrics(tmp_path / 'empty_run')


def test_bad_line_names_file_and_line(tmp_path):
    run = write_run(tmp_path, 'broken', [{'epoch': 1, 'rmse': 1.0}])
    with open(run / 'val_metrics.jsonl', 'a') as file:
        file.write('{"epoch": 2, "rmse": \n')
    with pytest.raises(ValueError, match=r'val_metrics.jsonl:2: not a JSON line'):
        read_val_metrics(run)


def test_markdown_table(runs):
    markdown = to_markdown(*comparison_table(runs, ['rmse']))
    assert markdown.splitlines() == [
        '| run | rmse_final | rmse_best | rmse_epoch |',
        '|---|---|---|---|',
        '| unet | 2.5000 | 2.0000 | 2 |',
        '| attention | 1.5000 | 1.5000 | 10 |',
    ]


def test_script_prints_and_writes_csv_and_markdown(runs, tmp_path):
    out_csv, out_md = tmp_path / 'table.csv', tmp_path / 'table.md'
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, runs), '--metrics', 'rmse', 'a1',
         '--csv', str(out_csv), '--markdown', str(out_md)],
        capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ['run', 'rmse_final', 'rmse_best', 'rmse_epoch',
                                'a1_final', 'a1_best', 'a1_epoch']
    assert lines[2].split() == ['unet', '2.5000', '2.0000', '2', '0.5000', '0.6000', '2']
    with open(out_csv, newline='') as file:
        assert list(csv.reader(file))[2] == ['attention', '1.5', '1.5', '10', '0.7', '0.7', '10']
    assert '| attention | 1.5000 | 1.5000 | 10 | 0.7000 | 0.7000 | 10 |' in out_md.read_text()


def test_script_fails_clearly_on_a_folder_without_metrics(runs, tmp_path):
    (tmp_path / 'not_a_run').mkdir()
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(runs[0]), str(tmp_path / 'not_a_run')],
        capture_output=True, text=True)
    assert result.returncode == 1
    assert 'not_a_run: no val_metrics.jsonl' in result.stderr


@pytest.mark.parametrize('option', ['--csv', '--markdown'])
def test_script_fails_clearly_when_the_table_file_is_a_folder(runs, tmp_path, option):
    result = subprocess.run([sys.executable, str(SCRIPT), str(runs[0]), option, str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 1 and 'Traceback' not in result.stderr
    assert result.stderr.strip() == (f"error: {option} '{tmp_path}' is a folder; give the file "
                                     'to write')


def write_seeded_run(root, name, seed, lr, rmses):
    """A run folder whose config.yaml differs from its siblings' by seed, lr and folder."""
    run = write_run(root, name, [{'epoch': e + 1, 'rmse': r} for e, r in enumerate(rmses)])
    (run / 'config.yaml').write_text(
        f'name: unet\narch: {{seed: {seed}, max_epochs: {len(rmses)}}}\n'
        f'model: {{optimizer: {{lr: {lr}}}}}\ncheckpoint: {{filepath: runs/seed_{seed}}}\n')
    return run


@pytest.fixture
def seeded_runs(tmp_path):
    return [write_seeded_run(tmp_path, 'unet_s0', 0, 0.002, [3.0, 2.0]),
            write_seeded_run(tmp_path, 'fast_s0', 0, 0.01, [2.0, 1.0]),
            write_seeded_run(tmp_path, 'unet_s1', 1, 0.002, [2.5, 3.0]),
            write_seeded_run(tmp_path, 'unet_s2', 2, 0.002, [4.0, 4.0])]


def test_runs_that_differ_only_in_the_seed_form_a_group(seeded_runs):
    unet_s0, fast_s0, unet_s1, unet_s2 = seeded_runs
    assert seed_groups(seeded_runs) == [[unet_s0, unet_s1, unet_s2], [fast_s0]]


def test_grouped_table_has_mean_and_std_over_seeds(seeded_runs):
    header, rows = grouped_table(seeded_runs, ['rmse'])
    assert header == ['group', 'runs', 'seeds', 'rmse_final_mean', 'rmse_final_std',
                      'rmse_best_mean', 'rmse_best_std']
    (name, runs, seeds, final_mean, final_std, best_mean, best_std), fast = rows
    # finals 2, 3, 4: mean 3, std 1; bests 2, 2.5, 4: mean 17/6, std sqrt(13/12)
    assert (name, runs, seeds) == ('unet_s0', 3, '0 1 2')
    assert (final_mean, final_std) == (3.0, 1.0)
    assert best_mean == pytest.approx(17 / 6) and best_std == pytest.approx(math.sqrt(13 / 12))
    assert fast[:5] == ['fast_s0', 1, '0', 1.0, pytest.approx(math.nan, nan_ok=True)]


def test_script_groups_seeds_on_request(seeded_runs, tmp_path):
    result = subprocess.run([sys.executable, str(SCRIPT), *map(str, seeded_runs), '--metrics',
                             'rmse', '--group-seeds'], capture_output=True, text=True, check=True)
    lines = result.stdout.splitlines()
    assert lines[0].split() == ['group', 'runs', 'seeds', 'rmse_final_mean', 'rmse_final_std',
                                'rmse_best_mean', 'rmse_best_std']
    assert lines[2].split() == ['unet_s0', '3', '0', '1', '2', '3.0000', '1.0000', '2.8333',
                                '1.0408']
    assert len(lines) == 4


def test_grouping_needs_the_run_config(runs):
    with pytest.raises(FileNotFoundError, match='unet: no config.yaml'):
        seed_groups(runs)
