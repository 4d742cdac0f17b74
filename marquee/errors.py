"""Errors a user can fix. The CLI prints them as one line and exits non-zero, no traceback."""


class MarqueeUserError(Exception):
    """Bad input from the person at the keyboard: a missing path, an unknown format, a bad flag."""
