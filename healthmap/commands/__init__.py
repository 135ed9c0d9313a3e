"""Command-line plug-ins: each module here defines ``register(command)``.

``command(name, **kw)`` is :func:`healthmap.cli.build_parser`'s helper that adds a
sub-command (with the shared ``--db`` option) and returns its parser; the module sets
``func`` on it. A job adds its commands in its own file (``healthmap/commands/<job>.py``).
Handlers raise :class:`healthmap.cli.CliError` for a one-line refusal (exit 2).
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(command) -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}").register(command)
