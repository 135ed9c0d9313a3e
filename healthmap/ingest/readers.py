"""Read CSV / Excel files into all-text frames with contract column names, within limits.

Every limit (file size, unpacked size, rows, columns) comes from
:class:`healthmap.ingest.contract.Limits` and is checked before the expensive step it
protects: the file size before reading, the unpacked size of an ``.xlsx`` before opening
it, the row count while streaming its rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from healthmap.ingest.contract import HEADER_ALIASES, Limits


class FileReadError(ValueError):
    """The file cannot be read; ``code`` names the reason (a text key ``err.<code>``).
    ``problems`` (a :class:`healthmap.ingest.problems.Problems`), when given, names every
    row at fault (rows with too many fields) and is what the refusal lists."""

    def __init__(self, message: str, code: str = "unreadable", problems=None, **params):
        super().__init__(message)
        self.code = code
        self.params = params
        self.problems = problems


def file_size(source) -> int | None:
    """Size in bytes of a path, bytes or seekable file, without reading it."""
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    size = getattr(source, "size", None)
    if isinstance(size, int):
        return size
    try:
        pos = source.tell()
        source.seek(0, io.SEEK_END)
        end = source.tell()
        source.seek(pos)
        return end - pos
    except (AttributeError, OSError):
        return None


def check_file_size(source, limits: Limits, streamed: bool = False) -> None:
    """Refuse a file above the size limit (:meth:`Limits.max_bytes`; ``streamed``: an
    episodes CSV read in chunks) before reading it."""
    size = file_size(source)
    most, mb = limits.max_bytes(streamed)
    if size is not None and size > most:
        raise FileReadError("file too large", "file_too_large", size=f"{size / 2**20:,.1f}",
                            limit=f"{mb:g}")


def file_bytes(source) -> bytes:
    if isinstance(source, (str, Path)):
        return Path(source).read_bytes()
    if isinstance(source, bytes):
        return source
    data = source.read()
    return data if isinstance(data, bytes) else data.encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalize_header(name: str) -> str:
    key = str(name).strip().lstrip("\ufeff")
    if key in HEADER_ALIASES:
        return HEADER_ALIASES[key]
    low = key.lower().replace(" ", "_")
    return HEADER_ALIASES.get(low, low)


def check_unpacked_size(data: bytes, limits: Limits) -> None:
    """Refuse a zip container (xlsx, zipped Shapefile) whose members unpack to more than
    the limit (zip bombs), judged from the zip directory without unpacking anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            total = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile as exc:
        raise FileReadError("not a zip file") from exc
    if total > limits.max_unpacked_bytes:
        raise FileReadError("unpacks too large", "unpacked_too_large",
                            size=f"{total / 2**20:,.0f}", limit=f"{limits.max_unpacked_mb:g}")


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or GBK/GB18030; a UTF-8 file with a line in another
    encoding is refused with that line's number (no mojibake is stored)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    utf8_line = bad_line = None
    for i, line in enumerate(data.split(b"\n")):
        try:
            line.decode("utf-8")
            if utf8_line is None and any(b > 127 for b in line):
                utf8_line = i
        except UnicodeDecodeError:
            bad_line = i if bad_line is None else bad_line
        if utf8_line is not None and bad_line is not None:
            raise FileReadError("mixed encodings", "mixed_encoding", line=bad_line + 1)
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise FileReadError("encoding is neither UTF-8 nor GBK", "encoding") from exc


