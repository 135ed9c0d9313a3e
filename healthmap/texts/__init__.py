"""User-facing texts, one module per job (``TEXT = {key: (zh, en)}`` in each).

:mod:`healthmap.i18n` merges every module of this package into its table, so a new job
adds its texts in its own file (``healthmap/texts/<job>.py``) without editing a shared one.
A key defined twice is an error at import time.
"""

from __future__ import annotations

import importlib
import pkgutil


def collect() -> dict[str, tuple[str, str]]:
    """All ``TEXT`` tables of this package's modules, merged (duplicate keys refused)."""
    merged: dict[str, tuple[str, str]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for key, pair in getattr(module, "TEXT", {}).items():
            if key in merged:
                raise ValueError(f"text key {key!r} defined twice (healthmap/texts/{info.name}.py)")
            merged[key] = pair
    return merged
