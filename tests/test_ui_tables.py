"""Every table of the pages goes through ``ui.dataframe``, which shows a dash in empty
cells (Streamlit's own default is the English word "None", on Chinese pages too)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def direct_tables(paths) -> list[str]:
    """``file:line`` of every ``<x>.dataframe(...)`` call that is not ``ui.dataframe``."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "dataframe"
                    and not (isinstance(node.func.value, ast.Name)
                             and node.func.value.id == "ui")):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_the_check_sees_a_table_in_a_column(tmp_path):
    page = tmp_path / "p.py"
    page.write_text("import ui\nc1, c2 = st.columns(2)\nc1.dataframe(df)\n"
                    "ui.dataframe(df, where=c2)\n")
    assert direct_tables([page]) == ["p.py:3"]


def test_pages_show_tables_through_ui():
    pages = sorted((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    assert direct_tables(pages) == []
