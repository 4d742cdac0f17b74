"""Marquee: raw viewing events in, ranked personalised recommendations out."""

__version__ = "0.1.0"
