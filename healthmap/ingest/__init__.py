"""Imports: read a file, validate all of it, write all of it or nothing.

>>> from healthmap.ingest import KINDS
>>> KINDS
('areas', 'population', 'institutions', 'episodes', 'residents')
"""

from healthmap.ingest.contract import KINDS, SPECS, Column
from healthmap.ingest.load import ImportResult, build_context, import_frame
from healthmap.ingest.load import import_file as _import_file_unguarded
from healthmap.ingest.readers import FileReadError, read_table
from healthmap.ingest.validate import ValidationContext, validate

__all__ = ["KINDS", "SPECS", "Column", "ImportResult", "build_context", "import_file",
           "import_frame", "FileReadError", "read_table", "ValidationContext", "validate"]


def import_file(engine, kind: str, source, filename: str | None = None, **options
                ) -> ImportResult:
    """:func:`healthmap.ingest.load.import_file`, one at a time per database: while
    another import runs, refused at once with a problem naming it (kind, file, user,
    since; :func:`healthmap.dbhealth.import_lock`), nothing written."""
    from healthmap.ingest.load import guarded

    return guarded(engine, kind, filename, options,
                   lambda: _import_file_unguarded(engine, kind, source, filename, **options))
