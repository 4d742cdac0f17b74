"""Which ids the API takes: user and title ids travel as URL path segments and end up in log
lines, so anything that could be read as a path, a query or SQL is refused up front."""

from __future__ import annotations

import re

# Letters, digits and a few separators; must start with a letter or digit (no '.', no '..').
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@+-]*")


def id_problem(value: str, max_length: int = 128) -> str | None:
    """Why ``value`` is not an acceptable id, or None when it is."""
    if not value:
        return "is empty"
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    if ".." in value or not _ID.fullmatch(value):
        return "may only contain letters, digits and _ . : @ + - (starting with a letter or digit)"
    return None
