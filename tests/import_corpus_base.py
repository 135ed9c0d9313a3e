"""File builders and the ``Case`` record of the import corpus (tests/test_import_corpus.py;
the cases themselves: import_corpus_cases.py and import_corpus_episodes.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from healthmap.ingest.contract import SPECS
from healthmap.models import Area, Institution, Population, Resident

TODAY = dt.date(2025, 6, 30)
TABLES = (Area, Population, Institution, Resident)  # and the episode store's rows
ZH = {kind: {c.name: c.zh for c in cols if c.zh} for kind, cols in SPECS.items()}


@dataclass
class Case:
    kind: str
    name: str
    make: Callable[[], bytes]
    expect: str  # "ok", "warn:<code>" or the code of the refusal
    filename: str = "f.csv"
    opts: dict = field(default_factory=dict)
    rows: tuple[int, ...] = ()  # when given: the file lines the refusal names, all of them


# ------------------------------------------------------------------ file builders
def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def xlsx_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def junk_xlsx(n_rows: int) -> bytes:
    """An .xlsx (XML written directly, so a million rows take seconds) with ``n_rows``."""
    rows = ['<row r="1"><c r="A1" t="inlineStr"><is><t>record_id</t></is></c></row>']
    rows += [f'<row r="{i}"><c r="A{i}" t="inlineStr"><is><t>x</t></is></c></row>'
             for i in range(2, n_rows + 2)]
    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006/relationships"
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{ct}.worksheet+xml"/>'
            '</Types>'))
        z.writestr("_rels/.rels", f'<Relationships xmlns="{pkg}"><Relationship Id="rId1" '
                                  f'Type="{rel}/officeDocument" Target="xl/workbook.xml"/>'
                                  '</Relationships>')
        z.writestr("xl/workbook.xml", f'<workbook {ns} xmlns:r="{rel}"><sheets><sheet '
                                      'name="S" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{pkg}"><Relationship '
                                                 f'Id="rId1" Type="{rel}/worksheet" '
                                                 'Target="worksheets/sheet1.xml"/>'
                                                 '</Relationships>')
        z.writestr("xl/worksheets/sheet1.xml",
                   f'<worksheet {ns}><sheetData>{"".join(rows)}</sheetData></worksheet>')
    return buf.getvalue()


_turn = {"n": 0}


def variants(kind: str, name: str, header: list[str], rows: list[list[str]], expect: str,
             **opts) -> list[Case]:
    """The same content as CSV and, in turn, as Excel or as CSV with Chinese headers."""
    out = []
    _turn["n"] += 1
    for f in ("csv", ("xlsx", "zh", None)[_turn["n"] % 3]):
        if f == "csv":
            out.append(Case(kind, f"{name}/csv", lambda: csv_bytes(header, rows), expect,
                            opts=opts))
        elif f == "xlsx":
            out.append(Case(kind, f"{name}/xlsx", lambda: xlsx_bytes(header, rows), expect,
                            "f.xlsx", opts))
        elif f == "zh":
            zh = [ZH[kind].get(h, h) for h in header]
            out.append(Case(kind, f"{name}/zh", lambda: csv_bytes(zh, rows), expect,
                            opts=opts))
    return out


