"""The benchmark's statistics (packnet_sfm/utils/benchmark.py) on hand-made tables, and
scripts/benchmark_echo.py end to end on a tiny simulated set."""
import csv
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import load_script

from packnet_sfm.trainers.evaluation import read_results
from packnet_sfm.utils.benchmark import (
    FloorPredictor,
    depth_floors,
    interleaved_seconds,
    machine_description,
    mean_std,
    paired_bootstrap,
    paired_difference,
    paired_matrices,
    relative_by_location,
    seed_checkpoint,
)
from packnet_sfm.utils.errors import InputError

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / 'scripts' / 'benchmark_echo.py'


benchmark = load_script(SCRIPT)


def test_mean_and_sample_std_over_seeds():
    mean, std = mean_std([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    # deviations -4/3, -1/3, 5/3: (16 + 1 + 25) / 9 / (3 - 1) = 7/3
    assert std == pytest.approx(math.sqrt(7 / 3))
    mean, std = mean_std([2.5, float('nan'), None])
    assert mean == 2.5 and math.isnan(std)                  # one finite value: no spread
    assert all(math.isnan(v) for v in mean_std([]))


def test_bootstrap_resamples_seeds_and_images():
    # D[s, i] = a_s + b_i with a = (0, 2), b = (0, 2): a resampled mean is k_s + k_i, where
    # k_s, k_i ~ Binomial(2, 1/2) count the draws of the second seed and image, so it is
    # Binomial(4, 1/2) on {0, .., 4}: P(0) = P(4) = 1/16 > 2.5%, hence the interval [0, 4].
    # Resampling only images (or only seeds) would give [1, 3].
    differences = np.array([[0.0, 2.0], [2.0, 4.0]])
    assert paired_bootstrap(differences, resamples=10000, seed=1) == (0.0, 4.0)


def test_bootstrap_interval_matches_an_independent_resampling():
    rng = np.random.default_rng(5)
    differences = rng.normal(0.2, 1.0, size=(3, 40)) + rng.normal(0, 0.3, size=(3, 1))
    low, high = paired_bootstrap(differences, resamples=20000, seed=2)
    # Plain index resampling, a different code path from the weights used by the module.
    index_rng = np.random.default_rng(3)
    means = [differences[np.ix_(index_rng.integers(3, size=3), index_rng.integers(40, size=40))]
             .mean() for _ in range(20000)]
    reference_low, reference_high = np.quantile(means, [0.025, 0.975])
    width = reference_high - reference_low
    assert low == pytest.approx(reference_low, abs=0.05 * width)
    assert high == pytest.approx(reference_high, abs=0.05 * width)


def test_paired_matrices_share_images_and_broadcast_a_floor():
    reference = [{'a': 1.0, 'b': 2.0, 'c': 3.0}, {'a': 1.5, 'b': float('nan'), 'c': 3.5}]
    floor = [{'a': 5.0, 'b': 5.0, 'c': 6.0, 'd': 7.0}]
    images, ref, other = paired_matrices(reference, floor)
    assert images == ['a', 'c']
    np.testing.assert_array_equal(ref, [[1.0, 3.0], [1.5, 3.5]])      # b is NaN in seed 1
    np.testing.assert_array_equal(other, [[5.0, 6.0], [5.0, 6.0]])
    with pytest.raises(ValueError, match='cannot pair 2 seeds with 3'):
        paired_matrices(reference, reference + reference[:1])


def test_paired_difference_of_a_fabricated_run_table():
    reference = [{'x': 1.0, 'y': 3.0}, {'x': 2.0, 'y': 4.0}]
    other = [{'x': 1.0, 'y': 5.0}, {'x': 4.0, 'y': 8.0}]       # differences [[0, 2], [2, 4]]
    d = paired_difference(reference, other, seed=1)
    assert (d.mean, d.low, d.high, d.seeds, d.images) == (2.0, 0.0, 4.0, 2, 2)
    assert d.relative == pytest.approx(2.0 / 2.5)
    assert d.verdict == 'no clear difference'
    better = paired_difference(other, [{'x': 0.5, 'y': 4.0}, {'x': 3.0, 'y': 7.5}])
    assert (better.mean, better.low, better.high, better.verdict) == (-0.75, -1.0, -0.5, 'lower')


def test_relative_difference_location_by_location():
    reference = [{'A/1': 1.0, 'A/2': 3.0, 'B/1': 2.0}, {'A/1': 2.0, 'A/2': 2.0, 'B/1': 4.0}]
    other = [{'A/1': 1.0, 'A/2': 2.0, 'B/1': 3.0}, {'A/1': 1.0, 'A/2': 2.0, 'B/1': 6.0}]
    # A: 1.5 against 2.0 over both seeds; B: 4.5 against 3.0
    assert relative_by_location(reference, other) == {'A': -0.25, 'B': 0.5}
    floor = [{'A/1': 2.0, 'A/2': 2.0, 'B/1': 6.0}]                 # the same for every seed
    assert relative_by_location(reference, floor) == {'A': 0.0, 'B': 1.0}


def test_floors_from_training_depth():
    # Two 2x2 training maps in normalised units (x 10 m); the bottom-right pixel is valid only
    # in the second, the top-right one in neither.
    depth = torch.tensor([[[[0.1, 0.2], [0.3, 0.0]]], [[[0.3, 0.9], [0.1, 0.4]]]])
    valid = torch.tensor([[[[True, False], [True, False]]], [[[True, False], [True, True]]]])
    mean, per_pixel = depth_floors([{'depth': depth, 'valid': valid}], depth_scale=10.0)
    assert mean == pytest.approx((1 + 3 + 3 + 1 + 4) / 5)
    torch.testing.assert_close(per_pixel, torch.tensor([[[2.0, 2.4], [2.0, 4.0]]]))
    output = FloorPredictor(per_pixel, depth_scale=10.0).evaluation_output(
        {'depth': depth, 'valid': valid})
    torch.testing.assert_close(output['depth'], per_pixel.expand(2, 1, 2, 2))
    torch.testing.assert_close(output['gt'], depth * 10 * valid)


def result(label, seed, rmse, per_image, seconds=10.0, machines=('cpu A',)):
    run = benchmark.Run(label, Path(f'{label}.yaml'), seed, [], None, Path(f'{label}/{seed}'))
    metrics = {p: {'rmse': rmse, 'abs_rel': 0.5, 'a1': 0.25} for p in benchmark.PROTOCOLS}
    return benchmark.RunResult(
        run=run, metrics={split: metrics for split in benchmark.EVAL_SPLITS},
        per_image={split: {p: per_image for p in benchmark.PROTOCOLS}
                   for split in benchmark.EVAL_SPLITS},
        seconds=seconds, epochs_timed=2, machines=machines, val_rmse={1: rmse})


def test_report_rows_of_a_fabricated_run_table():
    unet = [result('unet', 0, 1.0, {'x': 1.0, 'y': 3.0}, 10.0),
            result('unet', 1, 2.0, {'x': 2.0, 'y': 4.0}, 12.0)]
    echo = [result('echo', 0, 4.0, {'x': 1.0, 'y': 5.0}, 30.0),
            result('echo', 1, 6.0, {'x': 4.0, 'y': 8.0}, 34.0)]
    entries = [benchmark.model_entry('unet', unet, 1000, constant_rmse=9.0),
               benchmark.model_entry('echo', echo, 50, constant_rmse=9.0)]
    paired = benchmark.comparisons(entries)
    lines = benchmark.metrics_table(entries, 'test')
    # echo: RMSE mean 5, std sqrt(2); 16 s/epoch = 2.91 x unet's 5.5 s
    assert lines[3] == ('| echo | 50 | 5.000 ± 1.414 | 0.500 ± 0.000 | 0.250 ± 0.000 | '
                        '5.000 ± 1.414 | 0.500 ± 0.000 | 0.250 ± 0.000 | 32 ± 3 | '
                        '16.0 ± 1.4 (2.91x) |')
    rows = benchmark.paired_table(entries, paired, 'test')
    assert rows[-1] == ('| echo | +2.000 [+0.000, +4.000] | +80.0% | no clear difference | '
                        '+2.000 [+0.000, +4.000] | +80.0% | no clear difference | 2 x 2 |')
    # x: 2.5 against 1.5 over both seeds, y: 6.5 against 3.5
    assert benchmark.location_table(entries, 'test')[-2:] == [
        '|---|---|---|---|', '| echo | +66.7% | +85.7% | 0 of 2 |']
    header, csv_rows = benchmark.csv_rows(entries, paired, paired)
    echo_test = dict(zip(header, csv_rows[1]))
    assert echo_test['split'] == 'test' and echo_test['batvision_rmse_std'] == math.sqrt(2)
    assert echo_test['batvision_published_rmse_diff_high'] == 4.0


def floor(name, per_image, rmse):
    rows = [{'filename': image, 'idx': i, 'rmse': value, 'valid': True}
            for i, (image, value) in enumerate(per_image.items())]
    metrics = {'rmse': rmse, 'abs_rel': 0.5, 'a1': 0.25}
    return benchmark.floor_entry(name, {split: {p: (metrics, rows) for p in benchmark.PROTOCOLS}
                                        for split in benchmark.EVAL_SPLITS})


def test_untrained_runs_are_named_and_left_out_of_a_second_comparison():
    """A run is untrained when its validation RMSE is not below the constant predictor's
    (2.5 m here): the U-Net's seed 1 (3 m) and echo's seed 2 (exactly 2.5 m)."""
    unet = [result('unet', 0, 1.0, {'x': 1.0, 'y': 3.0}),
            result('unet', 1, 3.0, {'x': 3.0, 'y': 3.0}),
            result('unet', 2, 2.0, {'x': 2.0, 'y': 2.0})]
    echo = [result('echo', 0, 1.0, {'x': 1.0, 'y': 2.0}),
            result('echo', 1, 1.5, {'x': 1.0, 'y': 2.0}),
            result('echo', 2, 2.5, {'x': 2.0, 'y': 3.0})]
    entries = [benchmark.model_entry('unet', unet, 1000, constant_rmse=2.5),
               benchmark.model_entry('echo', echo, 50, constant_rmse=2.5),
               floor('constant', {'x': 2.5, 'y': 2.5}, 2.5)]
    assert [e.untrained for e in entries] == [{1: 3.0}, {2: 2.5}, {}]
    every_run = benchmark.comparisons(entries)
    trained = benchmark.comparisons(entries, leave_out_untrained=True)
    # every seed: (0 - 1 - 2 - 1 + 0 + 1) / 6; without seeds 1 and 2: (0 - 1) / 2, against
    # the U-Net's 2.0 m in seed 0
    assert every_run[('test', 'batvision', 'echo')].mean == -0.5
    echo_trained = trained[('test', 'batvision', 'echo')]
    assert (echo_trained.mean, echo_trained.relative, echo_trained.seeds) == (-0.5, -0.25, 1)
    # the floor against the U-Net's seeds 0 and 2 (mean 2.0 m)
    floor_trained = trained[('test', 'batvision', 'floor: constant')]
    assert (floor_trained.mean, floor_trained.relative, floor_trained.seeds) == (0.5, 0.25, 2)
    line = benchmark.untrained_line(entries, 2.5)
    assert line.startswith('Untrained runs, no better than the constant predictor on validation '
                           '(2.500 m, official protocol): unet seed 1 (3.000 m); echo seed 2 '
                           '(2.500 m).')
    report = benchmark.markdown_report(entries, every_run, trained, [line])
    assert report.count(benchmark.WITHOUT_UNTRAINED) == 2            # one per split
    assert '| echo | -0.500 [-1.000, +0.000] | -25.0% | no clear difference |' in report
    header, rows = benchmark.csv_rows(entries, every_run, trained)
    echo_test = dict(zip(header, rows[1]))
    assert echo_test['untrained_seeds'] == '2'
    assert (echo_test['batvision_rmse_diff_trained_mean'],
            echo_test['batvision_rmse_diff_trained_seeds']) == (-0.5, 1)


def test_a_report_without_untrained_runs_has_one_comparison_per_split():
    entries = [benchmark.model_entry('unet', [result('unet', 0, 1.0, {'x': 1.0})], 1000, 2.5),
               benchmark.model_entry('echo', [result('echo', 0, 2.0, {'x': 2.0})], 50, 2.5)]
    line = benchmark.untrained_line(entries, 2.5)
    assert line == ('Every run is better than the constant predictor on validation (2.500 m, '
                    'official protocol).')
    paired = benchmark.comparisons(entries)
    report = benchmark.markdown_report(entries, paired, paired, [line])
    assert benchmark.WITHOUT_UNTRAINED not in report


def test_the_validation_plot_draws_each_untrained_run_dashed(tmp_path):
    unet = [result('unet', 0, 1.0, {'x': 1.0}), result('unet', 1, 3.0, {'x': 3.0})]
    unet[0].val_rmse, unet[1].val_rmse = {1: 1.5, 2: 1.0}, {1: 2.5, 2: 3.0}
    echo = [result('echo', 0, 1.0, {'x': 1.0})]
    figure = benchmark.plot_validation({'unet': unet, 'echo': echo}, {'unet': {1: 3.0}},
                                       {'constant': 2.5}, tmp_path / 'val.png')
    lines = {line.get_label(): line for line in figure.axes[0].get_lines()}
    assert list(lines) == ['unet (2 seeds)', 'unet seed 1 (untrained)', 'echo (1 seeds)',
                           'constant floor (2.50 m)']
    assert list(lines['unet (2 seeds)'].get_ydata()) == [2.0, 2.0]   # the mean counts it
    untrained = lines['unet seed 1 (untrained)']
    assert list(untrained.get_ydata()) == [2.5, 3.0] and untrained.get_linestyle() == '--'
    assert untrained.get_color() == lines['unet (2 seeds)'].get_color()
    assert (tmp_path / 'val.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_the_report_names_the_machines_and_warns_when_runs_mix_them():
    one = [result('unet', 0, 1.0, {'x': 1.0}), result('echo', 0, 2.0, {'x': 1.0})]
    assert benchmark.machines_line(one) == 'Trained on: cpu A.'
    mixed = one + [result('echo', 1, 2.0, {'x': 1.0}, machines=('gpu B',)),
                   result('echo', 2, 2.0, {'x': 1.0}, machines=('cpu A', 'gpu B'))]
    line = benchmark.machines_line(mixed)
    assert line.startswith('Trained on 2 machines: cpu A (3 runs); gpu B (2 runs). ')
    assert 'compare configs trained on one' in line
    unrecorded = result('unet', 1, 1.0, {'x': 1.0}, machines=())
    assert benchmark.machines_line([unrecorded]) == 'Trained on: not recorded.'
    assert benchmark.machines_line(one + [unrecorded]) == ('Trained on: cpu A (1 of 3 runs not '
                                                           'recorded).')


def test_error_by_depth_sums_each_band_of_true_depth():
    """bench/error_by_depth.py: a pixel at an edge belongs to the band above it."""
    band_sums = load_script(REPO / 'bench' / 'error_by_depth.py').band_sums
    sums = band_sums(torch.tensor([1.0, 2.0, 5.0, 7.0, 6.0]),
                     torch.tensor([1.0, -1.0, 2.0, -4.0, -2.0]), [2.0, 4.0, 6.0])
    assert sums.tolist() == [[1, 1, 1, 2], [1, 1, 4, 20], [1, -1, 2, -6]]


def test_error_by_depth_groups_the_images_and_prices_each_band():
    """bench/error_by_depth.py: each image's pixels go to its location's sums (pixels without
    ground truth left out), or all to one group; each band's cost is the mean per-image RMSE
    were it exact; a dataset without locations gives one line."""
    script = load_script(REPO / 'bench' / 'error_by_depth.py')
    gt = torch.tensor([[[[1.0, 7.0]]], [[[3.0, 0.0]]], [[[8.0, 1.0]]]])
    depth = torch.tensor([[[[2.0, 3.0]]], [[[3.0, 5.0]]], [[[6.0, 1.0]]]])
    outputs = [{'gt': gt, 'depth': depth, 'location': ['Room001', 'Room000', 'Room001']}]
    groups = script.summarise(script.image_band_sums(outputs, [6.0], True, 'run'))
    assert list(groups) == ['Room000', 'Room001']
    rmse, bands = groups['Room001']             # images: errors (+1, -4) and (-2, 0)
    assert rmse == pytest.approx((math.sqrt(17 / 2) + math.sqrt(2)) / 2)
    assert bands[0] == pytest.approx((0.5, 1 / 21, 0.5, (math.sqrt(16 / 2) + math.sqrt(4 / 2)) / 2))
    assert bands[1] == pytest.approx((0.5, 20 / 21, -3.0, (math.sqrt(1 / 2) + 0) / 2))
    assert groups['Room000'] == (0.0, [(1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)])
    whole = script.summarise(script.image_band_sums(outputs, [6.0], False, 'run'))
    assert list(whole) == ['all'] and whole['all'][1][1][:3] == pytest.approx((2 / 5, 20 / 21, -3))
    with pytest.raises(InputError, match='run names no locations'):
        list(script.image_band_sums([{**outputs[0], 'location': None}], [6.0], True, 'run'))


def test_seed_ensemble_averages_the_seeds_predictions():
    """bench/seed_ensemble.py: two seeds wrong by +-1 m everywhere have RMSE 1 each and
    their mean prediction is exact; a third, right seed moves the mean prediction by 1/3 m."""
    seed_and_ensemble_rmse = load_script(
        REPO / 'bench' / 'seed_ensemble.py').seed_and_ensemble_rmse
    gt = torch.full((2, 1, 4, 4), 3.0)
    options = {'max_depth': 30.0}
    single, ensemble = seed_and_ensemble_rmse(gt, [gt + 1, gt - 1], options)
    assert single == pytest.approx([1.0, 1.0]) and ensemble == pytest.approx(0.0)
    single, ensemble = seed_and_ensemble_rmse(gt, [gt + 1, gt + 1, gt.clone()], options)
    assert single == pytest.approx([1.0, 1.0, 0.0]) and ensemble == pytest.approx(2 / 3)


def test_seed_ensemble_blends_two_models_by_weight():
    """bench/seed_ensemble.py --blend W: W * first + (1 - W) * second; models wrong by +1 and
    -1 m cancel at 0.5 and leave 1/2 m at 0.25."""
    blend_rmse = load_script(REPO / 'bench' / 'seed_ensemble.py').blend_rmse
    gt, options = torch.full((2, 1, 4, 4), 3.0), {'max_depth': 30.0}
    assert blend_rmse(gt, gt + 1, gt - 1, 0.5, options) == pytest.approx(0.0)
    assert blend_rmse(gt, gt + 1, gt - 1, 0.25, options) == pytest.approx(0.5)


def test_a_setting_is_picked_on_validation_and_only_the_pick_is_scored_on_test():
    """bench/pick_on_validation.py: the value of lowest mean validation RMSE over the seeds is
    picked even where another is better on test, and the test split is scored with it alone."""
    pick_on_validation = load_script(REPO / 'bench' / 'pick_on_validation.py').pick_on_validation
    rmse = {('a', 'val'): [1.0, 1.2], ('b', 'val'): [0.9, 1.2], ('c', 'val'): [0.8, 1.4],
            ('a', 'test'): [0.5, 0.5], ('b', 'test'): [0.7, 0.9], ('c', 'test'): [0.6, 0.6]}
    calls = []

    def score(value, seed, split):
        calls.append((value, seed, split))
        return {'x': rmse[value, split][seed], 'y': rmse[value, split][seed] + 0.2}

    picked, val, test = pick_on_validation(score, ['a', 'b', 'c'], [0, 1])
    assert picked == 'b'               # mean 1.15 (image means 1.0, 1.3) < 1.2 for a and c
    assert list(val) == ['a', 'b', 'c'] and [table['x'] for table in val['c']] == [0.8, 1.4]
    assert [table['x'] for table in test] == [0.7, 0.9]
    assert [call for call in calls if call[2] == 'test'] == [('b', 0, 'test'), ('b', 1, 'test')]
    assert calls.index(('b', 0, 'test')) == 6           # after every validation score


def test_pick_on_validation_names_a_reference_run_it_cannot_read(tmp_path):
    """A reference config without runs, or a run without its evaluation, is one InputError
    that names it and says what to do."""
    reference_rmse = load_script(REPO / 'bench' / 'pick_on_validation.py').reference_rmse
    with pytest.raises(InputError, match='ref/seed_0: no \\*/last.ckpt; run the benchmark'):
        reference_rmse(tmp_path, 'ref', 0, 'val')
    checkpoint = tmp_path / 'ref' / 'seed_0' / 'run' / 'last.ckpt'
    checkpoint.parent.mkdir(parents=True)
    checkpoint.touch()
    with pytest.raises(InputError, match='last.ckpt: no val evaluation next to it; let the '
                                         'benchmark finish'):
        reference_rmse(tmp_path, 'ref', 0, 'val')


def test_the_training_split_is_read_as_the_test_split():
    """bench scripts' --split train: the test split reads the training recordings; the
    config given is left as it was."""
    from packnet_sfm.trainers.evaluation import training_split_as_test
    from packnet_sfm.utils.config import load_config
    cfg = load_config(REPO / 'configs' / 'echo_best_v2.yaml',
                      ['datasets.train.path', "['data/a']", 'datasets.test.path', "['data/b']"])
    reading_train = training_split_as_test(cfg)
    assert reading_train.datasets.test.path == ['data/a']
    assert reading_train.datasets.test.split == ['train']
    assert reading_train.datasets.test.batch_size == cfg.datasets.test.batch_size
    assert cfg.datasets.test.path == ['data/b'] and cfg.datasets.test.split == ['test']


def test_overrides_after_the_configs_are_overrides():
    """argparse gives --configs the KEY VALUE words after it; they start at the first config
    key (known, or dotted like one), like the overrides after eval.py's --protocol."""
    args = benchmark.parse_args(['--configs', 'a.yaml', 'configs/b.yml', 'name', 'x',
                                 'model.x', '1', '--data', 'd', 'arch.seed', '2'])
    assert args.configs == [Path('a.yaml'), Path('configs/b.yml')]
    assert args.opts == ['name', 'x', 'model.x', '1', 'arch.seed', '2']
    with pytest.raises(InputError, match="--configs 'a' is not a YAML file"):
        benchmark.parse_args(['--configs', 'a', '--data', 'd'])
    with pytest.raises(InputError, match="--report 'a/b': use letters, digits"):
        benchmark.parse_args(['--configs', 'a.yaml', '--data', 'd', '--report', 'a/b'])


def test_configs_are_checked_before_the_data_is_simulated(tmp_path):
    """A wrong key stops the benchmark before --generate spends minutes simulating rooms."""
    with pytest.raises(InputError, match="Unknown config key 'model.optimizer.lrr'"):
        benchmark.main(['--configs', str(REPO / 'configs/train_unet_batvision_v2.yaml'),
                        '--generate', '2', '5', '7', '--out', str(tmp_path),
                        'model.optimizer.lrr', '1'])
    assert not (tmp_path / 'data').exists()


# ------------------------------------------------------------------------------------------
# End to end: two seed configs with tiny networks, two seeds, one epoch.
CONFIGS = ['configs/train_unet_batvision_v2.yaml', 'configs/train_base_residual_v2.yaml']
TINY = ['datasets.batvision.image_size', '128', 'model.depth_net.UNetSoundOnly.generator',
        'unet_128', 'model.depth_net.UNetSoundOnly.ngf', '4',
        'model.depth_net.BaseResidualUNet.base_channels', '4', 'datasets.train.batch_size', '4',
        'datasets.validation.batch_size', '8', 'datasets.test.batch_size', '8',
        'log.images_every', '0']


def test_runs_may_start_at_a_later_seed(tmp_path):
    """--first-seed K: runs with arch.seed K .. K + SEEDS - 1 in seed_<k> folders (fresh seeds
    to confirm a screen), and the report says which; a negative first seed is refused."""
    args = benchmark.parse_args(['--configs', str(REPO / CONFIGS[0]), '--seeds', '2',
                                 '--first-seed', '10', '--data', str(tmp_path), '--out',
                                 str(tmp_path / 'out')])
    runs = benchmark.plan_runs(args, tmp_path)
    assert [(run.seed, run.cfg.arch.seed, run.folder.parent.name) for run in runs] == [
        (10, 10, 'seed_10'), (11, 11, 'seed_11')]
    assert '2 seed(s) (arch.seed 10-11)' in benchmark.settings_lines(args, tmp_path, runs, 1,
                                                                     1)[2]
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--configs', 'a.yaml', '--first-seed', '-1', '--data', '.'])


def arguments(out, *extra):
    return ['--configs', *[str(REPO / c) for c in CONFIGS], '--seeds', '2', '--generate', '2',
            '5', '7', '--split', 'held-out-rooms', '--epochs', '1', '--out', str(out), *extra]


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp('benchmark')
    result = subprocess.run([sys.executable, str(SCRIPT), *arguments(out, *TINY)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return out


@pytest.mark.slow
def test_benchmark_writes_table_csv_and_plot(finished):
    report = (finished / 'benchmark.md').read_text()
    names = ['train_unet_batvision_v2', 'train_base_residual_v2', 'floor: constant',
             'floor: per-pixel mean']
    with open(finished / 'benchmark.csv', newline='') as file:
        table = list(csv.DictReader(file))
    untrained = any(row['untrained_seeds'] for row in table)
    assert ('Untrained runs, no better than' in report) == untrained
    for split in ('test', 'val'):
        section = report.split(f'## {split} split')[1].split('## ')[0]
        rows = [line.split(' | ')[0].strip('| ') for line in section.splitlines()
                if line.startswith('| ') and not line.startswith('| model')]
        # metrics table: both models and both floors; paired (again without untrained runs,
        # if any) and location tables: all but the reference
        assert rows == names + names[1:] * (3 if untrained else 2)
        assert '| model | Room001 | lower in |' in section     # the one held-out room
    assert 'held-out-rooms' in report and '2 seed(s)' in report
    assert f'Trained on: {machine_description()}.' in report
    assert [(row['split'], row['model']) for row in table] == [
        (split, name) for split in ('test', 'val') for name in names]
    unet, base_residual, constant = table[0], table[1], table[2]
    assert unet['runs'] == '2' and int(unet['parameters']) > 0
    assert float(unet['epoch_seconds_mean']) > 0
    assert base_residual['batvision_rmse_diff_verdict'] in ('lower', 'higher',
                                                             'no clear difference')
    assert float(constant['batvision_rmse_mean']) > 0 and constant['batvision_rmse_std'] == 'nan'
    assert (finished / 'benchmark_val_rmse.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    runs = sorted((finished / 'runs').glob('*/seed_*/*/last.ckpt'))
    assert len(runs) == 4


@pytest.mark.slow
def test_a_named_report_over_a_subset_leaves_the_first_report(finished):
    first = (finished / 'benchmark.md').read_text()
    arguments_unet_only = arguments(finished, *TINY)
    arguments_unet_only.remove(str(REPO / CONFIGS[1]))
    benchmark.main([*arguments_unet_only[:-len(TINY)], '--report', 'unet_only', *TINY])
    report = (finished / 'unet_only.md').read_text()
    assert '| train_unet_batvision_v2 |' in report
    assert 'train_base_residual_v2' not in report
    assert (finished / 'unet_only.csv').is_file()
    assert (finished / 'unet_only_val_rmse.png').is_file()
    assert (finished / 'benchmark.md').read_text() == first


@pytest.mark.slow
def test_rerun_reuses_finished_runs_and_resumes_shorter_ones(finished, monkeypatch):
    args = benchmark.parse_args(arguments(finished, *TINY))
    runs = benchmark.plan_runs(args, benchmark.data_root(args))
    commands = []
    monkeypatch.setattr(benchmark, 'run_logged',
                        lambda run, command, threads: commands.append(command) or 1.0)
    for run in runs:
        benchmark.train_run(run, threads=1)
        benchmark.evaluate_run(run, threads=1)
    assert commands == []                       # trained and evaluated already
    monkeypatch.chdir(finished.parent)          # the same --out, relative
    relative = benchmark.parse_args(arguments(finished.name, *TINY))
    for run in benchmark.plan_runs(relative, benchmark.data_root(relative)):
        benchmark.train_run(run, threads=1)
    assert commands == []

    longer = benchmark.parse_args(arguments(finished, *TINY, 'arch.max_epochs', '3'))
    run = benchmark.plan_runs(longer, benchmark.data_root(longer))[0]
    benchmark.train_run(run, threads=1)
    assert commands == [[benchmark.SCRIPTS / 'train.py', run.checkpoint, 'arch.max_epochs', 3]]

    changed = benchmark.parse_args(arguments(finished, *TINY,
                                             'model.optimizer.weight_decay', '0.05'))
    run = benchmark.plan_runs(changed, benchmark.data_root(changed))[0]
    with pytest.raises(InputError, match='was trained with model.optimizer.weight_decay 0.01'):
        benchmark.train_run(run, threads=1)


@pytest.mark.slow
def test_pick_on_validation_scores_the_benchmark_runs_as_their_evaluation_did(finished, capsys):
    """bench/pick_on_validation.py on the tiny benchmark's runs: with the setting the runs
    were evaluated with, the validation RMSE is the benchmark's own; the picked value is
    scored on test against the reference."""
    script = load_script(REPO / 'bench' / 'pick_on_validation.py')
    runs = finished / 'runs'
    sys_argv = ['pick_on_validation.py', '--runs', str(runs), '--config',
                'train_base_residual_v2', '--reference', 'train_unet_batvision_v2', '--key',
                'evaluation.test_time_mirror', '--values', 'false', 'true', '--seeds', '0', '1']
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, 'argv', sys_argv)
        script.main()
    rows = [line.split(' | ') for line in capsys.readouterr().out.splitlines()
            if line.startswith('| val') or line.startswith('| test')]
    assert [(row[0], row[1].split()[0]) for row in rows[:2]] == [('| val', 'false'),
                                                                 ('| val', 'true')]
    evaluated = [read_results(seed_checkpoint(runs, 'train_base_residual_v2', seed),
                              'val')['batvision']['rmse'] for seed in (0, 1)]
    assert float(rows[0][2].split(' ± ')[0]) == pytest.approx(np.mean(evaluated), abs=6e-4)
    picked = next(row for row in rows if row[1].endswith('(picked)'))[1].split()[0]
    assert rows[2][:2] == ['| test', picked]
    assert rows[3][1] == '(train_unet_batvision_v2)'


def test_interleaved_timing_takes_turns_and_leaves_out_the_warm_up_round():
    calls = []

    def step(label, first, later):
        def run(index):
            calls.append((label, index))
            time.sleep(first if index == 0 else later)
        return run

    seconds = interleaved_seconds({'a': step('a', 0.3, 0.01), 'b': step('b', 0.03, 0.03)},
                                  range(3), torch.device('cpu'))
    assert calls == [('a', 0), ('b', 0), ('a', 1), ('b', 1), ('a', 2), ('b', 2)]
    assert 0.01 <= seconds['a'] < 0.1              # the 0.3 s first round is not counted
    assert 0.03 <= seconds['b'] < 0.1


@pytest.mark.slow
def test_step_time_prints_each_config_against_the_first():
    result = subprocess.run(
        [sys.executable, 'bench/step_time.py', '--configs', 'configs/train_unet_batvision_v2.yaml',
         'configs/echo_best_v2.yaml', '--steps', '2', 'datasets.batvision.image_size', '128',
         'model.depth_net.UNetSoundOnly.generator', 'unet_128', 'datasets.train.batch_size', '4'],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if 's/step' in line]
    assert [row[0] for row in rows] == ['configs/train_unet_batvision_v2.yaml',
                                        'configs/echo_best_v2.yaml']
    (_, unet, _, unet_ratio), (_, echo, _, echo_ratio) = rows
    assert unet_ratio == '1.00x'
    assert float(echo_ratio[:-1]) == pytest.approx(float(echo) / float(unet), abs=0.01)


@pytest.mark.slow
def test_step_time_names_a_batch_larger_than_its_training_set():
    result = subprocess.run(
        [sys.executable, 'bench/step_time.py', '--configs', 'configs/echo_best_v2.yaml',
         'datasets.batvision.image_size', '128', 'datasets.train.batch_size', '500'],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'error: datasets.train.batch_size 500 is more than the 56 training recordings of the '
        'generated set; lower it')
