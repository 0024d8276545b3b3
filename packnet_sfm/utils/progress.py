"""Progress bars that tell the truth wherever the output goes: a live tqdm bar on a terminal;
in a log (a file, CI, horovodrun) one line every `LOG_INTERVAL` seconds and one at the end,
each with the true count, rate and postfix, formatted by tqdm."""
import sys
import time

from tqdm import tqdm

LOG_INTERVAL = 30.0     # seconds between two progress lines in a log


def progress(iterable=None, desc='', total=None, unit='it', disable=False):
    """A bar over `iterable` (or updated by hand up to `total`), also a context manager, with
    `update(n)` and `set_postfix(**values)`; the final state stays on screen or in the log."""
    if disable or sys.stderr.isatty():
        return LiveBar(iterable, desc=desc, total=total, unit=unit, disable=disable,
                       dynamic_ncols=True)
    return LogLines(iterable, desc=desc, total=total, unit=unit)


class LiveBar(tqdm):
    """tqdm on a terminal. A new postfix shows at the next redraw, with the count of that
    moment (tqdm's own default redraws at once, before the step is counted)."""

    def set_postfix(self, ordered_dict=None, refresh=False, **values):
        super().set_postfix(ordered_dict, refresh=refresh, **values)


class LogLines:
    """Progress as whole lines for a log: no carriage returns, no line per step."""

    def __init__(self, iterable=None, desc='', total=None, unit='it', interval=LOG_INTERVAL,
                 file=None, clock=time.monotonic):
        if total is None and hasattr(iterable, '__len__'):
            total = len(iterable)
        self.iterable, self.desc, self.total, self.unit = iterable, desc, total, unit
        self.interval, self.file, self.clock = interval, file, clock
        self.n, self.postfix, self.closed = 0, '', False
        self.started = self.last_line = clock()

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def update(self, n=1):
        self.n += n
        if self.clock() - self.last_line >= self.interval:
            self.write_line()

    def set_postfix(self, **values):
        self.postfix = ', '.join(f'{name}={value}' for name, value in values.items())

    def close(self):
        if not self.closed:
            self.closed = True
            self.write_line()

    def write_line(self):
        self.last_line = self.clock()
        line = tqdm.format_meter(self.n, self.total, self.last_line - self.started,
                                 prefix=self.desc, unit=self.unit, ascii=True,
                                 postfix=self.postfix or None)
        print(line, file=self.file or sys.stderr, flush=True)
