"""Shared set-up for the health-points tests: a few residents with known ID numbers."""

import datetime as dt

import pandas as pd

from healthmap import ids

TOWNS = ["331083001", "331083002", "331083003"]


def resident_rows(n: int = 6) -> pd.DataFrame:
    """``n`` residents R1..Rn, born 1960-1970, in three townships, with known IDs."""
    rows = []
    for i in range(1, n + 1):
        born = dt.date(1960 + i % 10, 1 + i % 12, 1 + i % 27)
        rows.append({"resident_id": f"R{i}", "id_number": ids.make_id("331083", born, 2 * i + 1),
                     "name": ["张三", "李四", "王五", "赵六", "钱七", "孙八"][(i - 1) % 6]
                     + ("" if i <= 6 else str(i)),
                     "sex": "M", "birth_date": born.isoformat(), "area_code": TOWNS[i % 3],
                     "phone": f"1380000{i:04d}", "doctor_team": "001-1组"})
    return pd.DataFrame(rows).astype(str)


def add_residents(engine, n: int = 6, demo: bool = False) -> pd.DataFrame:
    """Import :func:`resident_rows` (``demo=True`` into a demo database)."""
    from healthmap.ingest.load import import_frame

    df = resident_rows(n)
    result = import_frame(engine, "residents", df, "test-residents.csv", demo=demo)
    assert result.ok, result.problems
    return df


ROOT_DIR = str(__import__("pathlib").Path(__file__).resolve().parent.parent)