def _cell_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return f"{v:%Y-%m-%d}" if v.time() == dt.time() else v.isoformat(" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


_ROW_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")


def _first_sheet(z: zipfile.ZipFile) -> str:
    """The zip member holding the workbook's first sheet."""
    names = set(z.namelist())
    try:
        book = z.read("xl/workbook.xml").decode("utf-8", "replace")
        rid = re.search(r"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", book).group(1)
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
        for rel in re.finditer(r"<(?:\w+:)?Relationship\b[^>]*>", rels):
            if f'Id="{rid}"' in rel.group(0):
                target = re.search(r'Target="([^"]+)"', rel.group(0)).group(1)
                path = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
                if path in names:
                    return path
    except (KeyError, AttributeError):
        pass
    return "xl/worksheets/sheet1.xml"


def count_excel_rows(data: bytes) -> int:
    """Rows (``<row>`` elements, empty formatted ones included) of the first sheet, counted
    on the decompressed XML stream without parsing it (about 1 s for a million rows)."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        try:
            stream = z.open(_first_sheet(z))
        except KeyError:
            return 0
        n, tail = 0, b""
        with stream:
            while chunk := stream.read(1 << 20):
                buf = tail + chunk
                n += len(_ROW_TAG.findall(buf))
                tail = buf[-64:]
                n -= len(_ROW_TAG.findall(tail))  # counted again with the next chunk
        n += len(_ROW_TAG.findall(tail))
    return n


def _read_excel(data: bytes, limits: Limits) -> list[list[str]]:
    """Rows of the first sheet as text, streamed, stopping at the row and column limits.

    The unpacked size and the row count are checked before the workbook is parsed."""
    import openpyxl

    check_unpacked_size(data, limits)
    if count_excel_rows(data) > limits.max_excel_rows + 1:
        raise FileReadError("too many rows", "too_many_rows",
                            limit=f"{limits.max_excel_rows:,}")
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # corrupt workbook: the parser's first line, no cell values
        raise FileReadError(str(exc).splitlines()[0][:200] if str(exc) else "bad workbook") \
            from exc
    try:
        ws = wb.worksheets[0]
        rows: list[list[str]] = []
        for row in ws.iter_rows(values_only=True):
            if len(rows) > limits.max_excel_rows:  # header + max_excel_rows data rows
                raise FileReadError("too many rows", "too_many_rows",
                                    limit=f"{limits.max_excel_rows:,}")
            if len(row) > limits.max_columns and any(
                    v is not None for v in row[limits.max_columns:]):
                raise FileReadError("too many columns", "too_many_columns",
                                    limit=limits.max_columns)
            rows.append([_cell_text(v) for v in row[:limits.max_columns]])
    finally:
        wb.close()
    while rows and not any(rows[-1]):  # trailing empty (formatted) rows
        rows.pop()
    if rows:  # drop trailing empty header cells (and their columns)
        width = max((i + 1 for i, v in enumerate(rows[0]) if v), default=0)
        rows = [r[:width] + [""] * (width - len(r)) for r in rows]
    return rows


def read_table(data: bytes, filename: str, limits: Limits | None = None) -> pd.DataFrame:
    """Parse ``data`` as CSV (UTF-8, UTF-8-BOM or GBK) or Excel, every cell as text.

    Empty cells become ``""``. Row ``i`` of the frame is line ``i + 2`` of the file (the
    header is line 1), which is how problems are reported. Column names are the contract's
    (aliases mapped); a name may occur twice (validation refuses that, naming both headers,
    which are kept in ``df.attrs["headers"]``).
    """
    limits = limits or Limits.from_env()
    if len(data) > limits.max_file_bytes:
        raise FileReadError("file too large", "file_too_large",
                            size=f"{len(data) / 2**20:,.1f}", limit=f"{limits.max_file_mb:g}")
    name, lead = filename.lower(), 0
    try:
        if name.endswith((".xlsx", ".xlsm")):
            rows = _read_excel(data, limits)
            if not rows:
                return pd.DataFrame()
            raw = pd.DataFrame(rows[1:], columns=range(len(rows[0])), dtype=object)
            headers = rows[0]
        elif name.endswith(".xls"):
            raise FileReadError("old Excel format", "xls_format")
        else:
            buf = io.StringIO(_decode(data))
            lead = skip_blank_start(buf)
            start = buf.tell()
            first = next(csv.reader([buf.readline()]), [])
            buf.seek(start)
            if len(first) > limits.max_columns:  # before parsing a file of a million columns
                raise FileReadError("too many columns", "too_many_columns",
                                    limit=limits.max_columns)
            try:
                raw = pd.read_csv(buf, dtype=str, keep_default_na=False,
                                  skipinitialspace=True, header=None, skip_blank_lines=False)
            except pd.errors.ParserError as exc:
                buf.seek(start)
                raise parser_error(exc, buf, lead) from exc
            if len(raw.columns) > limits.max_columns:
                raise FileReadError("too many columns", "too_many_columns",
                                    limit=limits.max_columns)
            lead += leading_blank(raw)
            raw = raw.iloc[leading_blank(raw):]
            headers = [str(h) for h in raw.iloc[0]] if len(raw) else []
            raw = raw.iloc[1:]
            raw = raw.iloc[:len(raw) - trailing_blank(raw)]
    except FileReadError:
        raise
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:  # parser errors carry no personal data, only positions
        raise parser_error(exc) from exc
    df = text_frame(raw, headers)
    if lead:  # blank lines before the header: row i of the frame is line i + 2 + lead
        df.attrs["lead"] = lead
    return df


def skip_blank_start(fh) -> int:
    """Move the file handle ``fh`` (text or bytes) past the blank lines (nothing or spaces)
    at its start and return how many there were: the parser would take the first as the
    header (a file of one column).

    >>> fh = io.BytesIO(b"\\xef\\xbb\\xbf\\n \\r\\ncode,name\\n"); skip_blank_start(fh), fh.read()
    (2, b'code,name\\n')
    """
    n = 0
    while True:
        pos = fh.tell()
        line = fh.readline()
        text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
        if not line or text.lstrip("\ufeff").strip():
            fh.seek(pos)
            return n
        n += 1


_FIELD_COUNT = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def parser_error(exc: Exception, lines=None, lead: int = 0) -> FileReadError:
    """The CSV parser's error as a refusal: rows with more fields than the header named
    in both languages (``field_count``), any other by the parser's first line.

    The parser stops at the first such row; given the file's text again (``lines``, an
    iterable of lines), every such row is found (:func:`field_count_problems`) and named.
    ``lead``: blank lines skipped before the parser's first line (added to line numbers).

    >>> e = parser_error(ValueError("Error tokenizing data. C error: Expected 2 fields in "
    ...                             "line 3, saw 3"), io.StringIO("a,b\\n1,2\\n1,2,3\\n1,2\\n4,5,6,7\\n"))
    >>> e.code, e.params
    ('field_count', {'expected': '2', 'line': '3', 'saw': '3'})
    >>> e.problems.frame("en")[["row", "reason"]].values.tolist()
    [[3, 'line 3 has 3 fields, the header 2 (a stray comma?)'], [5, 'line 5 has 4 fields, the header 2 (a stray comma?)']]
    """
    text = str(exc)
    if m := _FIELD_COUNT.search(text):
        found = field_count_problems(lines, lead) if lines is not None else None
        return FileReadError(text.splitlines()[0][:200], "field_count", problems=found,
                             expected=m.group(1), line=str(int(m.group(2)) + lead),
                             saw=m.group(3))
    return FileReadError(text.splitlines()[0][:200])


def field_count_problems(lines, lead: int = 0):
    """Every row of a CSV (``lines``: its text, line by line) with more fields than its
    header, as ``field_count`` problems (row = file line, as the parser counts them:
    a line break inside quotes does not start a line), read with Python's ``csv`` module
    as the parser reads it; ``None`` when it finds none (the parser's own error stands).

    Only called once the parser has refused the file, so a good file is never read twice.
    """
    from healthmap.ingest.problems import Problems

    expected, bad, saw = None, [], []
    try:
        for line, fields in enumerate(csv.reader(lines, skipinitialspace=True), start=1):
            if expected is None:  # the header (blank lines before it: an empty file)
                expected = len(fields)
                continue
            if len(fields) > expected:
                bad.append(line)
                saw.append(len(fields))
    except csv.Error:  # e.g. a cell beyond csv's field size limit: the parser's error stands
        return None
    if not bad:
        return None
    found = Problems()
    rows = np.asarray(bad, dtype=np.int64) + lead
    found.add_rows(rows - 2, "", "field_count", [""] * len(rows), expected=str(expected),
                   line=rows.astype(str).astype(object), saw=np.asarray(saw).astype(str)
                   .astype(object))
    return found


def trailing_blank(raw: pd.DataFrame) -> int:
    """How many of the parser's last rows are blank lines (every cell empty or spaces).

    Blank lines are read as rows (``skip_blank_lines=False``) so that row ``i`` stays line
    ``i + 2`` of the file: one within the data is a row with every value missing, those
    at the end are not rows.

    >>> trailing_blank(pd.DataFrame({0: ["a", None, " "], 1: ["b", "", None]}))
    2
    """
    n, size = len(raw), 1
    while True:  # the last rows first: a chunk's end is seldom blank
        tail = raw.iloc[max(0, n - size):]
        data = np.flatnonzero(~_blank(tail))
        if len(data) or size >= n:
            return int(len(tail) - (data[-1] + 1 if len(data) else 0))
        size *= 64


def leading_blank(raw: pd.DataFrame) -> int:
    """How many of the parser's first rows are blank lines (skipped before the header, as
    they always were).

    >>> leading_blank(pd.DataFrame({0: [None, " ", "a"], 1: ["", None, "b"]}))
    2
    """
    n, size = len(raw), 1
    while True:  # the first rows first: a header seldom follows many blank lines
        head = raw.iloc[:size]
        data = np.flatnonzero(~_blank(head))
        if len(data) or size >= n:
            return int(data[0] if len(data) else len(head))
        size *= 64


def _blank(raw: pd.DataFrame) -> np.ndarray:
    filled = raw.fillna("").astype(str)
    return (filled.apply(lambda s: s.str.strip()) == "").all(axis=1).to_numpy(dtype=bool)


def text_frame(raw: pd.DataFrame, headers: list, arrow: bool = False,
               stripped: bool = False) -> pd.DataFrame:
    """The parser's cells (``raw``, columns by position) as :func:`read_table` returns them:
    text stripped, empty cells ``""``, contract column names, the file's own headers in
    ``attrs["headers"]``, rows numbered from 0. Columns hold Python strings (object), or
    with ``arrow`` pandas' Arrow-backed ``str`` (the parser's own, not copied to Python
    objects: a streamed chunk is validated without that copy). ``stripped``: the caller
    knows that no cell starts or ends with a space (the strip is left out)."""
    headers = [str(h).strip().lstrip("\ufeff") for h in headers]
    cols = {}
    for i in range(len(headers)):
        text = raw.iloc[:, i].fillna("").astype(str)
        text = text if stripped else text.str.strip()
        cols[i] = text.array if arrow else text.to_numpy(dtype=object)
    df = pd.DataFrame(cols, index=pd.RangeIndex(len(raw)))
    df.columns = [normalize_header(h) for h in headers]
    df.attrs["headers"] = headers
    return df
