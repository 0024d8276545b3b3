"""Entry-point wrapper: bad input ends the script with its one clear message, not a traceback."""
import argparse

from packnet_sfm.utils.errors import InputError, exit_with

# Errors the scripts report as one line: bad input, a file system that refuses (a missing
# file, a folder given for a file, no permission, a full disk), a run that diverged.
REPORTED = (InputError, OSError, FloatingPointError)


class PeerRankFailed(Exception):
    """What a Horovod rank reports when it stopped because another rank failed."""

    def __str__(self):
        return 'stopped because another Horovod rank failed; its error is above'


def stopped_by_another_rank(error):
    """Whether `error` is Horovod shutting down after an exception on another rank."""
    return any(cls.__name__ == 'HorovodInternalError' for cls in type(error).__mro__)


def int_at_least(minimum):
    """argparse type of an integer >= `minimum`."""
    def parse(text):
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f'must be >= {minimum}, got {value}')
        return value
    parse.__name__ = 'int'      # argparse names it in "invalid int value: 'x'"
    return parse


positive_int = int_at_least(1)          # a count
non_negative_int = int_at_least(0)      # workers (0: in the main process), problems shown


def run_cli(main):
    try:
        main()
    except REPORTED as error:
        exit_with(error)
    except Exception as error:
        if not stopped_by_another_rank(error):
            raise
        exit_with(PeerRankFailed())
