"""Entry-point wrapper: bad input ends the script with its one clear message, not a traceback."""
from packnet_sfm.utils.errors import InputError, exit_with

# Errors the scripts report as one line: bad input, missing files, a run that diverged.
REPORTED = (InputError, FileNotFoundError, NotADirectoryError, PermissionError,
            FloatingPointError)


def run_cli(main):
    try:
        main()
    except REPORTED as error:
        exit_with(error)
