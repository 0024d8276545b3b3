"""Errors caused by what the user gave (a config, a file, an option), reported by the scripts as
one line without a traceback, also when they were raised in a DataLoader worker or in one of
several Horovod ranks."""
import hashlib
import os
import re
import sys
import tempfile
from pathlib import Path

# Set by horovodrun for every rank of one launch (a port of its own).
LAUNCH_VARIABLE = 'HOROVOD_GLOO_RENDEZVOUS_PORT'
WORKER_TRACEBACK = 'Original Traceback (most recent call last):'


class InputError(ValueError):
    """Bad input: the message names the key or file and what to do."""


def writable_folder(path, key):
    """`path` created if needed, or an InputError naming `key` (a config key or an option)
    when it cannot be written."""
    if Path(path).is_file():
        raise InputError(f"{key} '{path}' is a file; give a folder")
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise InputError(f"{key} '{path}' is not a writable folder ({error.strerror}); "
                         f"choose another one") from error
    return Path(path)


def writable_file(path, option):
    """`path`, whose folder is created if needed, or an InputError naming `option` when it is
    a folder or its folder cannot be written: checked before the work whose result it holds."""
    if Path(path).is_dir():
        raise InputError(f"{option} '{path}' is a folder; give the file to write")
    writable_folder(Path(path).parent, option)
    return Path(path)


def file_name_part(value, option):
    """`value`, or an InputError naming `option` when it cannot be part of a file name."""
    if not re.fullmatch(r'[\w-]+', value):
        raise InputError(f"{option} '{value}': use letters, digits, '_' and '-' only (it names "
                         'files)')
    return value


def user_message(error):
    """The error's own message. A DataLoader worker's error reaches the main process as the
    same type with the worker's whole traceback as its message: keep what follows the
    traceback's last 'module.Type: ' line."""
    message = str(error)
    if WORKER_TRACEBACK not in message:
        return message
    original = message.split(WORKER_TRACEBACK, 1)[1].rstrip().splitlines()
    for index in range(len(original) - 1, -1, -1):
        head, sep, rest = original[index].partition(': ')
        if sep and not original[index].startswith(' ') and head.split('.')[-1].isidentifier():
            return '\n'.join([rest, *original[index + 1:]])
    return original[-1]


def first_report(message):
    """True the first time any rank of this launch reports `message` (always True for a
    single process): ranks that hit the same bad input print it once, not once each."""
    launch = os.environ.get(LAUNCH_VARIABLE)
    if launch is None:
        return True
    digest = hashlib.sha1(f'{launch}\n{message}'.encode()).hexdigest()[:16]
    try:
        os.close(os.open(os.path.join(tempfile.gettempdir(), f'packnet_sfm_error_{digest}'),
                         os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def exit_with(error):
    """End the process with `error: <message>` on stderr (once per launch) and status 1."""
    message = ' '.join(user_message(error).split())
    if first_report(message):
        print(f'error: {message}', file=sys.stderr)
    sys.exit(1)
