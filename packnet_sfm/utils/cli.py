"""Entry-point wrapper: bad input ends the script with its one clear message, not a traceback."""
import sys

from packnet_sfm.utils.errors import InputError


def run_cli(main):
    try:
        main()
    except (InputError, FileNotFoundError) as error:
        sys.exit(f'error: {error}')
