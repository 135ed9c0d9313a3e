"""The problem list of an import: row, column, value (shortened, ID numbers masked),
reason in the user's language and its code (a text key ``err.<code>``)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from healthmap import ids
from healthmap.i18n import t

_SHOWN_CHARS = 60  # a problem shows at most this much of a value
# an 18-character resident ID number anywhere in a value (checked further by check digit)
ID_LIKE = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
                     r"(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx](?![0-9])")


class Problems:
    """Collects problems; values of ID-number columns are masked before they are kept."""

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._items: list[tuple[str, str, dict, np.ndarray]] = []

    def add_mask(self, df: pd.DataFrame, mask, column: str, code: str,
                 values: pd.Series | None = None, **params) -> None:
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        if len(idx) == 0:
            return
        src = values if values is not None else (df[column] if column in df else None)
        if src is not None and isinstance(src, pd.Series) and (
                src.dtype == object or isinstance(src.dtype, pd.StringDtype)):
            vals = np.asarray(src.iloc[idx].astype(str))  # text: the rows' own, no copy of all
        else:
            vals = (np.asarray(src.astype(str))[idx] if src is not None
                    else np.array([""] * len(idx), dtype=object))
        self.add_rows(idx, column, code, vals, **params)

    def add_rows(self, idx, column: str, code: str, vals, **params) -> None:
        """Problems of the rows ``idx`` (0 = the first data row) with their values
        ``vals`` (one each; per-row ``params`` as arrays of the same length)."""
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            return
        vals = np.asarray(vals, dtype=object)
        if column == "id_number":
            vals = np.array([ids.mask_id(v) for v in vals], dtype=object)
        vals = np.array([_shown(v) for v in vals], dtype=object)
        self._items.append((column, code, params, np.column_stack([idx, vals])))

    def add(self, row_index: int, column: str, value: str, code: str, **params) -> None:
        self._items.append((column, code, params,
                            np.array([[row_index, _shown(value)]], dtype=object)))

    def codes(self) -> set[str]:
        """The named reasons present (``err.<code>`` text keys)."""
        return {code for _c, code, _p, arr in self._items if len(arr)}

    def extend(self, other: "Problems", offset: int = 0, file_level: bool = True) -> None:
        """Add ``other``'s problems; their rows (not the file-level ones) moved down by
        ``offset`` rows (``other`` found in a chunk of a file that starts at that row);
        without the file-level ones (row 1: columns) unless ``file_level``.

        >>> a, b = Problems(), Problems()
        >>> b.add(0, "date", "x", "date"); b.add(-1, "", "", "empty_file")
        >>> a.extend(b, offset=500); a.frame("en")["row"].tolist()
        [1, 502]
        """
        for column, code, params, arr in other._items:
            rows = arr[:, 0].astype(np.int64)
            if not file_level and (rows < 0).any():
                keep = rows >= 0
                arr, rows = arr[keep], rows[keep]
                params = {k: v[keep] if isinstance(v, np.ndarray) else v
                          for k, v in params.items()}
            if offset:
                arr = arr.copy()
                arr[:, 0] = np.where(rows < 0, rows, rows + offset)
            if len(arr):
                self._items.append((column, code, params, arr))

    def __len__(self) -> int:
        return sum(len(a) for *_, a in self._items)

    def frame(self, lang: str = "zh") -> pd.DataFrame:
        """Problems as a table: ``row`` (file line; 1 = header), ``column``, ``value``
        (shortened, ID numbers masked), ``reason`` and its ``code``, sorted by row."""
        parts = []
        for column, code, params, arr in self._items:
            idx = arr[:, 0].astype(int)
            row_params = {k: v for k, v in params.items() if not isinstance(v, np.ndarray)}
            per_row = {k: v for k, v in params.items() if isinstance(v, np.ndarray)}
            if per_row:
                reasons = [t(f"err.{code}", lang, **row_params,
                             **{k: per_row[k][i] for k in per_row}) for i in range(len(idx))]
            else:
                reasons = [t(f"err.{code}", lang, **row_params)] * len(idx)
            parts.append(pd.DataFrame({"row": np.where(idx < 0, 1, idx + 2), "column": column,
                                       "value": arr[:, 1], "reason": reasons, "code": code}))
        if not parts:
            return pd.DataFrame(columns=["row", "column", "value", "reason", "code"])
        out = pd.concat(parts, ignore_index=True)
        return out.sort_values(["row", "column"], kind="stable").reset_index(drop=True)


def _shown(value) -> str:
    """A value as a problem shows it: at most ``_SHOWN_CHARS`` characters, ID-number-like
    runs masked."""
    v = str(value)
    if len(v) > _SHOWN_CHARS:
        v = f"{v[:_SHOWN_CHARS]}…({len(v):,})"
    return ID_LIKE.sub(lambda m: ids.mask_id(m.group(0)), v)
