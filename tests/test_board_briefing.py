"""The one-click briefing: Excel workbook and PDF on the demo data; the PDF's first page,
converted to PNG with pdftoppm (Debian poppler-utils), is not blank and carries ink in
the title line (the Chinese title rendered with the embedded CJK font)."""

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthmap import access, briefing, exports
from healthmap.db import make_engine

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def parts(demo_db):
    return briefing.assemble(make_engine(demo_db), 2024, "zh",
                             access.Actor("demo_leader", "leader"))


def test_workbook_has_every_table(parts):
    data = briefing.book(parts, "zh", exports.Stamp("demo_leader", parts["title"]))
    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None)
    assert list(sheets)[:5] == ["核心指标", "基金外流与潜在节约", "各险种基金支出", "乡镇比较",
                                "财政补助测算（2024 年新政）"]
    assert "县域就诊率（住院）" in sheets["核心指标"]["指标"].tolist()
    assert len(sheets["基金外流与潜在节约"]) == 10 and len(parts["maps"]) == 4
    assert exports.STAMP_SHEET in sheets


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="needs Debian poppler-utils")
def test_pdf_renders_chinese(parts, tmp_path, backend):
    from PIL import Image

    data = briefing.document(parts)
    assert data[:5] == b"%PDF-" and b"NotoSansCJK" in data  # the font is embedded
    pdf = tmp_path / "b.pdf"
    pdf.write_bytes(data)
    subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "2", str(pdf),
                    str(tmp_path / "p")], check=True, timeout=120)
    page = np.asarray(Image.open(tmp_path / "p-1.png").convert("L"))
    assert (page < 128).mean() > 0.01  # ink: not a blank page
    title_band = page[int(page.shape[0] * 0.03):int(page.shape[0] * 0.09)]
    assert (title_band < 128).mean() > 0.005  # the Chinese title drew glyphs, not nothing
    maps = np.asarray(Image.open(tmp_path / "p-2.png").convert("RGB")).astype(int)
    coloured = (np.abs(maps[..., 0] - maps[..., 2]) > 60).mean()
    assert coloured > 0.02  # the map page has coloured areas
    if backend == "sqlite":  # docs/ shows the SQLite run's page
        shutil.copy(tmp_path / "p-1.png", DOCS / "briefing-page1.png")


def test_missing_font_is_named_with_its_package(parts, tmp_path):
    with pytest.raises(briefing.FontMissing, match="fonts-noto-cjk"):
        briefing.pdf("t", "s", parts["tiles_text"], [], parts["outflow"], [],
                     font=tmp_path / "none.ttc")
