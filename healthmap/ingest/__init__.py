"""Imports: read a file, validate all of it, write all of it or nothing.

>>> from healthmap.ingest import KINDS
>>> KINDS
('areas', 'population', 'institutions', 'episodes', 'residents')
"""

from healthmap.ingest.contract import KINDS, SPECS, Column
from healthmap.ingest.load import ImportResult, build_context, import_file, import_frame
from healthmap.ingest.readers import FileReadError, read_table
from healthmap.ingest.validate import ValidationContext, validate

__all__ = ["KINDS", "SPECS", "Column", "ImportResult", "build_context", "import_file",
           "import_frame", "FileReadError", "read_table", "ValidationContext", "validate"]
