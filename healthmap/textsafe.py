"""Imported text shown as text: escaping for plotly's HTML subset, for markdown, and for
map text layers; long labels shortened for charts.

Area, institution and disease-group names come from imported files. Plotly renders a
subset of HTML in hover texts, axis and node labels (``<a href>``, ``<b>``, ``<span
style>``, ``<br>``), and ``st.markdown`` renders links, images, colours and KaTeX, so a
name such as ``<a href="https://…">点此登录</a>`` would become a live link. Escaping at
the point of display keeps the stored value and the exports exact.

Examples
--------
>>> plotly_text('<a href="https://x">点此</a>')
'&lt;a href="https://x"&gt;点此&lt;/a&gt;'
>>> print(markdown_text("![x](https://e.com/a.png) :red-background[hi] $x$"))
\\!\\[x\\]\\(https\\://e\\.com/a\\.png\\) \\:red\\-background\\[hi\\] \\$x\\$
>>> shorten("玉环市" * 20, 10)
'玉环市玉环市玉环市…'
>>> map_label("大麦屿街道"), map_label("New Town 1"), map_label("新区(2)")
('大麦屿街道', None, None)
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

# the longest label a chart draws (hover texts show the full, escaped name)
LABEL_MAX = 24
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|:~$^&=\"'%])")


def _text(value: Any) -> str:
    if value is None:
        return ""
    try:
        import pandas as pd

        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    # control characters (line breaks included) become spaces: one label, one line
    return "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in str(value))


def shorten(value: Any, limit: int = LABEL_MAX) -> str:
    """``value`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    s = _text(value)
    return s if len(s) <= limit else s[:limit - 1] + "…"


def plotly_text(value: Any, limit: int | None = None) -> str:
    """Text for plotly labels, hover texts and Sankey node names: ``&``, ``<`` and ``>``
    as entities, so no tag of plotly's HTML subset is rendered (plotly shows the
    entities as the characters); cut to ``limit`` characters first when given."""
    s = shorten(value, limit) if limit else _text(value)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def markdown_text(value: Any, limit: int | None = None) -> str:
    """Text for ``st.markdown`` / ``st.caption``: every markdown, colour-directive, KaTeX
    and HTML character backslash-escaped (CommonMark escapes any ASCII punctuation)."""
    s = shorten(value, limit) if limit else _text(value)
    return _MD_SPECIAL.sub(r"\\\1", s)


def _cjk_only(s: str) -> bool:
    return bool(s) and all(
        "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" or "\uf900" <= ch <= "\ufaff"
        for ch in s)


def map_label(value: Any, limit: int = 12) -> str | None:
    """A name for a MapLibre text layer, or ``None`` when it must not be drawn there.

    MapLibre draws CJK ideographs with the browser's local font but fetches glyph files
    from a font server for every other character (Latin letters, digits, brackets), which
    would be a request leaving the machine; such names are left off the map (their hover
    text still shows them). Text layers show no markup, so no escaping is needed.
    """
    s = _text(value).strip()
    if not _cjk_only(s):
        return None
    return s if len(s) <= limit else None
