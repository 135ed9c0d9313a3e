"""The one-click meeting briefing (issue 10): the board's tiles, the key maps and the
outflow table in one Excel workbook and one PDF.

The PDF is written with fpdf2 and Debian's Noto Sans CJK (``fonts-noto-cjk``), face 2 of
the ``.ttc`` (Simplified Chinese), embedded as a subset (decisions §12); the maps are
drawn with matplotlib from the township boundaries (no browser needed). Without the font
file :class:`FontMissing` says which Debian package to install.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from healthmap import exports, geo, i18n, targets

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
CJK_FACE = 2  # the SC face of the collection (face 0 is JP)
FONT_PACKAGE = "fonts-noto-cjk"


class FontMissing(RuntimeError):
    """The CJK font the PDF needs is not installed."""


def font_problem(path: Path | None = None) -> str | None:
    """``None`` when the PDF font is installed, else what to do (both languages).

    >>> font_problem(Path("/nonexistent.ttc")).startswith("PDF 需要中文字体")
    True
    """
    path = path or CJK_FONT
    if path.exists():
        return None
    return (f"PDF 需要中文字体 {path}：请安装 Debian 软件包 {FONT_PACKAGE}"
            f"（apt-get install {FONT_PACKAGE}）。 / The PDF needs the CJK font {path}: "
            f"install the Debian package {FONT_PACKAGE} (apt-get install {FONT_PACKAGE}).")


def workbook(sheets: dict[str, pd.DataFrame], stamp: exports.Stamp) -> bytes:
    """The briefing as an Excel workbook (one sheet per table, stamped)."""
    return exports.to_xlsx_book(sheets, stamp)


def map_png(table: pd.DataFrame, areas: pd.DataFrame, title: str) -> bytes:
    """A small static choropleth (PNG) of ``table['value']`` by township, drawn with
    matplotlib; the title is drawn by the PDF, not here (no CJK font needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.ticker
    import geopandas as gpd
    import matplotlib.pyplot as plt

    import json

    from shapely.geometry import shape

    drawn = areas[areas["geometry"].map(geo.has_geometry)]
    shapes = gpd.GeoDataFrame({"code": drawn["code"].to_numpy()}, geometry=[
        shape(json.loads(g)) for g in drawn["geometry"]], crs="EPSG:4326")
    shapes = shapes.merge(table[["area_code", "value"]], left_on="code",
                          right_on="area_code", how="left")
    fig, ax = plt.subplots(figsize=(4.2, 3.4), dpi=110)
    shapes.plot(column="value", ax=ax, cmap="YlOrRd", edgecolor="#555", linewidth=0.5,
                legend=True, missing_kwds={"color": "#d9d9d9"},
                legend_kwds={"shrink": 0.7,  # 20,000,000 rather than "2.0 … 1e7"
                             "format": matplotlib.ticker.StrMethodFormatter("{x:,.0f}")})
    ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def pdf(title: str, subtitle: str, tiles: pd.DataFrame, maps: list[tuple[str, bytes]],
        outflow: pd.DataFrame, notes: list[str], font: Path | None = None,
        headings: tuple[str, str] = ("", "")) -> bytes:
    """The briefing as a PDF: title, tiles table, maps (two per row), outflow table and
    notes; ``headings`` name the tiles and the outflow tables. Raises
    :class:`FontMissing` when the CJK font is not installed."""
    from fpdf import FPDF

    font = font or CJK_FONT  # looked up at call time (a test may point it elsewhere)
    problem = font_problem(font)
    if problem:
        raise FontMissing(problem)
    doc = FPDF(orientation="L", unit="mm", format="A4")
    doc.add_font("cjk", "", str(font), collection_font_number=CJK_FACE)
    doc.set_auto_page_break(True, margin=12)
    doc.add_page()
    doc.set_font("cjk", size=16)
    doc.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    doc.set_font("cjk", size=9)
    doc.multi_cell(0, 5, subtitle, new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    _heading(doc, headings[0])
    _table(doc, tiles)
    if maps:
        doc.add_page()
        w = (doc.w - doc.l_margin - doc.r_margin) / 2 - 4
        for i, (name, png) in enumerate(maps):
            if i % 2 == 0 and i:
                doc.ln(4)
            x = doc.l_margin + (i % 2) * (w + 8)
            y = doc.get_y() if i % 2 == 0 else y_row
            if i % 2 == 0:
                y_row = y
            doc.set_xy(x, y)
            doc.set_font("cjk", size=10)
            doc.cell(w, 6, name)
            doc.image(io.BytesIO(png), x=x, y=y + 7, w=w * 0.8)
            if i % 2 == 1 or i == len(maps) - 1:
                doc.set_y(y + 7 + w * 0.8 * 3.4 / 4.2 + 2)
    doc.add_page()
    _heading(doc, headings[1])
    _table(doc, outflow)
    doc.ln(3)
    doc.set_font("cjk", size=8)
    for n in notes:
        doc.multi_cell(0, 4.5, n, new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())


def _heading(doc, text: str) -> None:
    if text:
        doc.set_font("cjk", size=11)
        doc.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")


def _table(doc, df: pd.DataFrame) -> None:
    """``df`` as a simple table, text wrapped in the cells; columns as wide as their
    widest cell as printed (words and numbers kept whole; long text capped at 70 mm),
    then scaled to the page."""
    width = doc.w - doc.l_margin - doc.r_margin
    cols = [str(c) for c in df.columns]
    text = df.astype(object).map(_cell_text)
    doc.set_font("cjk", size=8)
    want = []
    for c, c0 in zip(cols, df.columns):
        cells = [v for v in text[c0]]
        # Latin words, numbers and short Chinese words (未达标) are never cut in two;
        # longer Chinese text may wrap anywhere
        words = [p for v in [c] + cells for w in v.split()
                 for p in ([w] if w.isascii() or len(w) <= 4 else list(w))] or [""]
        floor = max(doc.get_string_width(w) for w in words) + 2.5
        full = max(doc.get_string_width(v) for v in [c] + cells) + 2.5
        want.append((floor, min(max(full, floor), 70.0)))
    ws = [w for _, w in want]
    if sum(ws) > width:  # shrink the wrappable part of each column, never below its floor
        floors = [f for f, _ in want]
        spare = sum(ws) - sum(floors)
        cut = min(1.0, (sum(ws) - width) / spare) if spare > 0 else 0.0
        ws = [f + (w - f) * (1 - cut) for f, w in zip(floors, ws)]
    ws = [w * width / sum(ws) for w in ws]
    from fpdf.fonts import FontFace

    head = FontFace(emphasis="", fill_color=(230, 236, 245))
    with doc.table(col_widths=ws, text_align="LEFT", line_height=4.5,
                   headings_style=head) as t:
        row = t.row()
        for c in cols:
            row.cell(c)
        for values in text.itertuples(index=False):
            row = t.row()
            for v in values:
                row.cell(v)


def _cell_text(v) -> str:
    """A table cell as PDF text: whole numbers with separators, other floats with two
    decimals, missing as empty.

    >>> _cell_text(1385.0), _cell_text(12.345), _cell_text(float("nan")), _cell_text("x")
    ('1,385', '12.35', '', 'x')
    """
    if v is None or (isinstance(v, float) and v != v) or v is pd.NA:
        return ""
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
    return str(v)


def notes_text(keys: list[str], lang: str) -> list[str]:
    return [i18n.t(k, lang) for k in keys]


def _labelled(df: pd.DataFrame, prefix: str, lang: str) -> pd.DataFrame:
    return df.rename(columns=lambda c: i18n.t(f"{prefix}.{c}", lang)
                     if f"{prefix}.{c}" in i18n.TEXT else c)


def assemble(engine, year: int, lang: str, actor) -> dict:
    """Everything the briefing holds for ``year``, from the summary tables and the
    board's own tables: ``title``, ``subtitle``, ``tiles`` (numbers), ``tiles_text``
    (display text), ``outflow``, ``fund``, ``townships``, ``subsidies`` (labelled
    tables), ``maps`` ((title, PNG) pairs) and ``notes``."""
    from sqlalchemy.orm import Session

    from healthmap import (access, aggregates, board, board_maps, queries, subsidies,
                           twodisease)

    cells = board.board_cells(engine)
    years = sorted(int(y) for y in cells["year"].unique())
    months = board.last_month(cells, year)
    ts = board.tiles(cells, year, board.screening_cases(engine),
                     twodisease.managed_by_year(engine, years, months))
    vals = aggregates.values(engine)
    ts_all = ts + aggregates.tiles(vals, year, lang=lang)
    names = board.group_names(lang).set_index("group_code")["name"]
    gcells = board.group_cells(engine, year, months)
    out = board.outflow_by_group(gcells)
    totals = board.outflow_totals(gcells)
    out["group_code"] = out["group_code"].map(lambda g: names.get(g, g))
    out["setting"] = out["setting"].map(lambda v: i18n.t(f"setting.{v}", lang))
    out = out.round(0).rename(columns={"group_code": "group"})
    fund = board.fund_by_insurance(cells, year, months).round(2)
    fund["insurance_type"] = fund["insurance_type"].map(
        lambda v: i18n.t(f"insurance.{v}", lang) if f"insurance.{v}" in i18n.TEXT else v)
    _, town = board_maps.funnel(engine, year, lang)
    town = town[["area_name", "value", "denominator", "vs_county"]].round(1).assign(
        vs_county=lambda d: d["vs_county"].map(lambda v: i18n.t(f"board.vs.{v}", lang)))
    fees = None
    if access.can(actor, "screening.report"):
        from healthmap.screening.views import fee_totals

        with Session(engine) as s:
            fees = fee_totals(s, actor)
    sub = subsidies.subsidy_lines(year, vals, fees, twodisease.new_managed(engine, year), lang)
    areas = queries.area_set(engine, "township").areas
    groups = tuple(board.screening_group_codes())
    maps = []
    for measure, setting, g in board_maps.KEY_MAPS:
        sel = groups if g == "screening" else ()
        t, _ = board_maps.township_table(engine, year, measure, setting, sel)
        maps.append((i18n.t(f"board.map.{measure}", lang), map_png(t, areas, measure)))
    return {
        "title": f"{i18n.t('board.title', lang)} · {year}",
        "subtitle": i18n.t("board.period", lang, year=year, months=months),
        "tiles": board.tiles_frame(ts_all, lang, definitions=True),
        "tiles_text": board.tiles_frame(ts_all, lang, formatted=True),
        "outflow": _labelled(out, "board.col", lang),
        "fund": _labelled(fund, "board.col", lang),
        "townships": town.rename(columns={"area_name": i18n.t("board.col.area", lang),
                                          "value": i18n.t("board.col.value", lang),
                                          "denominator": i18n.t("board.col.denominator", lang),
                                          "vs_county": i18n.t("board.col.vs_county", lang)}),
        "subsidies": _labelled(sub.drop(columns=["code", "amount_fen"]), "board.sub", lang),
        "maps": maps,
        "headings": (i18n.t("board.tiles", lang), i18n.t("board.outflow", lang)),
        "notes": [i18n.t("board.outflow_total", lang, outflow=f"{totals['fund_outflow']:,.0f}",
                         saving=f"{totals['saving']:,.0f}")] + notes_text(["board.assume.case_mix", "board.assume.no_in_county",
                             "board.assume.negative_zero", "board.assume.cost_not_fund"],
                            lang) + [i18n.t("board.rule", lang) + ": "
                                     + targets.rule_text(lang)]
        + [f"{i18n.t(f'board.tile.{t.key}', lang)}: {board.definition(t, lang)}" for t in ts],
    }



def book(parts: dict, lang: str, stamp: exports.Stamp) -> bytes:
    """The Excel workbook of an :func:`assemble` result: tiles, outflow, fund by
    insurance type, townships and subsidies, one sheet each."""
    return workbook({i18n.t("board.tiles", lang): parts["tiles"],
                     i18n.t("board.sheet.outflow", lang): parts["outflow"],
                     i18n.t("board.sheet.fund", lang): parts["fund"],
                     i18n.t("board.sheet.townships", lang): parts["townships"],
                     i18n.t("board.subsidies", lang)[:31]: parts["subsidies"]}, stamp)


def document(parts: dict) -> bytes:
    """The PDF of an :func:`assemble` result (:class:`FontMissing` without the font)."""
    return pdf(parts["title"], parts["subtitle"], parts["tiles_text"], parts["maps"],
               parts["outflow"], parts["notes"], headings=parts.get("headings", ("", "")))
