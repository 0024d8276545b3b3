"""Check a dataset root before a run: every file each split references, with the loader's own
checks from file headers (plus the depth maps' valid pixels), in parallel worker processes."""
import os
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing import get_context

from packnet_sfm.utils.errors import InputError
from packnet_sfm.utils.progress import progress


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str
    message: str


@dataclass
class SplitReport:
    """What the scan of one split found."""

    split: str
    recordings: int = 0
    files: int = 0
    valid_fractions: list = field(default_factory=list)
    problems: list = field(default_factory=list)

    def kinds(self):
        return Counter(problem.kind for problem in self.problems)


_dataset = None     # the dataset a worker process checks (set by its initialiser)


def _set_dataset(dataset):
    global _dataset
    _dataset = dataset


def _check(index):
    return _dataset.check_recording(_dataset.recordings[index])


def check_split(make_dataset, split, workers=1):
    """SplitReport of `make_dataset(split)`: a loader with `recordings`, `check_recording`
    (files checked, valid depth fraction, problems) and `split_problems`; a split the loader
    refuses is one problem naming its file."""
    report = SplitReport(split)
    try:
        dataset = make_dataset(split)
    except InputError as error:
        report.problems.append(Problem(split, getattr(error, 'kind', 'split file'), str(error)))
        return report
    report.problems += [Problem(path, 'split file', message)
                        for path, message in dataset.split_problems()]
    indices = range(len(dataset))
    report.recordings = len(indices)
    with get_context('fork' if os.name == 'posix' else 'spawn').Pool(
            workers, initializer=_set_dataset, initargs=(dataset,)) as pool:
        results = pool.imap(_check, indices, chunksize=8)
        for files, fraction, problems in progress(results, total=len(indices),
                                                  desc=f'check {split}', unit='recording'):
            report.files += files
            if fraction is not None:
                report.valid_fractions.append(fraction)
            report.problems += [Problem(*problem) for problem in problems]
    return report


def summary(reports, shown=10):
    """The text a user reads: per split counts, problems by kind, the first problems."""
    width = max([8] + [len(report.split) + 2 for report in reports])
    lines = [f"{'split':<{width}}{'recordings':>12}{'files':>10}{'problems':>10}"
             f"{'valid depth':>14}"]
    for report in reports:
        fractions = report.valid_fractions
        valid = f'{100 * sum(fractions) / len(fractions):.1f}%' if fractions else '-'
        lines.append(f'{report.split:<{width}}{report.recordings:>12}{report.files:>10}'
                     f'{len(report.problems):>10}{valid:>14}')
    kinds = sum((report.kinds() for report in reports), Counter())
    problems = [problem for report in reports for problem in report.problems]
    if not problems:
        return '\n'.join(lines + ['No problem found.'])
    lines += ['', 'Problems by kind:'] + [f'  {kind:<16}{count:>6}'
                                          for kind, count in kinds.most_common()]
    lines += ['', f'First {min(shown, len(problems))} of {len(problems)} problems:']
    lines += [f'  [{problem.kind}] {problem.message}' for problem in problems[:shown]]
    return '\n'.join(lines)
