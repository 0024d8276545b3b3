"""Progress bars: live on a terminal, a line every 30 s in logs (CI, files, horovodrun)."""
import sys

from tqdm import tqdm


def progress(iterable=None, **kwargs):
    """tqdm with a refresh interval suited to where the output goes."""
    kwargs.setdefault('mininterval', 0.1 if sys.stderr.isatty() else 30.0)
    return tqdm(iterable, **kwargs)
