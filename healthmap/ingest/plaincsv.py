"""The fast way to read a plain episodes CSV in chunks (:func:`plain_chunks`), used by
:func:`healthmap.ingest.stream.read_chunks` before its pandas parser.

Pandas' parser took about 2.5-3 s per 500,000 rows, on the one process that reads while
two others validate; Arrow's CSV reader takes about 0.3 s. It is used only where both
read the same cells: a UTF-8 file (a BOM at its start allowed) whose header is its first
line, with no quote character, no NUL, no carriage return other than in ``\\r\\n``, no
blank line and the same number of fields on every line (leading spaces are allowed: with
no quotes, pandas' ``skipinitialspace`` and the strip that follows give what the strip
alone gives). Each chunk is checked before it is given out; at the first that is not
plain, the caller reads the file again with pandas from its start, skipping the chunks
already given (the same rows: chunks hold the same lines either way), so every message
and row number of an unusual file is the pandas path's.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from healthmap.ingest.contract import Limits

_PIECE = 16 << 20  # bytes read at a time
#: a character that no definition of blank counts as space (printable ASCII, no comma)
_INK = re.compile(rb"[!-+\--~]")


class NotPlain(Exception):
    """Raised inside :func:`plain_chunks` when the file needs the pandas parser."""


def plain_chunks(source, limits: Limits, chunk_rows: int, given: list
                 ) -> Iterator[tuple[int, pd.DataFrame, float]]:
    """``(first_row, frame, fraction read)`` as :func:`healthmap.ingest.stream.read_chunks`
    gives them, as long as the file is plain; the number of chunks given so far is kept
    in ``given[0]``. Returns ``True`` once the whole file is read, ``False`` when the
    rest needs the pandas parser (nothing of the chunk that was not plain is given)."""
    try:
        yield from _chunks(source, limits, chunk_rows, given)
        return True
    except NotPlain:
        return False


def _chunks(source, limits: Limits, chunk_rows: int, given: list):
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from healthmap.ingest.readers import text_frame

    with (open(source, "rb") if isinstance(source, (str, Path)) else io.BytesIO(source)) as fh:
        size = fh.seek(0, io.SEEK_END) or 1
        fh.seek(0)
        head = fh.readline(1 << 20)
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        if not head.endswith(b"\n") or not _plain(head) or not _INK.search(head):
            raise NotPlain  # no row, a header over 1 MB, quotes, blank lines before it
        headers = head.rstrip(b"\r\n").decode("utf-8").split(",")
        if not 2 <= len(headers) <= limits.max_columns:
            raise NotPlain
        names = [f"c{i}" for i in range(len(headers))]
        read_opts = pcsv.ReadOptions(column_names=names, use_threads=False,
                                     block_size=1 << 26)
        parse_opts = pcsv.ParseOptions(quote_char=False, double_quote=False,
                                       escape_char=False, newlines_in_values=False,
                                       ignore_empty_lines=False)
        convert_opts = pcsv.ConvertOptions(
            column_types={n: pa.large_string() for n in names}, strings_can_be_null=False,
            quoted_strings_can_be_null=False, check_utf8=True)
        dtype = pd.StringDtype("pyarrow", na_value=np.nan)  # what pandas' parser gives
        offset, rest, want, done = 0, b"", chunk_rows - 1, fh.tell()
        while True:
            block, rest, lines = _lines(fh, rest, want)
            if not block:
                if not given[0]:
                    raise NotPlain  # a header only: pandas' path says what that is
                return
            last = block[block.rstrip(b"\r\n").rfind(b"\n") + 1:]
            if not _plain(block) or block.startswith((b"\n", b"\r\n")) \
                    or not _INK.search(last):
                raise NotPlain  # a chunk ending in a blank row is held back by pandas' path
            try:
                table = pcsv.read_csv(pa.py_buffer(block), read_options=read_opts,
                                      parse_options=parse_opts, convert_options=convert_opts)
            except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
                raise NotPlain from exc  # a row of another field count, say
            if table.num_rows != lines:
                raise NotPlain
            raw = pd.DataFrame({i: pd.Series(pd.arrays.ArrowStringArray(
                table.column(i), dtype=dtype)) for i in range(len(names))})
            done += len(block)
            given[0] += 1
            yield (offset, text_frame(raw, headers, arrow=True, stripped=_unspaced(block)),
                   min(done / size, 1.0))
            offset += lines
            want = chunk_rows


#: the ASCII characters a strip removes (pandas' ``str.strip`` of Arrow strings, Python's
#: ``str.strip`` alike), but for the line ends: ``\n``, and ``\r`` of a plain block's
#: ``\r\n`` (never in a cell)
_ASCII_SPACE = (b" ", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")


def _unspaced(block: bytes) -> bool:
    """Whether no cell of a plain block can hold a character that a strip removes: the
    block is ASCII without any of :data:`_ASCII_SPACE` (then the strip, 0.17 s a
    500,000-row chunk, is left out)."""
    return block.isascii() and not any(c in block for c in _ASCII_SPACE)


def _plain(data: bytes) -> bool:
    """No quote, NUL or lone carriage return, no blank line within ``data``."""
    if b'"' in data or b"\x00" in data or b"\n\n" in data or b"\n\r\n" in data:
        return False
    return b"\r" not in data or data.count(b"\r") == data.count(b"\r\n")


def _lines(fh, rest: bytes, want: int) -> tuple[bytes, bytes, int]:
    """The next ``want`` lines (fewer at the file's end) from ``rest`` and then ``fh``:
    ``(their bytes, what follows of what was read, how many)``."""
    pieces, have = [rest], rest.count(b"\n")
    while have < want:
        piece = fh.read(_PIECE)
        if not piece:
            data = b"".join(pieces)
            return data, b"", have + (1 if data and not data.endswith(b"\n") else 0)
        pieces.append(piece)
        have += piece.count(b"\n")
    last = pieces[-1]
    before = have - last.count(b"\n")
    ends = np.flatnonzero(np.frombuffer(last, np.uint8) == 10)
    cut = int(ends[want - before - 1]) + 1
    data = b"".join(pieces[:-1] + [last[:cut]])
    return data, last[cut:], want
