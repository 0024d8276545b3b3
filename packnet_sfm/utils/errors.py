"""Errors caused by what the user gave (a config, a file, an option), reported without a
traceback by the scripts."""


class InputError(ValueError):
    """Bad input: the message names the key or file and what to do."""
