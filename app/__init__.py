"""Tallybook: a personal LLM spend tracker (``app.core`` has no Qt; ``app.ui`` is the Qt app)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tallybook")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
