"""File exports (CSV, Excel) that say who exported them, when, and what they hold.

Staff exports of personal lists must carry the exporting user and time (PIPL duty to
keep records of processing); the same stamp on aggregate tables costs nothing and tells a
reader where a spreadsheet came from. The stamp is written *into the file*: the first
lines of a CSV (``# key: value``; ``pandas.read_csv(..., comment="#")`` skips them) and a
second sheet ``导出信息`` in Excel. Recording the export in the audit log is the caller's
job (:func:`healthmap.auth.record`), because only the caller knows it happened.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import pandas as pd


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
        out = [("导出人 / exported by", self.user or "公众 / public"),
               ("导出时间 / exported at", self.when.isoformat(sep=" ")),
               ("内容 / content", self.content)]
        if self.filters:
            out.append(("筛选条件 / filters", self.filters))
        if self.personal:
            out.append(("注意 / notice", "含个人信息，仅限工作使用，不得外传 / personal data: "
                        "for official use only, do not share"))
        return out


def to_csv_bytes(df: pd.DataFrame, stamp: Stamp | None = None) -> bytes:
    """UTF-8 CSV with a byte-order mark (so Excel opens Chinese text correctly), the
    stamp first as ``#`` comment lines.

    >>> b = to_csv_bytes(pd.DataFrame({"a": [1]}), Stamp("u", "x", when=dt.datetime(2025, 1, 1)))
    >>> b.decode("utf-8-sig").splitlines()[0]
    '# 导出人 / exported by: u'
    >>> pd.read_csv(io.BytesIO(b), comment="#", encoding="utf-8-sig")["a"].tolist()
    [1]
    """
    head = "".join(f"# {k}: {v}\n" for k, v in stamp.lines()) if stamp else ""
    return (head + df.to_csv(index=False)).encode("utf-8-sig")


def to_xlsx_bytes(df: pd.DataFrame, stamp: Stamp | None = None, sheet: str = "data") -> bytes:
    """An Excel workbook: the table on ``sheet`` and, with a stamp, a sheet ``导出信息``."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        df.to_excel(xw, sheet_name=sheet[:31], index=False)
        if stamp:
            pd.DataFrame(stamp.lines(), columns=["项目 / item", "内容 / value"]).to_excel(
                xw, sheet_name="导出信息", index=False)
    return buf.getvalue()
